"""Write the model cards of the embedded checkpoints: abair/weights/abair-tiny.json and abair-tiny-8.json.

Everything in a card comes from committed files: the recipe, the training logs in this folder (the
last record's cumulative ``seconds`` of each phase), the checkpoint's SHA-256, and the mini-suite
records of ``results/mini`` (mean PSNR/SSIM per set under each set's default protocol).

    python results/training/tiny/model_cards.py        (from the repository root or anywhere)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
WEIGHTS = ROOT / "abair" / "weights"

MACHINE = ("a shared 2-core x86_64 CPU machine, torch 2.14 (fp32), one intra-op thread per training process; "
           "phase times are as measured there (some phases ran beside another job)")
DATA = ("the embedded train pool of abair.data.sample_images (scikit-image rocket, both stereo_motorcycle views, "
        "immunohistochemistry; scikit-learn china and flower; matplotlib grace_hopper); the mini suite's test "
        "tiles (astronaut, coffee, chelsea) are never seen")
LICENCE = ("weights: MIT, as the project; trained only on sample images distributed with scikit-image, scikit-learn "
           "and matplotlib under their own terms")
SCALE = ("tiny preset trained on 2 CPU cores on 7 sample images: a pipeline demonstration, not a reproduction "
         "of the paper")

FIVE = {"phase1": "phase1", **{f"phase2/{a}": f"phase2/{a}" for a in ("rain", "haze", "noise", "blur", "lowlight")},
        "phase3": "phase3"}
ADDED = {"phase2/jpeg": "add/tiny-5+jpeg.train-jpeg", "phase2/bitdepth": "add/tiny-5+jpeg+bitdepth.train-bitdepth",
         "phase2/snow": "add/tiny-5+jpeg+bitdepth+snow.train-snow",
         "phase3 (8 classes)": "add/abair-tiny-8.train-estimator"}


def phase_seconds(folders: dict[str, str]) -> dict[str, float]:
    out = {}
    for name, folder in folders.items():
        last = (HERE / folder / "log.jsonl").read_text().splitlines()[-1]
        out[name] = round(json.loads(last)["seconds"], 1)
    return out


def mini_metrics(run: str, method: str) -> dict[str, dict[str, float]]:
    records = pd.read_csv(ROOT / "results" / "mini" / run / "records.csv")
    manifest = json.loads((ROOT / "results" / "mini" / run / "manifest.json").read_text())
    defaults = {name: info["default_protocol"] for name, info in manifest["datasets"].items()}
    mine = records[(records["method"] == method)
                   & (records["protocol"] == records["dataset"].map(defaults))]
    table = mine.groupby(["dataset", "metric"])["value"].mean().unstack()
    return {ds: {"psnr_db": round(row["psnr"], 2), "ssim": round(row["ssim"], 4)} for ds, row in table.iterrows()}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def card(name: str, what: str, command: list[str], seconds: dict[str, float], metrics_run: str) -> dict:
    checkpoint = WEIGHTS / f"{name}.safetensors"
    return {
        "model": name,
        "what": what,
        "scale": SCALE,
        "recipe": "tiny (abair/recipes/tiny.yaml), seed 0, data.stream rank",
        "command": command,
        "data": DATA,
        "machine": MACHINE,
        "training_seconds": round(sum(seconds.values()), 1),
        "phase_seconds": seconds,
        "metrics": {
            "what": f"mean over the mini suite's 128x128 tiles, abair-sw, each set's default protocol "
                    f"(results/mini/{metrics_run}/records.csv)",
            "sets": mini_metrics(metrics_run, "abair-sw"),
        },
        "sha256": sha256(checkpoint),
        "licence": LICENCE,
        "logs": "results/training/tiny/",
    }


def main() -> None:
    train_all = "abair-bench train all --recipe tiny --out runs/train-tiny --jobs 2"
    five = card(
        "abair-tiny",
        "ABAIR, tiny preset: backbone, five adapters (rain, haze, noise, lowlight: rank-4 LoRA; blur: rank-16 "
        "Conv-LoRA on motion blur with soft clean targets) and a softmax degradation estimator; the default "
        "checkpoint of the abair-* methods",
        [train_all], phase_seconds(FIVE), "run")
    base, add = "runs/train-tiny/model.safetensors", "runs/train-tiny/add"
    eight = card(
        "abair-tiny-8",
        "abair-tiny after the add-a-degradation flow (Table 4 'Ours*'): its five adapters unchanged, plus jpeg, "
        "bitdepth and snow adapters (rank-4 LoRA) and an estimator retrained over all eight",
        [train_all,
         f"abair-bench train adapter --name jpeg --checkpoint {base} --out {add}/tiny-5+jpeg.safetensors",
         f"abair-bench train adapter --name bitdepth --checkpoint {add}/tiny-5+jpeg.safetensors "
         f"--out {add}/tiny-5+jpeg+bitdepth.safetensors",
         f"abair-bench train adapter --name snow --checkpoint {add}/tiny-5+jpeg+bitdepth.safetensors "
         f"--out {add}/tiny-5+jpeg+bitdepth+snow.safetensors",
         f"abair-bench train estimator --checkpoint {add}/tiny-5+jpeg+bitdepth+snow.safetensors "
         f"--out {add}/abair-tiny-8.safetensors"],
        {**phase_seconds(FIVE), **phase_seconds(ADDED)}, "run-8deg")
    for c in (five, eight):
        (WEIGHTS / f"{c['model']}.json").write_text(json.dumps(c, indent=2) + "\n")
        print(f"wrote abair/weights/{c['model']}.json")


if __name__ == "__main__":
    main()
