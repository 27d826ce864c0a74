"""Google Landmarks v2 as a clean corpus: the official tree (``train/a/b/c/<16 hex id>.jpg``,
``train.csv``, ``train_clean.csv``) is discovered, counted and filtered through an index built once
(reused without listing a folder, rebuilt when the folder changes), checked (missing images and the
leaf folders that lost them), shared with loader workers as a memory-mapped id array, and trains
Phase I of ``tiny``. Fixtures: a few hundred tiny JPEGs written at test time."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from abair.errors import UserError
from bench.datasets.training import find_training_set
from test_datasets_real import run_cmd


def write_gldv2(folder: Path, n: int = 300, seed: int = 0, small_every: int = 50) -> tuple[list[str], list[str]]:
    """``n`` JPEGs (40x48, every ``small_every``-th 16x24) at their official paths, ``train.csv`` and
    ``train_clean.csv`` (every third id, over 5 landmarks); returns (all ids, clean ids), sorted."""
    rng = np.random.default_rng(seed)
    ids = sorted({f"{int(v):016x}" for v in rng.integers(0, 2**64, n, dtype=np.uint64)})
    for i, h in enumerate(ids):
        side = 16 if i % small_every == 7 else 40
        write_image(folder, h, side, i)
    write_lists(folder, ids, ids[::3])
    return ids, ids[::3]


def write_image(folder: Path, h: str, side: int = 40, value: int = 0) -> Path:
    path = folder / "train" / h[0] / h[1] / h[2] / f"{h}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((side, side + 8, 3), value % 256, np.uint8)
    image[::5] = 255 - value % 256
    Image.fromarray(image).save(path, quality=90)
    return path


def write_lists(folder: Path, ids: list[str], clean: list[str]) -> None:
    (folder / "train.csv").write_text("id,url,landmark_id\n" + "".join(
        f"{h},https://upload.wikimedia.org/{h}.jpg,{i % 7}\n" for i, h in enumerate(ids)))
    (folder / "train_clean.csv").write_text("landmark_id,images\n" + "".join(
        f"{k},{' '.join(clean[k::5])}\n" for k in range(5)))


def rel(h: str) -> str:
    return f"train/{h[0]}/{h[1]}/{h[2]}/{h}.jpg"


@pytest.fixture
def gld(tmp_path):
    root = tmp_path / "data"
    ids, clean = write_gldv2(root / "GLDv2")
    return root, root / "GLDv2", ids, clean


def test_discovered_counted_and_filtered_by_train_clean(gld, capsys):
    root, folder, ids, clean = gld
    full = find_training_set("gldv2-train", str(root))
    assert (full.kind, full.layout, full.folder, full.count, full.expected, full.clean) == (
        "clean", "official", folder, 300, 300, ())
    assert list(full.source.paths) == [str(folder / rel(h)) for h in ids]
    subset = find_training_set("gldv2-train-clean", str(root))
    assert subset.count == subset.clean_count == len(clean) == 100
    assert list(subset.source.paths) == [str(folder / rel(h)) for h in clean]
    # the set's own folder, by name or by family
    assert find_training_set("gldv2-train-clean", None, {"gldv2": str(folder)}).count == 100
    assert run_cmd(["datasets", "check", "gldv2-train", "gldv2-train-clean", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "gldv2-train: ok  layout official at" in out and "images: 300 found / 300 expected" in out
    assert "gldv2-train-clean: ok" in out and "images: 100 found / 100 expected" in out
    assert "listed in train_clean.csv" in out
    assert run_cmd(["datasets", "check", "gldv2-train", "--data-root", str(root), "--limit", "30"]) == 0
    assert "decoded: a sample of 30 of 300 images (--limit)" in capsys.readouterr().out


def test_the_index_is_built_once_and_a_change_rebuilds_it(gld, monkeypatch, capsys):
    root, folder, ids, _clean = gld
    find_training_set("gldv2-train", str(root))
    assert "gldv2: indexing" in capsys.readouterr().err
    meta = json.loads((folder / ".abair-index" / "meta.json").read_text())
    assert meta["on_disk"] == 300 and meta["sets"]["gldv2-train-clean"]["listed"] == 100

    images = str(folder / "train")
    real_scandir = os.scandir

    def no_listing(path="."):
        if str(path).startswith(images):
            raise AssertionError(f"listed {path}")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", no_listing)
    monkeypatch.setattr(os, "walk", lambda *a, **k: (_ for _ in ()).throw(AssertionError("walked")))
    monkeypatch.setattr(os, "listdir", lambda *a, **k: (_ for _ in ()).throw(AssertionError("listed")))
    assert find_training_set("gldv2-train", str(root)).count == 300
    assert find_training_set("gldv2-train-clean", str(root)).count == 100
    assert capsys.readouterr().err == ""  # reused: no build
    monkeypatch.undo()

    # another image in a leaf folder that already exists, and in the list: the index is rebuilt
    new = ids[5][:3] + "0123456789abc"
    write_image(folder, new)
    write_lists(folder, sorted([*ids, new]), sorted([*ids, new])[::3])
    assert find_training_set("gldv2-train", str(root)).count == 301
    assert "gldv2: indexing" in capsys.readouterr().err


def test_missing_images_name_their_leaf_folders_and_partial_use(gld, capsys):
    root, folder, ids, clean = gld
    gone = [h for h in ids if h[0] == "f"]
    for h in gone:
        (folder / rel(h)).unlink()
    with pytest.raises(UserError) as e:
        find_training_set("gldv2-train", str(root))
    msg = str(e.value)
    assert msg.startswith(f"gldv2-train: {len(gone)} of the 300 images train.csv lists are not on disk (e.g. "
                          f"{rel(gone[0])}")
    assert "leaf folders hold none of their listed images (e.g. train/f/" in msg
    assert "the shard (images_NNN.tar) of an image cannot be told from its id" in msg
    assert "--allow-partial" in msg and "\n" not in msg
    partial = find_training_set("gldv2-train", str(root), allow_partial=True)
    assert partial.count == 300 - len(gone) and partial.problems[0].startswith("missing-images: ")
    assert run_cmd(["datasets", "check", "gldv2-train", "--data-root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "gldv2-train: BROKEN" in out and f"images: {300 - len(gone)} found / 300 expected" in out
    assert f"- missing-images: {len(gone)} of the 300 images" in out
    # a stray file and an image train.csv does not list
    (folder / "train/0/0/0/notes.txt").parent.mkdir(parents=True, exist_ok=True)
    (folder / "train/0/0/0/notes.txt").write_text("x")
    write_image(folder, "00f" + "0" * 13)
    assert run_cmd(["datasets", "check", "gldv2-train", "--data-root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "- unexpected-file: 1 files do not follow the naming rule 'train/<a>/<b>/<c>/<16 hex id>.jpg' " \
           "(e.g. train/0/0/0/notes.txt)" in out
    assert f"- not-listed: 1 images are not listed in train.csv (e.g. train/0/0/f/00f{'0' * 13}.jpg)" in out


def test_a_missing_list_is_named_with_where_to_get_it(gld, capsys):
    root, folder, _ids, _clean = gld
    (folder / "train_clean.csv").unlink()
    with pytest.raises(UserError, match=r"gldv2-train-clean: train_clean.csv is not in .*; download it from "
                                        r"https://s3.amazonaws.com/google-landmark/metadata/train_clean.csv"):
        find_training_set("gldv2-train-clean", str(root))
    assert find_training_set("gldv2-train", str(root)).count == 300  # train.csv is enough for the full set
    assert run_cmd(["datasets", "check", "gldv2-train-clean", "--data-root", str(root)]) == 1
    assert "gldv2-train-clean: NOT FOUND: train_clean.csv is not in" in capsys.readouterr().out
    (folder / "train.csv").write_text("image,url\n")
    with pytest.raises(UserError, match=r"train.csv: the first line should start with 'id,'"):
        find_training_set("gldv2-train", str(root))


def test_index_falls_back_to_the_user_cache_and_is_shared_memory_mapped(gld, tmp_path, monkeypatch):
    root, folder, _ids, clean = gld
    (folder / ".abair-index").write_text("not a folder")  # the data folder cannot hold the index
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    found = find_training_set("gldv2-train-clean", str(root))
    where = list((tmp_path / "cache" / "abair-bench").glob("gldv2-*"))
    assert len(where) == 1 and (where[0] / "gldv2-train-clean.npy").is_file()
    source = found.source
    assert isinstance(source.paths.ids, np.memmap) and source.lazy_size
    blob = pickle.dumps(source)
    assert len(blob) < 1000  # the file's name, not 100 paths
    again = pickle.loads(blob)
    assert isinstance(again.paths.ids, np.memmap) and list(again.paths) == list(source.paths)
    assert again.read(0).shape == (40, 48, 3)


def test_tiny_phase1_trains_on_the_clean_subset(gld, tmp_path):
    from test_train_data import FAST, cli

    root, folder, _ids, _clean = gld
    out = tmp_path / "run"
    assert cli(["train", "phase1", "--out", str(out), "--no-progress", "--device", "cpu", "--clean-data",
                "gldv2-train-clean", "--data-root", str(root), "--workers", "0", *[f"--set={s}" for s in FAST]]) == 0
    summary = json.loads((out / "phase1" / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["data"]["clean"]["images"] == 100
    # sizes are checked as images are drawn: the 16x24 images of the subset are skipped, never cropped
    assert summary["data"]["clean"]["too_small"] >= 1
    assert (out / "phase1" / "backbone.safetensors").is_file()


def test_lazy_sizes_skip_small_images_and_give_up_on_a_corpus_of_small_ones(tmp_path):
    import torch

    from abair.train.data import LAZY_DRAWS, CropSampler
    from abair.train.sources import HexIdSource

    folder = tmp_path / "g"
    ids = [f"{v:016x}" for v in (1 << 60, 2 << 60, 3 << 60)]
    for h, side in zip(ids, (40, 16, 16), strict=True):
        write_image(folder, h, side)
    np.save(tmp_path / "ids.npy", np.array([int(h, 16) for h in ids], np.uint64))
    crops = CropSampler(HexIdSource(folder / "train", tmp_path / "ids.npy"), 32)
    gen = torch.Generator().manual_seed(0)
    assert all(crops.one(gen).shape == (3, 32, 32) for _ in range(10))
    assert crops.images.skipped > 0
    small = CropSampler(HexIdSource(folder / "train", tmp_path / "ids.npy"), 48)
    with pytest.raises(UserError, match=rf"{LAZY_DRAWS} images drawn in a row are smaller than 48x48"):
        small.one(gen)
