"""docs/TRAINING.md's "Train the paper model" walk-through, every command, on a fixture data root.

The fixture holds every training and Table-1 test set in one of its documented layouts, with the
official file names and counts (one small image hard-linked under every name). The commands run as
written, with five substitutions a test needs: the data root and ``runs/`` point into a temporary
folder, ``torchrun`` starts 2 CPU processes instead of 8, ``--workers 8`` becomes 1 (more loader
workers than usable cores are refused), the training commands get ``--set`` overrides that shrink the
recipe to the tiny preset and a few steps, and ``run`` scores 2 images per set (``--limit 2``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHRINK = ["model.preset=tiny", "threads=1", "model.estimator.input_size=32", "model.estimator.widths=[8, 16]",
          "model.estimator.depth=1"] + [
    f"{phase}.{key}" for phase in ("phase1", "phase2", "phase3")
    for key in ("steps=2", "batch=2", "crop=32", "log_every=1", "checkpoint_every=2", "warmup=0")]


def walkthrough_commands() -> list[str]:
    text = (ROOT / "docs" / "TRAINING.md").read_text()
    section = text.split("## Train the paper model", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def fixture_root(root: Path) -> None:
    """Every set the walk-through names, at its published count (GLDv2: the count its lists give), in one
    of its layouts."""
    rng = np.random.default_rng(0)
    template = root / ".template"
    template.mkdir(parents=True)
    png, jpg = template / "t.png", template / "t.jpg"
    image = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(png)
    Image.fromarray(image).save(jpg, quality=95)

    def link(rel: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.link(jpg if rel.endswith(".jpg") else png, path)

    gld = [f"{int(v):016x}" for v in rng.integers(0, 2**64, 60, dtype=np.uint64)]  # GLDv2: the lists say how many
    (root / "gldv2").mkdir()
    (root / "gldv2" / "train.csv").write_text("id,url,landmark_id\n" + "".join(f"{h},https://x/{h}.jpg,1\n" for h in gld))
    (root / "gldv2" / "train_clean.csv").write_text(f"landmark_id,images\n1,{' '.join(gld[::2])}\n")
    files = [f"gldv2/train/{h[0]}/{h[1]}/{h[2]}/{h}.jpg" for h in gld]
    files += [f"data/Train/Derain/{d}/{p}-{i}.png" for i in range(1, 201) for d, p in (("rainy", "rain"), ("gt", "norain"))]
    files += [f"data/Train/Dehaze/synthetic/{i:04d}_{a}_0.2.jpg" for i in range(1, 4) for a in ("0.8", "1")]
    files += [f"data/Train/Dehaze/original/{i:04d}.jpg" for i in range(1, 4)]
    files += [f"data/Train/Denoise/{i:05d}.png" for i in range(1, 5145)]
    files += [f"GOPRO_Large/train/GOPR0372_07_00/{d}/{i:06d}.png" for i in range(1, 2104) for d in ("blur", "sharp")]
    files += [f"LOLdataset/our485/{d}/{i}.png" for i in range(1, 486) for d in ("low", "high")]
    files += [f"Rain100L/rainy/rain-{i:03d}.png" for i in range(1, 101)]
    files += [f"Rain100L/norain-{i:03d}.png" for i in range(1, 101)]
    files += [f"SOTS/outdoor/hazy/{i:04d}_0.8_0.2.jpg" for i in range(1, 501)]
    files += [f"SOTS/outdoor/gt/{i:04d}.png" for i in range(1, 501)]
    files += [f"CBSD68/original_png/{i:04d}.png" for i in range(68)]
    files += [f"GOPRO_Large/test/GOPR0384_11_00/{d}/{i:06d}.png" for i in range(1, 1112) for d in ("blur", "sharp")]
    files += [f"LOLdataset/eval15/{d}/{i}.png" for i in range(1, 16) for d in ("low", "high")]
    for rel in files:
        link(rel)


def as_test_command(line: str, data: Path, runs: Path) -> list[str]:
    line = line.replace("/data", str(data))
    if "torchrun" in line and "--resume" not in line:
        line = line.replace("runs/paper", "runs/paper-ddp")
    line = line.replace("runs/", f"{runs}/").replace("--nproc-per-node 8", "--nproc-per-node 2")
    line = line.replace("--workers 8", "--workers 1")
    argv = shlex.split(line)
    head = {"abair-bench": [sys.executable, "-m", "bench.cli"],
            "torchrun": [sys.executable, "-m", "torch.distributed.run"]}[argv[0]]
    argv = head + argv[1:]
    if "train" in argv:
        argv += [f"--set={s}" for s in SHRINK]
    if "run" in argv and "--suite" in argv:
        argv += ["--limit", "2"]
    return argv


@pytest.mark.slow
def test_every_command_of_the_paper_walkthrough_runs_on_fixture_data(tmp_path):
    commands = walkthrough_commands()
    assert len(commands) == 8 and any(c.startswith("torchrun") for c in commands)
    data, runs = tmp_path / "data", tmp_path / "runs"
    fixture_root(data)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ABAIR_DATA": ""}
    for line in commands:
        argv = as_test_command(line, data, runs)
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
        assert proc.returncode == 0, f"{line}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert (runs / "paper" / "model.safetensors").is_file() and (runs / "paper-ddp" / "model.safetensors").is_file()
    html = (runs / "paper-eval" / "report.html").read_text()
    assert "Table 1" in html and "abair-oh" in html
