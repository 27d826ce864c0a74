"""The training data pipeline: image sources, the two random streams, the loader, corpora on disk."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from abair.errors import UserError
from abair.train import loop, phases
from abair.train.data import (
    CropSampler,
    EstimatorData,
    Phase1Data,
    SingleData,
    quantise,
    sample_generator,
)
from abair.train.inputs import TrainData
from abair.train.loader import iterate_batches
from abair.train.recipes import load_recipe
from abair.train.sources import FileSource, PairSource, collect_images

ROOT = Path(__file__).resolve().parents[1]
FAST = ["phase1.steps=4", "phase1.batch=4", "phase1.crop=32", "phase1.log_every=2", "phase1.checkpoint_every=2",
        "threads=1", "data.stream=sample"]


def write_corpus(folder: Path, n: int, sizes=(40, 72), seed: int = 0) -> list[Path]:
    """``n`` smooth random images (PNG and JPEG, nested folders), sides drawn from ``sizes``."""
    rng = np.random.default_rng(seed)
    files = []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(sizes[0], sizes[1] + 1, 2))
        yy, xx = np.mgrid[0:h, 0:w]
        phase = rng.random(3) * 6
        image = np.stack([127 + 120 * np.sin(xx / (5 + 3 * c) + yy / 9 + phase[c]) for c in range(3)], -1)
        path = folder / f"part{i % 3}" / f"sub{i % 2}" / f"img{i:05d}.{'png' if i % 2 else 'jpg'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.astype(np.uint8)).save(path, quality=95)
        files.append(path)
    return files


def batches_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- the two streams -----------------------------------------------------------------------------------
def _pin(batch: dict) -> tuple[str, float]:
    h = hashlib.sha256()
    for k in sorted(batch):
        if k != "degraded":
            h.update(k.encode())
            h.update(batch[k].contiguous().numpy().tobytes())
    return h.hexdigest()[:16], float(batch["degraded"].double().sum())


def test_rank_stream_is_the_stream_the_embedded_weights_were_trained_with():
    """Pinned from the data module the shipped tiny model was trained with: crops, labels and targets
    byte for byte (the degraded sum to float32 rounding)."""
    five = ["rain", "haze", "noise", "blur", "lowlight"]
    cases = [
        (Phase1Data(48, five, "cutmix", seed=0, stream="rank").batch(7, 0, 4), "f8dc1274506b147b", 13650.564973928034),
        (SingleData(64, "blur", seed=0, params={"kind": "motion"}, soft_clean=0.5, soft_radius=[0.5, 3.5],
                    stream="rank").batch(3, 0, 4), "0c9910f358b4eeb9", 29206.6828186512),
        (EstimatorData(128, five, 0.25, seed=0, stream="rank").batch(2, 0, 4), "fea76fae787c2143", 102653.005080075),
    ]
    for batch, digest, total in cases:
        got_digest, got_total = _pin(batch)
        assert got_digest == digest and got_total == pytest.approx(total, rel=1e-6)
    assert load_recipe("tiny")["data"]["stream"] == "rank"


@pytest.mark.parametrize("make", [
    lambda: Phase1Data(32, ["rain", "noise", "blur"], "cutmix", seed=1),
    lambda: Phase1Data(32, ["haze", "lowlight"], "synthetic", seed=2),
    lambda: SingleData(32, "blur", seed=3, params={"kind": "motion"}, soft_clean=0.5),
    lambda: EstimatorData(32, ["rain", "haze", "noise"], mixed_fraction=0.5, seed=0),
], ids=["cutmix", "synthetic", "single-soft", "estimator"])
def test_sample_stream_global_batch_is_the_same_on_any_process_count_and_on_the_device_path(make):
    data = make()
    whole = data.batch(4, 0, 4)
    halves = [data.batch(4, r, 2) for r in (0, 1)]
    assert all(torch.equal(whole[k], torch.cat([h[k] for h in halves])) for k in whole)
    loaded = data.load(4, 1, 2, synthesize=False)
    assert batches_equal(data.synthesize(loaded, 4, 1, 2), halves[1])
    assert not torch.equal(whole["clean"], data.batch(5, 0, 4)["clean"])
    assert torch.equal(whole["degraded"], quantise(whole["degraded"]))


def test_a_sample_is_a_function_of_its_own_generators():
    """Sample i of step s: crop from its 'plan' generator, degradation from its 'synth' generator."""
    data = SingleData(32, "noise", seed=5, params={"sigma": 25.0})
    batch = data.batch(9, 1, 3)  # rank 1 of 3 per rank: global samples 3, 4, 5
    from abair.degradations import apply

    crops = CropSampler(None, 32)
    for j, i in enumerate((3, 4, 5)):
        clean = crops.one(sample_generator(5, "phase2-noise", 9, i, "plan"))
        degraded = quantise(apply("noise", clean, sample_generator(5, "phase2-noise", 9, i, "synth"), sigma=25.0))
        assert torch.equal(batch["clean"][j], clean) and torch.equal(batch["degraded"][j], degraded)


def test_device_synthesis_needs_the_sample_stream():
    with pytest.raises(UserError, match="per-sample data stream"):
        SingleData(32, "noise", stream="rank").load(0, 0, 2, synthesize=False)
    with pytest.raises(UserError, match="data.synthesis 'device' needs data.stream 'sample'"):
        load_recipe("tiny", ["data.synthesis=device"])
    with pytest.raises(UserError, match=r"unknown data stream 'ranks' \(did you mean 'rank'\?\)"):
        SingleData(32, "noise", stream="ranks")


# -- sources -----------------------------------------------------------------------------------------
def test_collect_images_from_a_folder_tree_and_from_a_list(tmp_path):
    files = write_corpus(tmp_path / "c", 6)
    (tmp_path / "c" / "notes.txt").write_text("not an image")
    assert collect_images(tmp_path / "c") == sorted(files)
    listing = tmp_path / "list.txt"
    listing.write_text("# two of them\n" + f"c/{files[1].relative_to(tmp_path / 'c')}\n\n{files[4]}\n")
    assert collect_images(listing) == [tmp_path / "c" / files[1].relative_to(tmp_path / "c"), files[4]]
    listing.write_text("c/nope.png\n")
    with pytest.raises(UserError, match=r"the image list '.*list.txt' names '.*nope.png', which does not exist"):
        collect_images(listing)
    with pytest.raises(UserError, match="'.*missing' does not exist"):
        collect_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no image"):
        collect_images(tmp_path / "empty")


def test_crops_decode_lazily_skip_small_images_and_name_a_corrupt_file(tmp_path):
    files = write_corpus(tmp_path, 5, sizes=(40, 48))
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 50, 3), np.uint8)).save(small)
    broken = tmp_path / "broken.png"
    broken.write_bytes(files[1].read_bytes()[:60])  # a header, then nothing
    garbage = tmp_path / "garbage.jpg"
    garbage.write_text("this is text, not a JPEG")

    source = FileSource([*files, small])
    sampler = CropSampler(source, 32)
    assert sampler.images.summary() == {"images": 6, "used": 5, "too_small": 1, "unreadable": 0}
    crop = sampler.one(torch.Generator().manual_seed(0))
    assert crop.shape == (3, 32, 32) and crop.dtype == torch.float32 and 0 <= crop.min() <= crop.max() <= 1
    with pytest.raises(UserError, match=r"^training image '.*garbage.jpg' is not an image but a text file; replace the file$"):
        CropSampler(FileSource([*files, garbage]), 32)
    skipping = CropSampler(FileSource([*files, garbage]), 32, skip_bad=True)
    assert skipping.images.summary() == {"images": 6, "used": 5, "too_small": 0, "unreadable": 1}
    # a file whose header reads but whose pixels do not: named when it is drawn
    only_broken = CropSampler(FileSource([broken]), 32)
    with pytest.raises(UserError, match=r"^training image '.*broken.png' could not be decoded"):
        only_broken.sample(1, torch.Generator().manual_seed(0))


def test_a_corrupt_file_in_a_worker_is_one_line_in_the_training_process(tmp_path):
    files = write_corpus(tmp_path, 2, sizes=(40, 48))
    files[1].write_bytes(files[1].read_bytes()[:60])  # the PNG header survives, the pixels do not
    data = SingleData(32, "noise", pool=FileSource(files[1:]))
    with pytest.raises(UserError, match=r"^training image '.*img00001.png' could not be decoded"):
        next(iterate_batches(data, 0, 2, 0, 2, torch.device("cpu"), workers=1))


def test_pairs_from_files_are_checked_for_size(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(a)
    Image.fromarray(np.zeros((40, 44, 3), np.uint8)).save(b)
    with pytest.raises(UserError, match=r"'.*a.png' \(40x40\) and '.*b.png' \(44x40\) differ in size"):
        SingleData(32, "rain", pairs=PairSource.from_files([(a, b)])).batch(0, 0, 1)


# -- the loader and the loop ---------------------------------------------------------------------------
def test_loader_gives_the_same_batches_with_any_worker_count_and_on_the_device_path(tmp_path):
    source = FileSource(write_corpus(tmp_path, 8))
    data = Phase1Data(32, ["rain", "noise"], "cutmix", seed=4, pool=source)
    cpu = torch.device("cpu")

    def run(**kw):
        return [(s, b) for s, b, _, _ in iterate_batches(data, 2, 6, 0, 3, cpu, **kw)]

    base = run(workers=0)
    assert [s for s, _ in base] == [2, 3, 4, 5]
    for other in (run(workers=2), run(workers=2, synthesis="device"), run(workers=0, synthesis="device")):
        assert [s for s, _ in other] == [2, 3, 4, 5]
        assert all(batches_equal(x, y) for (_, x), (_, y) in zip(base, other, strict=True))
    assert all(batches_equal(b, data.batch(s, 0, 3)) for s, b in base)


def _phase1(tmp_path: Path, name: str, clean: Path, *extra: str, **kw) -> Path:
    recipe = load_recipe("tiny", FAST + list(extra))
    data = TrainData(clean=FileSource(collect_images(clean)))
    return phases.run_phase1(recipe, tmp_path / name, device="cpu", data=data, progress=False, **kw)


def test_weights_are_byte_identical_with_0_and_2_workers_and_after_a_kill(tmp_path, monkeypatch):
    write_corpus(tmp_path / "corpus", 12)
    zero = _phase1(tmp_path, "w0", tmp_path / "corpus", "data.workers=0")
    two = _phase1(tmp_path, "w2", tmp_path / "corpus", "data.workers=2")
    dev = _phase1(tmp_path, "dev", tmp_path / "corpus", "data.workers=1", "data.synthesis=device")
    assert zero.read_bytes() == two.read_bytes() == dev.read_bytes()

    real_train = phases.train

    class Kill(Exception):
        pass

    def killed_at_2(*args, **kwargs):
        def on_checkpoint(step):
            if step == 2:
                raise Kill
        return real_train(*args, **kwargs, on_checkpoint=on_checkpoint)

    monkeypatch.setattr(phases, "train", killed_at_2)
    with pytest.raises(Kill):
        _phase1(tmp_path, "killed", tmp_path / "corpus", "data.workers=2")
    monkeypatch.setattr(phases, "train", real_train)
    resumed = _phase1(tmp_path, "killed", tmp_path / "corpus", "data.workers=2", resume=True)
    assert resumed.read_bytes() == zero.read_bytes()
    summary = json.loads((tmp_path / "w2" / "phase1" / "summary.json").read_text())
    assert summary["data"] == {"clean": {"images": 12, "used": 12, "too_small": 0, "unreadable": 0}}


def test_a_global_batch_that_does_not_split_is_refused(monkeypatch):
    from abair.model import build

    cfg = loop.LoopConfig(steps=1, batch=3, lr=1e-3, progress=False)
    objective = phases.Phase1Objective(build("tiny", adapters=0, seghead=True))
    monkeypatch.setattr(loop, "init_distributed", lambda device: loop.DistInfo(0, 2))
    with pytest.raises(UserError, match="phase1: the global batch 3 does not split over 2 processes"):
        loop._setup(objective, cfg, Path("unused"), False, torch.device("cpu"), "phase1")


# -- memory does not grow with the corpus ----------------------------------------------------------------
_RSS_PROBE = """
import resource, sys
from abair.train import phases
from abair.train.inputs import TrainData
from abair.train.recipes import load_recipe
from abair.train.sources import FileSource, collect_images
recipe = load_recipe("tiny", ["phase1.steps=3", "phase1.batch=4", "phase1.crop=64", "phase1.log_every=1",
                              "phase1.checkpoint_every=3", "threads=1", "data.stream=sample", "data.workers=0"])
phases.run_phase1(recipe, sys.argv[2], device="cpu", data=TrainData(clean=FileSource(collect_images(sys.argv[1]))),
                  progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_corpus(tmp_path):
    """3,000 images (256-1024 px, PNG and JPEG, nested folders) vs 300: peak RSS within 10%."""
    big, small = tmp_path / "big", tmp_path / "small"
    files = write_corpus(big, 3000, sizes=(256, 1024), seed=1)
    for f in files[:300]:
        target = small / f.relative_to(big)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f.read_bytes())
    peaks = {}
    for name, folder in (("small", small), ("big", big)):
        out = subprocess.run([sys.executable, "-c", _RSS_PROBE, str(folder), str(tmp_path / f"run-{name}")],
                             capture_output=True, text=True, check=True, cwd=ROOT)
        peaks[name] = int(out.stdout.split()[-1])
    assert peaks["big"] <= 1.10 * peaks["small"], peaks


# -- the command line: named sets, paths, missing data, bench-data ---------------------------------------
def cli(argv: list[str]) -> int:
    from bench.cli import main

    return main(argv)


def _div2k(root: Path, n: int = 4) -> None:
    for i in range(1, n + 1):
        path = root / "DIV2K_train_HR" / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image = np.full((48, 56, 3), 30 * i % 256, np.uint8)
        image[::7] = 200
        Image.fromarray(image).save(path)


def test_train_phase1_on_a_registered_corpus_and_on_a_folder_give_the_same_weights(tmp_path, monkeypatch):
    import dataclasses

    from bench.datasets.real import table

    _div2k(tmp_path / "data")
    monkeypatch.setitem(table.SETS, "div2k-train", dataclasses.replace(table.SETS["div2k-train"], count=4))
    sets = [f"--set={s}" for s in FAST]
    assert cli(["train", "phase1", "--out", str(tmp_path / "a"), "--no-progress", "--device", "cpu",
                "--clean-data", "div2k-train", "--data-root", str(tmp_path / "data"), "--workers", "1", *sets]) == 0
    assert cli(["train", "phase1", "--out", str(tmp_path / "b"), "--no-progress", "--device", "cpu",
                "--clean-data", str(tmp_path / "data" / "DIV2K_train_HR"), "--workers", "0", *sets]) == 0
    files = [tmp_path / d / phases.BACKBONE_FILE for d in "ab"]
    assert files[0].read_bytes() == files[1].read_bytes()
    saved = (tmp_path / "a" / "recipe.yaml").read_text()
    assert "clean:\n  - div2k-train" in saved
    # workers are a speed setting: resuming with another count is allowed
    assert cli(["train", "phase1", "--out", str(tmp_path / "a"), "--no-progress", "--device", "cpu", "--resume",
                "--clean-data", "div2k-train", "--data-root", str(tmp_path / "data"), "--workers", "0", *sets]) == 0


def test_missing_training_sets_are_all_named_in_one_line_before_training(tmp_path, capsys):
    code = cli(["train", "all", "--recipe", "paper", "--out", str(tmp_path / "run"), "--data-root",
                str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[0] == "abair-bench: error: training data: 6 set(s) missing or unusable:"
    assert err[1:7] == [f"  {name}: not found under data root {tmp_path}" for name in (
        "rain: rain100l-train", "haze: ots-train", "noise: bsd400+wed", "blur: gopro-train", "lowlight: lol-v1-train",
        "gldv2-train-clean")]  # one short line each
    assert err[7].startswith(f"  where each is looked for and where to get it: 'abair-bench datasets check --data-root "
                             f"{tmp_path}' and docs/DATASETS.md") and len(err) == 8
    assert not (tmp_path / "run").exists()  # nothing written before the data is found


def test_an_incomplete_training_set_is_one_line_of_its_own():
    from bench.datasets.train_inputs import problems_message

    text = problems_message(["rain: rain100l-train: 3 of 200 pairs found (e.g. 4.png has no clean partner); "
                             "pass --allow-partial to train on them" + " x" * 200,
                             "ots-train: not found under data root /d (searched official: OTS, RESIDE/OTS)"], "/d")
    lines = text.splitlines()
    assert lines[0] == "training data: 2 set(s) missing or unusable:" and len(lines) == 4
    assert lines[1].startswith("  rain: rain100l-train: 3 of 200 pairs found") and len(lines[1]) < 260
    assert lines[2] == "  ots-train: not found under data root /d"


def test_clean_data_given_as_a_list_file_and_a_missing_path(tmp_path, capsys):
    files = write_corpus(tmp_path / "c", 4)
    listing = tmp_path / "train.txt"
    listing.write_text("\n".join(str(f) for f in files))
    sets = [f"--set={s}" for s in FAST]
    assert cli(["train", "phase1", "--out", str(tmp_path / "a"), "--no-progress", "--device", "cpu",
                "--clean-data", str(listing), *sets]) == 0
    assert cli(["train", "phase1", "--out", str(tmp_path / "b"), "--no-progress", "--device", "cpu",
                "--clean-data", str(tmp_path / "nope"), *sets]) == 2
    err = capsys.readouterr().err
    assert f"clean image set '{tmp_path / 'nope'}' is neither a registered training set" in err
    assert cli(["train", "phase1", "--out", str(tmp_path / "c"), "--no-progress", "--device", "cpu",
                "--clean-data", "div2k-trian", *sets]) == 2
    assert "(did you mean 'div2k-train'?)" in capsys.readouterr().err


def test_bench_data_measures_pipeline_and_step_and_names_the_bound(capsys):
    assert cli(["train", "bench-data", "--phase", "1", "--crop", "32", "--batch", "4", "--workers", "0",
                "--steps", "2", "--device", "cpu", "--per-degradation", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["phase"] == "phase1" and (got["crop"], got["batch"], got["workers"]) == (32, 4, 0)
    assert got["pipeline_samples_s"] > 0 and got["step_samples_s"] > 0
    assert got["bound"] == ("data" if got["pipeline_samples_s"] < got["step_samples_s"] else "step")
    assert got["advice"].startswith(got["bound"] + "-bound")
    from abair.degradations import DEGRADATIONS

    assert list(got["per_degradation_ms"]) == list(DEGRADATIONS)
    assert all(v > 0 for v in got["per_degradation_ms"].values())
    assert cli(["train", "bench-data", "--phase", "2", "--crop", "32", "--batch", "2", "--steps", "1",
                "--device", "cpu", "--workers", "0", "--synthesis", "device", "--set", "data.stream=sample"]) == 0
    out = capsys.readouterr().out
    assert "phase2 (tiny recipe), crop 32, batch 2, 0 workers, synthesis on the device" in out
    assert "pipeline alone:" in out and "step alone:" in out


def _train_cli(out: Path, clean: Path, nproc: int, *extra: str) -> None:
    import os

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    cmd = [*(launcher if nproc > 1 else [sys.executable]), "-m", "bench.cli", "train", "phase1", "--out", str(out),
           "--no-progress", "--device", "cpu", "--clean-data", str(clean), "--workers", "0",
           *[f"--set={s}" for s in FAST], *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _max_difference(a: Path, b: Path) -> float:
    from safetensors.torch import load_file

    ta, tb = load_file(str(a)), load_file(str(b))
    assert ta.keys() == tb.keys()
    return max(float((ta[k].double() - tb[k].double()).abs().max()) for k in ta)


@pytest.mark.slow
def test_two_processes_equal_one_to_float_rounding_and_resume_on_another_world_size(tmp_path):
    """The sample stream: a torchrun run with 2 processes trains on the same global batches as 1
    process; the weights differ only by the order DDP sums the two halves' gradients in."""
    write_corpus(tmp_path / "corpus", 10)
    _train_cli(tmp_path / "one", tmp_path / "corpus", 1)
    _train_cli(tmp_path / "two", tmp_path / "corpus", 2)
    one, two = (tmp_path / d / phases.BACKBONE_FILE for d in ("one", "two"))
    assert 0 < _max_difference(one, two) < 1e-5
    # a two-process run stopped after its step-2 checkpoint, resumed by one process
    import shutil

    mixed = tmp_path / "mixed"
    shutil.copytree(tmp_path / "two", mixed)
    shutil.rmtree(mixed / "phase1" / "state" / "step-00000004")
    (mixed / phases.BACKBONE_FILE).unlink()
    state = json.loads((loop.latest_state(mixed / "phase1") / "state.json").read_text())
    assert state["step"] == 2 and state["world"] == 2
    _train_cli(mixed, tmp_path / "corpus", 1, "--resume")
    assert _max_difference(one, mixed / phases.BACKBONE_FILE) < 1e-5


def test_default_workers_follow_the_cores_per_process(monkeypatch):
    import os

    from abair.train.loader import default_workers

    for cores, local_world, want in ((2, 1, 1), (2, 2, 0), (16, 8, 1), (16, 1, 8), (64, 2, 8), (1, 1, 0)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, c=cores: set(range(c)))
        assert default_workers(local_world) == want, (cores, local_world)


def test_several_clean_sets_are_read_as_one(tmp_path):
    a = write_corpus(tmp_path / "a", 3, sizes=(40, 48), seed=1)
    b = write_corpus(tmp_path / "b", 2, sizes=(20, 24), seed=2)  # smaller than the crop: skipped
    from bench.datasets.train_inputs import clean_source

    source = clean_source([str(tmp_path / "a"), str(tmp_path / "b")])
    assert len(source) == 5 and [source.name(i) for i in range(5)] == [str(p) for p in sorted(a) + sorted(b)]
    assert CropSampler(source, 32).images.summary() == {"images": 5, "used": 3, "too_small": 2, "unreadable": 0}
