"""Phase III on real degraded images: with ``phase3.real_fraction`` > 0 that share of the estimator's
samples are native-scale crops of the task training sets' degraded images (a clean-only task set is
degraded at the task's test settings), labelled with their task; mixed samples stay synthetic; the
batches are still a function of the seed; a task without a set is named before anything trains."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from abair.errors import UserError
from abair.train.data import ESTIMATOR_SOURCES, EstimatorData
from abair.train.recipes import load_recipe
from abair.train.sources import ArraySource, PairSource
from test_datasets_real import set_count
from test_train_data import cli

CLASSES = ["rain", "haze", "noise"]
VALUE = {"rain": 10, "haze": 20}  # each task's degraded fixture image is one flat grey level


def task_sets() -> dict:
    """rain and haze: one real pair each (degraded = a flat grey, clean = a gradient); noise: clean only."""
    clean = np.tile(np.arange(50, dtype=np.uint8)[None, :, None] * 4, (40, 1, 3))
    pairs = {k: PairSource.from_arrays([(np.full((40, 50, 3), v, np.uint8), clean)]) for k, v in VALUE.items()}
    return {**pairs, "noise": ArraySource([clean])}


def test_real_samples_are_crops_of_the_task_sets_labelled_with_their_task():
    data = EstimatorData(32, CLASSES, mixed_fraction=0.25, seed=0, real=task_sets(), real_fraction=1.0)
    batch = data.batch(3, 0, 24)
    sources = [ESTIMATOR_SOURCES[int(s)] for s in batch["source"]]
    assert set(sources) == {"real", "task-synthetic"}
    for i, source in enumerate(sources):
        k = int(batch["target"][i].argmax())
        assert batch["target"][i].tolist() == [1.0 if j == k else 0.0 for j in range(3)]  # its task alone
        if source == "real":  # the fixture's degraded image itself, at its native scale
            assert CLASSES[k] in VALUE
            assert torch.equal(batch["degraded"][i], torch.full((3, 32, 32), VALUE[CLASSES[k]] / 255))
        else:  # noise: the task set's clean crop, noised at the task's test settings
            assert CLASSES[k] == "noise"
            assert not torch.equal(batch["degraded"][i], batch["clean"][i])
            assert torch.equal(batch["degraded"][i], torch.round(batch["degraded"][i] * 255) / 255)
    assert set(data.sources()) == {"clean", "real rain", "real haze", "real noise"}


def test_a_share_of_real_samples_mixed_ones_stay_synthetic_and_batches_are_seeded():
    data = EstimatorData(32, CLASSES, mixed_fraction=0.5, seed=0, real=task_sets(), real_fraction=0.5)
    batch = data.batch(0, 0, 64)
    real = batch["source"] > 0
    assert 16 < int(real.sum()) < 48
    mixed = (batch["target"] > 0).sum(1) == 2
    assert mixed.any() and not (mixed & real).any()
    # the same batch again, on the device path (plan in the worker, synthesis after), and split over ranks
    assert all(torch.equal(batch[k], v) for k, v in data.batch(0, 0, 64).items())
    device = data.synthesize(data.load(0, 0, 64, synthesize=False), 0, 0, 64)
    assert all(torch.equal(batch[k], device[k]) for k in batch)
    halves = [data.batch(0, r, 32) for r in (0, 1)]
    assert torch.equal(torch.cat([h["degraded"] for h in halves]), batch["degraded"])
    # real_fraction 0: exactly the batches drawn before the option existed, without a source key
    plain = EstimatorData(32, CLASSES, 0.5, seed=0).batch(0, 0, 8)
    zero = EstimatorData(32, CLASSES, 0.5, seed=0, real=task_sets(), real_fraction=0.0).batch(0, 0, 8)
    assert zero.keys() == plain.keys() == {"degraded", "clean", "target"}
    assert all(torch.equal(plain[k], zero[k]) for k in plain)


def test_a_task_without_a_set_and_the_rank_stream_are_refused():
    sets = task_sets()
    del sets["haze"]
    with pytest.raises(UserError, match=r"phase3.real_fraction is 0.5: the estimator trains on the degraded images "
                                        r"of each adapter's training set, and these adapters have none: haze; give "
                                        r"each one in data.train"):
        EstimatorData(32, CLASSES, seed=0, real=sets, real_fraction=0.5)
    with pytest.raises(UserError, match=r"real_fraction > 0 needs the per-sample data stream"):
        EstimatorData(32, CLASSES, seed=0, real=task_sets(), real_fraction=0.5, stream="rank")
    with pytest.raises(UserError, match=r"phase3.real_fraction must be in \[0, 1\], got 1.5"):
        load_recipe("small", ["phase3.real_fraction=1.5"])
    with pytest.raises(UserError, match=r"phase3.real_fraction > 0 needs data.stream 'sample'"):
        load_recipe("tiny", ["phase3.real_fraction=0.5"])
    assert load_recipe("tiny")["phase3"]["real_fraction"] == 0.0
    assert load_recipe("small")["phase3"]["real_fraction"] == load_recipe("paper")["phase3"]["real_fraction"] == 0.5


# -- the command line on fixture task sets -------------------------------------------------------------
TASK_FILES = {  # set -> files (degraded, clean) in one of its layouts
    "rain100l-train": [(f"data/Train/Derain/rainy/rain-{n}.png", f"data/Train/Derain/gt/norain-{n}.png") for n in (1, 2)],
    "ots-train": [(f"data/Train/Dehaze/synthetic/part1/000{n}_0.8_0.2.jpg", f"data/Train/Dehaze/original/000{n}.jpg")
                  for n in (1, 2)],
    "bsd400+wed": [(None, f"data/Train/Denoise/0000{n}.bmp") for n in (1, 2)],
    "gopro-train": [(f"GOPRO_Large/train/GOPR0372_07_00/blur/00000{n}.png", f"GOPRO_Large/train/GOPR0372_07_00/sharp/00000{n}.png")
                    for n in (1, 2)],
    "lol-v1-train": [(f"LOLdataset/our485/low/{n}.png", f"LOLdataset/our485/high/{n}.png") for n in (1, 2)],
}
TRAIN_DATA = ["rain=rain100l-train", "haze=ots-train", "noise=bsd400+wed", "blur=gopro-train", "lowlight=lol-v1-train"]
PHASE3 = ["data.stream=sample"] + [f"phase3.{kv}" for kv in ("steps=3", "batch=4", "crop=32", "log_every=1",
                                                              "checkpoint_every=3", "warmup=0", "real_fraction=0.5")]


@pytest.fixture
def task_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for name, files in TASK_FILES.items():
        for degraded, clean in files:
            for rel in (degraded, clean):
                if rel is not None:
                    (root / rel).parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(root / rel)
        if name != "ots-train":
            set_count(monkeypatch, name, len(files))
    return root


def test_train_estimator_on_real_task_crops(task_root, tmp_path):
    weights = Path(__file__).resolve().parents[1] / "abair" / "weights" / "abair-tiny.safetensors"
    out = tmp_path / "est.safetensors"
    args = ["train", "estimator", "--checkpoint", str(weights), "--out", str(out), "--recipe", "tiny", "--no-progress",
            "--device", "cpu", "--data-root", str(task_root), "--workers", "0", *[f"--set={s}" for s in PHASE3]]
    assert cli([*args, *[f"--train-data={t}" for t in TRAIN_DATA]]) == 0
    summary = json.loads((tmp_path / "est.train-estimator" / "summary.json").read_text())
    assert summary["steps"] == 3
    assert {k: v["images"] for k, v in summary["data"].items() if k.startswith("real ")} == {
        "real rain": 2, "real haze": 2, "real noise": 2, "real blur": 2, "real lowlight": 2}


def test_a_missing_task_set_is_named_before_training(task_root, tmp_path, capsys):
    code = cli(["train", "phase3", "--recipe", "tiny", "--out", str(tmp_path / "run"), "--no-progress",
                "--data-root", str(task_root), *[f"--train-data={t}" for t in TRAIN_DATA[:3]],
                *[f"--set={s}" for s in PHASE3]])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.splitlines() == [
        "abair-bench: error: phase3.real_fraction is 0.5: Phase III trains the estimator on the degraded images of "
        "each adapter's training set, and these adapters have none: blur, lowlight; give each one (--train-data "
        "blur=SET; a clean image set is degraded at the task's test settings) or --set phase3.real_fraction=0"]
    assert not (tmp_path / "run").exists()
