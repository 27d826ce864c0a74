"""Training sets and clean corpora: discovery in every layout (official, PromptIR/AirNet, AdaIR, the
five-task tree) with the sets' own file names, strict pairing, each kind of problem named by file,
``datasets check``/``list`` on the new rows, and the refusal of training rows as test sets.

Fixtures are tiny trees (8x6 images) written at test time; published counts are patched down to
what a fixture holds (``set_count``) or the set is taken ``allow_partial``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from abair.errors import UserError
from bench.datasets import DATASETS, SUITES, DatasetOptions, get_dataset, resolve_names
from bench.datasets.real import table
from bench.datasets.real.scan import natural_key
from bench.datasets.training import TrainingFiles, find_training_set, training_set_names
from test_datasets_real import run_cmd, set_count  # the same helpers as the test sets' tests

W, H = 8, 6


def write(path: Path, i: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((H, W, 3), 40 + 7 * (i % 20), np.uint8)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}.get(path.suffix.lower(), "PNG")
    Image.fromarray(image).save(path, fmt)


GOPRO_TRAIN = [("GOPR0372_07_00/blur/000047.png", "GOPR0372_07_00/sharp/000047.png"),
               ("GOPR0372_07_00/blur/000048.png", "GOPR0372_07_00/sharp/000048.png"),
               ("GOPR0884_11_00/blur/000001.png", "GOPR0884_11_00/sharp/000001.png")]
ADAIR_GOPRO = ["GOPR0372_07_00_000047.png", "GOPR0372_07_00_000048.png"]
OTS = [("part1/0025_0.8_0.04.jpg", "0025"), ("part1/0025_1_0.2.jpg", "0025"), ("part2/3068_0.8_0.1.jpg", "3068")]

# (set, layout) -> (folder under the data root, [(degraded rel, clean rel)], [side files written, never paired])
PAIRED = {
    ("rain100l-train", "promptir"): ("data/Train/Derain",
                                     [(f"rainy/rain-{n}.png", f"gt/norain-{n}.png") for n in (1, 2, 10, 200)], []),
    ("rain100l-train", "official-gt"): ("RainTrainL", [(f"rainy/rain-{n}.png", f"gt/norain-{n}.png") for n in (1, 2)], []),
    ("rain100l-train", "official-rainy"): ("RainTrainL", [(f"rainy/rain-{n}.png", f"norain-{n}.png") for n in (1, 2)], []),
    ("rain100l-train", "official"): ("datasets/train/RainTrainL",
                                     [(f"rain-{n}.png", f"norain-{n}.png") for n in (1, 2, 10)],
                                     ["rainstreak-1.png", "rainregion-1.png"]),
    ("rain200l-train", "5task"): ("data/train/Rain200L/train",
                                  [(f"rain/norain-{n}x2.png", f"norain/norain-{n}.png") for n in (1, 2, 1800)], []),
    ("ots-train", "5task"): ("data/train/RESIDE/OTS", [(f"haze/{h}", f"clear/clear/{c}.jpg") for h, c in OTS], []),
    ("ots-train", "official"): ("RESIDE/OTS", [(f"haze/{h}", f"clear/{c}.jpg") for h, c in OTS], []),
    ("ots-train", "promptir"): ("data/Train/Dehaze",
                                [("synthetic/part1/0025_0.8_0.04.jpg", "original/0025.png"),  # AdaIR: .png
                                 ("synthetic/part1/0025_1_0.2.jpg", "original/0025.png"),
                                 ("synthetic/part4/8961_1_0.16.jpg", "original/8961.jpg")], []),  # PromptIR: .jpg
    ("gopro-train", "official"): ("GOPRO_Large/train", GOPRO_TRAIN,
                                  ["GOPR0372_07_00/blur_gamma/000047.png"]),
    ("gopro-train", "official@5task"): ("data/train/GOPRO/train", GOPRO_TRAIN, []),
    ("gopro-train", "adair"): ("data/Train/Deblur", [(f"blur/{n}", f"sharp/{n}") for n in ADAIR_GOPRO], []),
    ("lol-v1-train", "official"): ("LOLdataset/our485", [(f"low/{n}.png", f"high/{n}.png") for n in (2, 5, 100)], []),
    ("lol-v1-train", "official@5task"): ("data/train/LOL/our485", [(f"low/{n}.png", f"high/{n}.png") for n in (2, 5)], []),
    ("lol-v1-train", "adair"): ("data/Train/Enhance", [(f"low/{n}.png", f"gt/{n}.png") for n in (2, 5)], []),
}

BSD = ["100075.jpg", "101085.jpg"]
# (set, layout) -> (folder, [clean rel found], [other files written in the same tree, not part of the set])
CLEAN = {
    ("div2k-train", "official"): ("DIV2K/DIV2K_train_HR", ["0001.png", "0002.png", "0800.png"], []),
    ("flickr2k", "official"): ("Flickr2K/Flickr2K_HR", ["000001.png", "000002.png", "002650.png"], []),
    ("lsdir-train", "official"): ("LSDIR/HR/train", ["0001000/0000001.png", "0001000/0000002.png",
                                                     "0085000/0084991.png"], []),
    ("lsdir-train", "flat"): ("LSDIR_train_HR", ["0000001.png", "0000002.png", "0084991.png"], []),
    ("bsd400", "bsds500"): ("BSR/BSDS500/data/images", [f"train/{BSD[0]}", f"val/{BSD[1]}"], ["test/2018.jpg"]),
    ("bsd400", "folder"): ("Train400", ["test_001.png", "test_002.png", "test_400.png"], []),
    ("bsd400", "promptir"): ("data/Train/Denoise", ["5096.jpg", "a100007.jpg"], ["00001.bmp", "04744.bmp"]),
    ("bsd400", "5task"): ("data/train/Denoise/BSD", [f"original/{n}" for n in BSD], [f"noisy25/{BSD[0]}"]),
    ("wed", "official"): ("exploration_database_and_code/pristine_images", ["00001.bmp", "00002.bmp", "04744.bmp"], []),
    ("wed", "promptir"): ("Train/Denoise", ["00001.bmp", "04744.bmp"], ["a100007.jpg", "5096.jpg"]),
    ("wed", "5task"): ("data/train/Denoise/WED", ["00001.bmp", "00002.bmp"], []),
    ("ots-clean", "official"): ("OTS/clear", ["0025.jpg", "3068.jpg"], []),
    ("ots-clean", "5task"): ("RESIDE/OTS/clear/clear", ["0025.jpg", "3068.jpg"], []),
    ("ots-clean", "promptir"): ("data/Train/Dehaze/original", ["0025.png", "8961.jpg"], []),
    ("bsd400+wed", "promptir"): ("data/Train/Denoise", ["00001.bmp", "04744.bmp", "5096.jpg", "a100007.jpg"], []),
    ("bsd400+wed", "5task"): ("data/train/Denoise", [f"BSD/original/{BSD[0]}", "WED/00001.bmp", "WED/00002.bmp"],
                              [f"BSD/noisy15/{BSD[0]}"]),
}


def test_every_training_row_has_a_fixture_for_each_layout():
    from bench.datasets.real import gldv2

    covered = {(name, layout.split("@")[0]) for name, layout in [*PAIRED, *CLEAN]}
    for name in training_set_names():
        if name in gldv2.LISTS:
            continue  # listed through an index, not by rule: tests/test_gldv2.py
        for layout in table.SETS[name].layouts:
            assert (name, layout.name) in covered, (name, layout.name)


@pytest.mark.parametrize("key", list(PAIRED), ids=lambda k: "-".join(k))
def test_pairs_found_in_each_layout(key, tmp_path, monkeypatch):
    name, layout = key
    folder, files, side = PAIRED[key]
    root = tmp_path / "data"
    for i, (deg, cln) in enumerate(files):
        write(root / folder / cln, i)
        write(root / folder / deg, i)
    for rel in side:
        write(root / folder / rel)
    n_clean = len({c for _d, c in files})
    if table.SETS[name].count is not None:
        set_count(monkeypatch, name, len(files))
    found = find_training_set(name, str(root))
    assert isinstance(found, TrainingFiles)
    assert (found.name, found.kind, found.layout) == (name, "pairs", layout.split("@")[0])
    assert found.folder == root / folder and found.clean == () and found.problems == ()
    want = sorted(files, key=lambda f: natural_key(f[0]))
    assert found.pairs == tuple((root / folder / d, root / folder / c) for d, c in want)
    assert found.count == len(files) and found.clean_count == n_clean
    assert found.degradations == table.SETS[name].degradations and len(found.degradations) == 1
    # --dataset-path NAME=PATH finds the same files from the set's own folder
    assert find_training_set(name, None, {name: str(root / folder)}).pairs == found.pairs


@pytest.mark.parametrize("key", list(CLEAN), ids=lambda k: "-".join(k))
def test_clean_images_found_in_each_layout(key, tmp_path, monkeypatch):
    name, layout = key
    folder, files, others = CLEAN[key]
    root = tmp_path / "data"
    for i, rel in enumerate(files + others):
        write(root / folder / rel, i)
    (root / folder / "Thumbs.db").write_bytes(b"x")
    if table.SETS[name].count is not None:
        set_count(monkeypatch, name, len(files))
    found = find_training_set(name, str(root))
    assert (found.kind, found.layout, found.pairs) == ("clean", layout, ())
    assert found.clean == tuple(root / folder / rel for rel in sorted(files, key=natural_key))
    assert found.count == found.clean_count == len(files)


def test_published_counts_and_kinds():
    counts = {n: table.SETS[n].count for n in training_set_names()}
    assert counts == {"div2k-train": 800, "flickr2k": 2650, "lsdir-train": 84991, "bsd400": 400, "wed": 4744,
                      "ots-clean": None, "gldv2-train": 4132914, "gldv2-train-clean": 1580470, "rain100l-train": 200, "rain200l-train": 1800, "ots-train": None,
                      "bsd400+wed": 5144, "gopro-train": 2103, "lol-v1-train": 485}
    assert training_set_names("pairs") == ["rain100l-train", "rain200l-train", "ots-train", "gopro-train",
                                           "lol-v1-train"]
    assert "bsd400+wed" in training_set_names("clean") and table.SETS["bsd400+wed"].degradations == ("noise",)
    from abair.degradations import DEGRADATIONS

    for name in training_set_names():
        assert set(table.SETS[name].degradations) <= set(DEGRADATIONS)
    with pytest.raises(UserError, match="unknown training-set kind 'pair'"):
        training_set_names("pair")


# --- problems --------------------------------------------------------------------------------------


@pytest.fixture
def derain(tmp_path, monkeypatch):
    """PromptIR's Derain tree with 5 pairs (rain-1..rain-5), expected count patched to 5."""
    root = tmp_path / "data"
    for n in range(1, 6):
        write(root / f"data/Train/Derain/rainy/rain-{n}.png", n)
        write(root / f"data/Train/Derain/gt/norain-{n}.png", n)
    set_count(monkeypatch, "rain100l-train", 5)
    return root


def test_missing_partner_refused_then_allowed_partial(derain):
    (derain / "data/Train/Derain/gt/norain-2.png").unlink()
    with pytest.raises(UserError) as e:
        find_training_set("rain100l-train", str(derain))
    msg = str(e.value)
    assert msg.startswith("rain100l-train: 1 of 5 pairs missing their clean partner "
                          "(e.g. rainy/rain-2.png -> gt/norain-2.png)") and "--allow-partial" in msg
    assert "\n" not in msg
    found = find_training_set("rain100l-train", str(derain), allow_partial=True)
    assert [d.name for d, _c in found.pairs] == ["rain-1.png", "rain-3.png", "rain-4.png", "rain-5.png"]
    assert found.problems == ("missing-partner: rainy/rain-2.png has no clean partner gt/norain-2.png",)


def test_extra_clean_file_unexpected_file_and_count(derain):
    write(derain / "data/Train/Derain/gt/norain-7.png")
    write(derain / "data/Train/Derain/rainy/rain-3 (copy).png")
    with pytest.raises(UserError) as e:
        find_training_set("rain100l-train", str(derain))
    msg = str(e.value)
    assert "1 clean files without a degraded partner (e.g. gt/norain-7.png)" in msg
    assert "1 files not following the naming rule 'rainy/rain-N.png -> gt/norain-N.png' (e.g. rainy/rain-3 (copy).png)" in msg
    (derain / "data/Train/Derain/rainy/rain-5.png").unlink()
    (derain / "data/Train/Derain/gt/norain-5.png").unlink()
    (derain / "data/Train/Derain/gt/norain-7.png").unlink()
    (derain / "data/Train/Derain/rainy/rain-3 (copy).png").unlink()
    with pytest.raises(UserError, match=r"rain100l-train: 4 complete pairs found, 5 expected"):
        find_training_set("rain100l-train", str(derain))


def test_flat_raintrainl_strictness(tmp_path, monkeypatch):
    folder = tmp_path / "RainTrainL"
    for n in (1, 2, 3):
        write(folder / f"rain-{n}.png")
        write(folder / f"norain-{n}.png")
    write(folder / "rainstreak-1.png")  # JORDER mask: ignored
    write(folder / "norain-9.png")  # no rain-9: extra
    write(folder / "notes.png")  # off the rule: unexpected
    set_count(monkeypatch, "rain100l-train", 3)
    with pytest.raises(UserError) as e:
        find_training_set("rain100l-train", str(tmp_path))
    msg = str(e.value)
    assert "1 clean files without a degraded partner (e.g. norain-9.png)" in msg
    assert "1 files not following the naming rule" in msg and "notes.png" in msg
    assert "rainstreak-1.png" not in msg and "norain-1.png" not in msg


def test_duplicate_ids(tmp_path, monkeypatch):
    ots = tmp_path / "OTS"
    write(ots / "clear/0025.jpg")
    write(ots / "haze/part1/0025_0.8_0.04.jpg")
    write(ots / "haze/part2/0025_0.8_0.04.jpg")
    with pytest.raises(UserError, match=r"ots-train: 1 duplicate image ids \(e.g. haze/part2/0025_0.8_0.04.jpg\)"):
        find_training_set("ots-train", str(tmp_path))
    denoise = tmp_path / "Train/Denoise"
    write(denoise / "00012.bmp")
    write(denoise / "00012.png")
    write(denoise / "5096.jpg")
    set_count(monkeypatch, "bsd400+wed", 3)
    with pytest.raises(UserError, match=r"bsd400\+wed: 1 duplicate image ids \(e.g. 00012.png\)"):
        find_training_set("bsd400+wed", str(tmp_path))


def test_ots_without_fixed_count_refuses_a_partial_copy(tmp_path):
    """Only part1 extracted: the clear images of the other parts have no hazy partner."""
    ots = tmp_path / "OTS"
    for n in ("0025", "3068"):
        write(ots / f"clear/{n}.jpg")
    write(ots / "haze/part1/0025_0.8_0.04.jpg")
    with pytest.raises(UserError, match=r"1 clean files without a degraded partner \(e.g. clear/3068.jpg\)"):
        find_training_set("ots-train", str(tmp_path))
    found = find_training_set("ots-train", str(tmp_path), allow_partial=True)
    assert found.expected is None and found.count == 1 and found.clean_count == 1
    write(ots / "haze/part2/3068_1_0.2.jpg")
    write(ots / "haze/part2/3068_0.9_0.2.jpg")
    found = find_training_set("ots-train", str(tmp_path))
    assert (found.count, found.clean_count, found.layout) == (3, 2, "official")
    (ots / "clear/3068.jpg").unlink()
    with pytest.raises(UserError, match=r"2 of the pairs missing their clean partner "
                                        r"\(e.g. haze/part2/3068_0.9_0.2.jpg -> clear/3068.\{jpg,png,jpeg\}\)"):
        find_training_set("ots-train", str(tmp_path))


def test_not_found_names_every_folder_and_the_download(tmp_path, monkeypatch):
    with pytest.raises(UserError) as e:
        find_training_set("gopro-train", str(tmp_path))
    msg = str(e.value)
    assert msg.startswith(f"gopro-train: not found under data root {tmp_path} (searched official: GOPRO_Large/train")
    assert "adair: data/Train/Deblur, Train/Deblur" in msg and "get it from: GOPRO_Large (Nah et al.), train split" in msg
    assert "\n" not in msg
    monkeypatch.delenv("ABAIR_DATA", raising=False)
    with pytest.raises(UserError, match=r"lol-v1-train: no data root given; pass --data-root DIR .*training sets"):
        find_training_set("lol-v1-train", None)
    with pytest.raises(UserError, match=r"--dataset-path gopro-train=.* is not a folder"):
        find_training_set("gopro-train", None, {"gopro-train": str(tmp_path / "nope")})


def test_unknown_and_test_set_names(tmp_path):
    with pytest.raises(UserError, match=r"unknown training set 'rain100l-trian' \(did you mean 'rain100l-train'\?\)"):
        find_training_set("rain100l-trian", str(tmp_path))
    with pytest.raises(UserError, match=r"'rain100l' is a test set, not a training set; training sets: div2k-train"):
        find_training_set("rain100l", str(tmp_path))


# --- check and list --------------------------------------------------------------------------------


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    """An LSDIR tree of 12 images in two shard folders (count patched to 12)."""
    root = tmp_path / "data"
    for n in range(1, 13):
        write(root / f"LSDIR/HR/train/{1000 * (1 + (n - 1) // 10):07d}/{n:07d}.png", n)
    set_count(monkeypatch, "lsdir-train", 12)
    return root


def test_check_decodes_and_reports_unreadable_files(corpus, capsys):
    assert run_cmd(["datasets", "check", "lsdir-train", "--data-root", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "lsdir-train: ok  layout official at" in out and "images: 12 found / 12 expected" in out
    bad = corpus / "LSDIR/HR/train/0002000/0000011.png"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated
    assert run_cmd(["datasets", "check", "lsdir-train", "--data-root", str(corpus)]) == 1
    out = capsys.readouterr().out
    assert "lsdir-train: BROKEN" in out and "- unreadable: 0002000/0000011.png: " in out


def test_check_limit_decodes_an_even_sample(corpus, capsys):
    bad = corpus / "LSDIR/HR/train/0001000/0000002.png"
    bad.write_bytes(b"not a png")
    assert run_cmd(["datasets", "check", "lsdir-train", "--data-root", str(corpus), "--limit", "4"]) == 0
    out = capsys.readouterr().out  # every 3rd image: 1, 4, 7, 10; 2 is not decoded
    assert "decoded: a sample of 4 of 12 images (--limit)" in out and "unreadable" not in out
    assert run_cmd(["datasets", "check", "lsdir-train", "--data-root", str(corpus), "--limit", "12"]) == 1
    out = capsys.readouterr().out
    assert "- unreadable: 0001000/0000002.png" in out and "decoded: a sample" not in out
    assert run_cmd(["datasets", "check", "lsdir-train", "--data-root", str(corpus), "--limit", "0"]) == 2


def test_check_split_and_ots_count_line(tmp_path, corpus, capsys):
    for n in ("0025", "3068"):
        write(corpus / f"OTS/clear/{n}.jpg")
        write(corpus / f"OTS/haze/part1/{n}_0.8_0.04.jpg")
        write(corpus / f"OTS/haze/part1/{n}_1_0.2.jpg")
    assert run_cmd(["datasets", "check", "--split", "train", "--data-root", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "ots-train: ok  layout official" in out and "pairs: 4 found (2 distinct clean images; no fixed count)" in out
    assert "lsdir-train" not in out and "rain100l:" not in out
    n_train = sum(spec.split == "train" for spec in table.SETS.values())
    assert f"checked {n_train} sets: 1 ok, 0 broken, {n_train - 1} not found" in out
    assert run_cmd(["datasets", "check", "--split", "all", "--data-root", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "lsdir-train: ok" in out and "ots-clean: ok" in out and "ots-train: ok" in out and "rain100l: NOT FOUND" in out
    assert "images: 2 found (no fixed count)" in out  # ots-clean


def test_progress_lines_on_stderr_for_large_sets(capsys):
    from bench.commands.datasets import _progress

    for done in range(1, 2501):
        _progress("lsdir-train", done, 2500)
    _progress("div2k-train", 800, 800)  # small sets: silent
    assert capsys.readouterr().err.splitlines() == [
        "lsdir-train: decoded 1000/2500", "lsdir-train: decoded 2000/2500", "lsdir-train: decoded 2500/2500"]


def test_list_groups_training_sets(capsys):
    import json

    assert run_cmd(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    test_part, _, rest = out.partition("training sets (")
    assert "rain100l-train" not in test_part and "rain100l " in test_part
    train_part, _, corpora = rest.partition("clean corpora (")
    assert "rain100l-train" in train_part and "ots-train" in train_part and "div2k-train" not in train_part
    assert "lsdir-train" in corpora and "84991" in corpora
    assert run_cmd(["datasets", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["datasets"]}
    assert rows["rain100l-train"]["split"] == "train" and rows["div2k-train"]["split"] == "corpus"
    assert rows["rain100l"]["split"] == "test" and rows["ots-train"]["count"] is None


# --- training rows are not test sets ---------------------------------------------------------------


def test_training_rows_are_not_test_sets(tmp_path, capsys):
    training = set(training_set_names())
    assert training and all(name in DATASETS for name in training)
    for members in SUITES.values():
        assert not training & set(members)
    with pytest.raises(UserError, match=r"'rain100l-train' is a training set, not a test set: train on it "
                                        r"\('abair-bench train \.\.\. --train-data rain=rain100l-train'\)"):
        resolve_names(None, ["rain100l", "rain100l-train"])
    with pytest.raises(UserError, match=r"'div2k-train' is a clean corpus, not a test set: .*--clean-data div2k-train"):
        get_dataset("div2k-train", DatasetOptions(data_root=str(tmp_path)))
    from bench import cli
    argv = ["run", "--datasets", "gopro-train", "--data-root", str(tmp_path), "--methods", "identity",
            "--out", str(tmp_path / "run"), "--no-progress"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["abair-bench: error: 'gopro-train' is a training set, not a test set: train on it "
                   "('abair-bench train ... --train-data blur=gopro-train') or choose a test set "
                   "('abair-bench datasets list')"]
    assert not (tmp_path / "run").exists()


def test_training_module_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys; import bench.datasets.training as t; t.training_set_names(); "
            "print(','.join(m for m in ('torch', 'PIL', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert "torch" not in out and "PIL" not in out


def test_check_a_paired_training_set(derain, capsys):
    assert run_cmd(["datasets", "check", "rain100l-train", "--data-root", str(derain)]) == 0
    out = capsys.readouterr().out
    assert "rain100l-train: ok  layout promptir" in out and "pairs: 5 found / 5 expected" in out
    Image.fromarray(np.zeros((H, W + 1, 3), np.uint8)).save(derain / "data/Train/Derain/gt/norain-3.png")
    (derain / "data/Train/Derain/rainy/rain-4.png").write_bytes(b"\x89PNG broken")
    assert run_cmd(["datasets", "check", "rain100l-train", "--data-root", str(derain)]) == 1
    out = capsys.readouterr().out
    assert "- size-mismatch: rainy/rain-3.png is 8x6 but gt/norain-3.png is 9x6" in out
    assert "- unreadable: rainy/rain-4.png: " in out
