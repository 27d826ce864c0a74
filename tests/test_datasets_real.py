"""Real test sets: discovery in every layout, strict pairing, problems named by file, test-time noise
seedings (PromptIR byte for byte), JPEG/bit-depth/generated sets, Hugging Face export and import.

Every fixture is a tiny tree (24x16 images) written at test time with the sets' exact file names.
Expected values are computed here, independently of the loaders: pixels read straight from the
files with Pillow, PSNR with numpy, noise and JPEG re-stated from their recipes.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from abair.errors import UserError
from bench.datasets import DatasetOptions, get_dataset, resolve_names
from bench.datasets.real import table

W, H = 24, 16


# --- fixture helpers --------------------------------------------------------------------------


def clean_image(i: int, w: int = W, h: int = H) -> np.ndarray:
    """A distinct clean image per index, values in 40..200 (so +delta never clips)."""
    rng = np.random.default_rng(1000 + i)
    return rng.integers(40, 201, size=(h, w, 3), dtype=np.uint8)


def delta(i: int) -> int:
    return 1 + i % 9


def write(path: Path, image: np.ndarray, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(image if mode == "RGB" else image[..., 0], mode)
    ext = path.suffix.lower()
    if ext in (".jpg", ".jpeg"):
        img.save(path, "JPEG", quality=95)
    elif ext in (".tif", ".tiff"):
        img.save(path, "TIFF")
    elif ext == ".bmp":
        img.save(path, "BMP")
    else:
        img.save(path, "PNG")


def read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0**2 / mse)


def build_pairs(root: Path, folder: str, files: list[tuple[str, str, str]]) -> dict[str, tuple[Path, Path, int]]:
    """Write ``(degraded rel, clean rel, id)`` pairs under root/folder; degraded = clean + delta."""
    out = {}
    for i, (deg, cln, image_id) in enumerate(files):
        c = clean_image(i)
        write(root / folder / cln, c)
        write(root / folder / deg, c + np.uint8(delta(i)))
        out[image_id] = (root / folder / deg, root / folder / cln, delta(i))
    return out


def build_clean(root: Path, folder: str, names: list[str], grey: bool = False) -> dict[str, Path]:
    out = {}
    for i, name in enumerate(names):
        image = clean_image(i, w=W + 8 * (i % 3), h=H + 5 * (i % 2))
        write(root / folder / name, image, "L" if grey else "RGB")
        out[Path(name).stem] = root / folder / name
    return out


def io_files(names, inp="input", tgt="target"):
    return [(f"{inp}/{n}", f"{tgt}/{n}", Path(n).stem) for n in names]


def set_count(monkeypatch, name: str, n: int | None) -> None:
    monkeypatch.setitem(table.SETS, name, dataclasses.replace(table.SETS[name], count=n))


LOL_IDS = ["1", "22", "23", "55", "79", "111", "146", "179", "493", "547", "665", "669", "748", "778", "780"]
GOPRO_NAMES = ["GOPR0384_11_00_000001.png", "GOPR0384_11_00_000002.png", "GOPR0410_11_00_000010.png"]
CDD_SUB = table.CDD11_SUBSETS

# (dataset, layout) -> (folder under the data root, [(degraded, clean, image id)])
PAIRED_CASES = {
    ("rain100l", "official"): ("Rain100L", [(f"rainy/rain-{i:03d}.png", f"norain-{i:03d}.png", f"rain-{i:03d}")
                                            for i in (1, 2, 10, 100)]),
    ("rain100l", "official-gt"): ("Rain100L", [(f"rainy/rain-{i}.png", f"gt/norain-{i}.png", f"rain-{i}")
                                               for i in (1, 2, 3)]),
    ("rain100l", "restormer"): ("Deraining/Datasets/test/Rain100L", io_files(["1.png", "2.png", "10.png"])),
    ("rain100l", "promptir"): ("test/derain/Rain100L", io_files(["rain-001.png", "rain-002.png"])),
    ("rain100l", "adair"): ("data/test/derain/Rain100L", io_files(["1.png", "2.png"])),
    ("rain100l", "instructir"): ("data/Rain/rain_test/Rain100L", io_files(["1.png", "2.png"])),
    ("rain100h", "official"): ("Rain100H", [(f"rainy/rain-{i:03d}.png", f"norain-{i:03d}.png", f"rain-{i:03d}")
                                            for i in (1, 2, 3)]),
    ("rain100h", "restormer"): ("Deraining/Datasets/test/Rain100H", io_files(["1.png", "2.png"])),
    ("sots-outdoor", "official"): ("SOTS/outdoor", [("hazy/0001_0.8_0.2.jpg", "gt/0001.png", "0001"),
                                                    ("hazy/0002_0.8_0.08.jpg", "gt/0002.png", "0002"),
                                                    ("hazy/0010_0.95_0.16.jpg", "gt/0010.png", "0010")]),
    ("sots-outdoor", "promptir"): ("test/dehaze", [("input/0001_0.8_0.2.jpg", "target/0001.png", "0001"),
                                                  ("input/0002_0.8_0.08.jpg", "target/0002.png", "0002")]),
    ("sots-outdoor", "adair"): ("data/test/dehaze", [("input/0001_0.8_0.2.jpg", "target/0001.png", "0001"),
                                                    ("input/0003_1_0.2.jpg", "target/0003.png", "0003")]),
    ("sots-outdoor", "instructir"): ("data/SOTS-OUT", [("IN/0001.jpg", "GT/0001.jpg", "0001"),
                                                       ("IN/0002.jpg", "GT/0002.jpg", "0002")]),
    ("gopro", "official"): ("GOPRO_Large/test", [
        ("GOPR0384_11_00/blur/000001.png", "GOPR0384_11_00/sharp/000001.png", "GOPR0384_11_00_000001"),
        ("GOPR0384_11_00/blur/000002.png", "GOPR0384_11_00/sharp/000002.png", "GOPR0384_11_00_000002"),
        ("GOPR0410_11_00/blur/000010.png", "GOPR0410_11_00/sharp/000010.png", "GOPR0410_11_00_000010"),
    ]),
    ("gopro", "restormer"): ("Motion_Deblurring/Datasets/test/GoPro", io_files(GOPRO_NAMES)),
    ("gopro", "promptir"): ("test/deblur/gopro", io_files(GOPRO_NAMES)),
    ("gopro", "adair"): ("data/test/deblur/gopro", io_files(GOPRO_NAMES)),
    ("gopro", "instructir"): ("data/gopro_test/GoPro", io_files(GOPRO_NAMES)),
    ("hide", "official"): ("HIDE_dataset", [("test/test-close-ups/1fromGOPR0950.png", "GT/1fromGOPR0950.png", "1fromGOPR0950"),
                                            ("test/test-long-shot/10fromGOPR1082.png", "GT/10fromGOPR1082.png", "10fromGOPR1082")]),
    ("hide", "restormer"): ("Motion_Deblurring/Datasets/test/HIDE", io_files(["1fromGOPR0950.png", "2fromGOPR0950.png"])),
    ("lol-v1", "official"): ("LOLdataset/eval15", io_files([f"{n}.png" for n in LOL_IDS], "low", "high")),
    ("lol-v1", "promptir"): ("test/enhance/lol", io_files([f"{n}.png" for n in LOL_IDS])),
    ("lol-v1", "adair"): ("data/test/enhance/lol", io_files([f"{n}.png" for n in LOL_IDS])),
    ("lol-v1", "instructir"): ("data/LOL/eval15", io_files([f"{n}.png" for n in LOL_IDS], "low", "high")),
    ("lol-v1", "flat"): ("LOL", io_files([f"{n}.png" for n in LOL_IDS], "low", "high")),
    ("lol-v2-real", "official"): ("LOL-v2/Real_captured/Test", [(f"Low/low{n:05d}.png", f"Normal/normal{n:05d}.png", f"{n:05d}")
                                                                for n in (690, 691, 778)]),
    ("snow100k-s", "official"): ("Snow100K/test/Snow100K-S", io_files(["beautiful_smile_00001.jpg", "city_read_00044.jpg"],
                                                                      "synthetic", "gt")),
    ("snow100k-m", "official"): ("test/Snow100K-M", io_files(["beautiful_smile_00003.jpg", "winter_00002.jpg"], "synthetic", "gt")),
    ("snow100k-l", "official"): ("media/jdway/GameSSD/overlapping/test/Snow100K-L",
                                 io_files(["beautiful_smile_00005.jpg", "winter_00009.jpg"], "synthetic", "gt")),
    ("csd", "official"): ("CSD/Test", io_files(["1.tif", "2.tif", "10.tif"], "Snow", "Gt")),
    ("csd", "test2000"): ("test2000", io_files(["1.tif", "2.tif"], "Snow", "Gt")),
    ("cdd11", "official"): ("CDD-11_test", [(f"{s}/{n:06d}.png", f"clear/{n:06d}.png", f"{s}-{n:06d}")
                                            for s in CDD_SUB for n in (1, 2)]),
    **{(f"cdd11-{s.replace('_', '+')}", "official"): ("CDD-11_test", [(f"{s}/{n:06d}.png", f"clear/{n:06d}.png", f"{n:06d}")
                                                                      for n in (1, 2, 3)]) for s in CDD_SUB},
}


def build_case(root: Path, name: str, layout: str):
    folder, files = PAIRED_CASES[(name, layout)]
    if name == "cdd11":
        # every subset shares clear/: write each clean once, degraded = clean + delta(index of the number)
        out = {}
        for deg, cln, image_id in files:
            n = int(Path(cln).stem)
            c = clean_image(n)
            write(root / folder / cln, c)
            write(root / folder / deg, c + np.uint8(delta(n)))
            out[image_id] = (root / folder / deg, root / folder / cln, delta(n))
        return out
    return build_pairs(root, folder, files)


def check_pairs(dataset, expected: dict[str, tuple[Path, Path, int]]) -> None:
    """Ids, pixels and PSNR of every pair against the files themselves."""
    assert sorted(dataset.image_ids()) == sorted(expected)
    for image_id, (deg, cln, d) in expected.items():
        pair = dataset.load(image_id)
        assert pair.image_id == image_id and pair.dataset == dataset.name
        np.testing.assert_array_equal(pair.clean, read(cln))
        np.testing.assert_array_equal(pair.degraded, read(deg))
        assert psnr(pair.degraded, pair.clean) == pytest.approx(psnr(read(deg), read(cln)), abs=1e-12)
        if deg.suffix == ".png":  # lossless: the closed form of a constant offset
            assert psnr(pair.degraded, pair.clean) == pytest.approx(20 * math.log10(255 / d), abs=1e-9)


# --- every set in every layout ------------------------------------------------------------------


@pytest.mark.parametrize("name, layout", list(PAIRED_CASES), ids=[f"{n}-{lay}" for n, lay in PAIRED_CASES])
def test_paired_set_discovery_pairing_and_values(tmp_path, monkeypatch, name, layout):
    expected = build_case(tmp_path, name, layout)
    if name == "gopro" and layout == "official":  # blur_gamma must be ignored
        write(tmp_path / "GOPRO_Large/test/GOPR0384_11_00/blur_gamma/000001.png", clean_image(99))
    if name == "hide" and layout == "official":  # GT also holds training images: not an extra file
        write(tmp_path / "HIDE_dataset/GT/99fromGOPR0000.png", clean_image(98))
    if len(expected) != table.SETS[name].count:
        set_count(monkeypatch, name, len(expected))
    dataset = get_dataset(name, DatasetOptions(data_root=str(tmp_path)))
    info = dataset.describe()
    assert info["layout"] == layout
    assert Path(info["root"]) == tmp_path / PAIRED_CASES[(name, layout)][0]
    assert info["count"] == info["expected"] == len(expected)
    assert info["missing"] == [] and "problems" not in info
    assert len(info["files_sha256"]) == 64 and len(info["sha256"]) == 64
    assert dataset.task == table.SETS[name].task
    check_pairs(dataset, expected)


def test_real_count_of_lol_v1_needs_no_patch(tmp_path):
    expected = build_case(tmp_path, "lol-v1", "official")
    dataset = get_dataset("lol-v1", DatasetOptions(data_root=str(tmp_path)))
    assert len(dataset) == 15 == table.SETS["lol-v1"].count
    assert dataset.image_ids() == LOL_IDS  # natural order, not "1, 111, 146, ..."
    check_pairs(dataset, expected)


def test_dataset_path_override_and_case_insensitive_folders(tmp_path, monkeypatch):
    set_count(monkeypatch, "rain100l", 2)
    expected = build_pairs(tmp_path / "elsewhere", "my rain", io_files(["a.png", "b.png"]))
    ds = get_dataset("rain100l", DatasetOptions(data_root=None, dataset_paths={"rain100l": str(tmp_path / "elsewhere/my rain")}))
    assert ds.describe()["layout"] == "restormer"
    check_pairs(ds, expected)
    expected = build_pairs(tmp_path / "root", "rain100L", [("Rainy/rain-001.png", "norain-001.png", "rain-001"),
                                                          ("Rainy/rain-002.PNG", "norain-002.png", "rain-002")])
    ds = get_dataset("rain100l", DatasetOptions(data_root=str(tmp_path / "root")))
    assert ds.describe()["layout"] == "official"
    check_pairs(ds, expected)


def test_missing_data_root_names_the_set_the_layouts_and_the_options(tmp_path, monkeypatch):
    monkeypatch.delenv("ABAIR_DATA", raising=False)
    with pytest.raises(UserError) as e:
        get_dataset("rain100l", DatasetOptions())
    msg = str(e.value)
    for part in ("rain100l", "--data-root", "ABAIR_DATA", "--dataset-path rain100l=PATH", "restormer:",
                 "Deraining/Datasets/test/Rain100L", "promptir: test/derain/Rain100L", "instructir:"):
        assert part in msg
    with pytest.raises(UserError, match=r"sots-outdoor: not found under data root .*official: SOTS/outdoor"):
        get_dataset("sots-outdoor", DatasetOptions(data_root=str(tmp_path)))
    with pytest.raises(UserError, match="is not a folder"):
        get_dataset("gopro", DatasetOptions(data_root=str(tmp_path / "nope")))
    (tmp_path / "x").mkdir()
    with pytest.raises(UserError, match=r"cbsd68-s25: no known layout in --dataset-path cbsd68="):
        get_dataset("cbsd68-s25", DatasetOptions(dataset_paths={"cbsd68": str(tmp_path / "x")}))


# --- problems, each named by file ---------------------------------------------------------------


@pytest.fixture
def rain_tree(tmp_path, monkeypatch):
    set_count(monkeypatch, "rain100l", 10)
    files = [(f"rainy/rain-{i:03d}.png", f"norain-{i:03d}.png", f"rain-{i:03d}") for i in range(1, 11)]
    build_pairs(tmp_path, "Rain100L", files)
    return tmp_path


def run_cmd(argv: list[str]) -> int:
    """The ``datasets`` sub-command as the CLI runs it (UserError -> exit 2)."""
    from bench.commands import datasets as cmd

    parser = argparse.ArgumentParser(prog="abair-bench")
    cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"abair-bench: error: {exc}")
        return 2


def test_missing_partner_refused_then_allowed_partial(rain_tree, capsys):
    (rain_tree / "Rain100L/norain-007.png").unlink()
    with pytest.raises(UserError) as e:
        get_dataset("rain100l", DatasetOptions(data_root=str(rain_tree)))
    assert str(e.value) == (
        f"rain100l: 1 of 10 pairs missing their clean partner (e.g. rainy/rain-007.png -> norain-007.png) under "
        f"{rain_tree / 'Rain100L'} (layout official); fix the files (see 'abair-bench datasets check rain100l') "
        "or pass --allow-partial"
    )
    ds = get_dataset("rain100l", DatasetOptions(data_root=str(rain_tree), allow_partial=True))
    assert len(ds) == 9 and "rain-007" not in ds.image_ids()
    info = ds.describe()
    assert info["missing"] == ["rain-007"] and info["count"] == 9 and info["expected"] == 10
    assert info["problems"] == ["missing-partner: rainy/rain-007.png has no clean partner norain-007.png"]
    assert run_cmd(["datasets", "check", "rain100l", "--data-root", str(rain_tree)]) == 1
    out = capsys.readouterr().out
    assert "rain100l: BROKEN  layout official" in out and "pairs: 9 found / 10 expected" in out
    assert "- missing-partner: rainy/rain-007.png has no clean partner norain-007.png" in out


def test_check_reports_every_kind_of_problem_with_the_file(rain_tree, capsys):
    base = rain_tree / "Rain100L"
    write(base / "norain-011.png", clean_image(50))  # extra clean file
    write(base / "rainy/rain-005 (copy).png", clean_image(51))  # not following the rule
    write(base / "norain-003.png", clean_image(3, w=W + 1))  # size mismatch
    data = (base / "rainy/rain-004.png").read_bytes()
    (base / "rainy/rain-004.png").write_bytes(data[: len(data) // 2])  # truncated
    (base / "Thumbs.db").write_bytes(b"junk")  # ignored
    assert run_cmd(["datasets", "check", "rain100l", "--data-root", str(rain_tree)]) == 1
    out = capsys.readouterr().out
    assert "- extra-file: norain-011.png has no degraded partner" in out
    assert "- unexpected-file: rainy/rain-005 (copy).png does not follow the naming rule 'rainy/rain-NNN.png -> norain-NNN.png'" in out
    assert "- size-mismatch: rainy/rain-003.png is 24x16 but norain-003.png is 25x16" in out
    assert "- unreadable: rainy/rain-004.png: " in out and "truncated" in out.lower()
    assert "Thumbs.db" not in out
    # loading refuses the names-level problems in one line naming the first file of each kind
    with pytest.raises(UserError) as e:
        get_dataset("rain100l", DatasetOptions(data_root=str(rain_tree)))
    msg = str(e.value)
    assert "1 clean files without a degraded partner (e.g. norain-011.png)" in msg
    assert "1 files not following the naming rule" in msg and "rain-005 (copy).png" in msg
    # pixel-level problems surface when the pair is read
    ds = get_dataset("rain100l", DatasetOptions(data_root=str(rain_tree), allow_partial=True))
    with pytest.raises(UserError, match=r"rain100l: rainy/rain-003.png is 24x16 but its clean partner norain-003.png is 25x16"):
        ds.load("rain-003")
    with pytest.raises(UserError, match=r"rain100l: cannot read rainy/rain-004.png"):
        ds.load("rain-004")


def test_count_mismatch_and_clean_check(rain_tree, monkeypatch, capsys):
    assert run_cmd(["datasets", "check", "rain100l", "--data-root", str(rain_tree)]) == 0
    assert "rain100l: ok  layout official" in capsys.readouterr().out
    set_count(monkeypatch, "rain100l", 12)
    with pytest.raises(UserError, match=r"10 complete pairs found, 12 expected"):
        get_dataset("rain100l", DatasetOptions(data_root=str(rain_tree)))
    assert run_cmd(["datasets", "check", "rain100l", "lol-v1", "--data-root", str(rain_tree)]) == 1
    out = capsys.readouterr().out
    assert "- count: 10 complete pairs found, 12 expected" in out and "lol-v1: NOT FOUND" in out


def test_check_without_names_skips_absent_sets_and_list_shows_suites(rain_tree, capsys):
    assert run_cmd(["datasets", "check", "--data-root", str(rain_tree)]) == 0
    out = capsys.readouterr().out
    assert "rain100l: ok" in out and "gopro: NOT FOUND" in out
    n_test = sum(spec.is_test for spec in table.SETS.values())  # training sets: --split train|corpus|all
    assert f"checked {n_test} sets: 1 ok, 0 broken, {n_test - 1} not found" in out
    assert run_cmd(["datasets", "list", "--json"]) == 0
    import json

    listing = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in listing["datasets"]}
    assert rows["rain100l"]["count"] == 100 and rows["rain100l"]["task"] == "derain"
    assert rows["mini-derain"]["suites"] == ["mini"]
    assert listing["suites"]["paper-5deg"] == ["rain100l", "sots-outdoor", "cbsd68-s25", "gopro", "lol-v1"]
    assert run_cmd(["datasets", "check", "rain100l", "--dataset-path", "rain100x=/tmp"]) == 2
    assert "unknown dataset in --dataset-path 'rain100x' (did you mean 'rain100l'?)" in capsys.readouterr().out


# --- test-time noise -----------------------------------------------------------------------------

BSD_NAMES = ["3096.jpg", "12084.jpg", "101085.png", "8023.png", "119082.jpg"]


def test_per_image_noise_reproduces_each_image_alone(tmp_path):
    from abair.degradations import seed_from_string

    files = build_clean(tmp_path, "CBSD68/original_png", [f"{i:04d}.png" for i in range(68)])
    opts = DatasetOptions(data_root=str(tmp_path))
    ds = get_dataset("cbsd68-s25", opts)
    assert ds.describe()["layout"] == "official" and len(ds) == 68 and ds.describe()["noise_seeding"] == "per-image"
    for image_id in ("0007", "0042"):
        clean = read(files[image_id])
        rng = np.random.default_rng(seed_from_string("cbsd68-s25", image_id, "noise-s25"))
        expected = np.clip(clean + rng.standard_normal(clean.shape) * 25, 0, 255).astype(np.uint8)
        pair = ds.load(image_id)
        np.testing.assert_array_equal(pair.clean, clean)
        np.testing.assert_array_equal(pair.degraded, expected)
        np.testing.assert_array_equal(get_dataset("cbsd68-s25", opts).load(image_id).degraded, expected)
    residual = ds.load("0000").degraded.astype(float) - ds.load("0000").clean
    assert 20 < residual.std() < 30  # sigma 25 (slightly less after clipping/truncation)
    assert not np.array_equal(get_dataset("cbsd68-s15", opts).load("0000").degraded, ds.load("0000").degraded)


def promptir_recipe(folder: Path) -> dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]:
    """PromptIR's test.py / DenoiseTestDataset, re-stated: one seed, sigma 15/25/50, os.listdir order."""
    saved = np.random.get_state()
    np.random.seed(0)
    out = {}
    try:
        names = os.listdir(folder)
        for sigma in (15, 25, 50):
            for name in names:
                img = np.array(Image.open(os.path.join(folder, name)).convert("RGB"))
                h, w = img.shape[:2]
                ch, cw = h % 16, w % 16
                clean = img[ch // 2 : h - ch + ch // 2, cw // 2 : w - cw + cw // 2, :]
                noise = np.random.randn(*clean.shape)
                noisy = np.clip(clean + noise * sigma, 0, 255).astype(np.uint8)
                out[(sigma, name.split(".")[0])] = (noisy, clean)
    finally:
        np.random.set_state(saved)
    return out


@pytest.mark.parametrize("layout_folder", ["test/denoise/bsd68", "data/test/denoise/bsd68"])
def test_promptir_noise_seeding_is_byte_for_byte(tmp_path, monkeypatch, layout_folder):
    for sigma in (15, 25, 50):
        set_count(monkeypatch, f"cbsd68-s{sigma}", len(BSD_NAMES))
    build_clean(tmp_path, layout_folder, BSD_NAMES)
    expected = promptir_recipe(tmp_path / layout_folder)
    opts = DatasetOptions(data_root=str(tmp_path), noise_seeding="promptir")
    for sigma in (15, 25, 50):
        ds = get_dataset(f"cbsd68-s{sigma}", opts)
        for image_id in reversed(ds.image_ids()):  # any order: each image is regenerated alone
            pair = ds.load(image_id)
            noisy, clean = expected[(sigma, image_id)]
            assert pair.degraded.tobytes() == noisy.tobytes()
            assert pair.clean.tobytes() == clean.tobytes()
            assert pair.clean.shape[0] % 16 == 0 and pair.clean.shape[1] % 16 == 0
        recipe = ds.describe()["recipe"]
        assert recipe["noise_seeding"] == "promptir"
        assert recipe["order"] == [n.split(".")[0] for n in os.listdir(tmp_path / layout_folder)]


# --- JPEG, bit depth and generated sets ------------------------------------------------------------

LIVE1_NAMES = ["bikes", "building2", "buildings", "caps", "carnivaldolls", "cemetry", "churchandcapitol",
               "coinsinfountain", "dancers", "flowersonih35", "house", "lighthouse", "lighthouse2", "manfishing",
               "monarch", "ocean", "paintedhouse", "parrots", "plane", "rapids", "sailing1", "sailing2", "sailing3",
               "sailing4", "statue", "stream", "studentsculpture", "woman", "womanhat"]


def pillow_jpeg(image: np.ndarray, quality: int, grey: bool) -> np.ndarray:
    buf = io.BytesIO()
    if grey:
        Image.fromarray(image[..., 0], "L").save(buf, "JPEG", quality=quality)
    else:
        Image.fromarray(image, "RGB").save(buf, "JPEG", quality=quality, subsampling=2)
    return read(io.BytesIO(buf.getvalue()))


@pytest.mark.parametrize(
    "name, folder, names, grey",
    [
        ("live1-q10", "LIVE1", [f"{n}.bmp" for n in LIVE1_NAMES], False),
        ("live1-q20", "testsets/LIVE1", [f"{n}.bmp" for n in LIVE1_NAMES], False),
        ("classic5-q30", "classic5", ["baboon.bmp", "barbara.bmp", "boats.bmp", "lena.bmp", "peppers.bmp"], True),
        ("classic5-q40", "testsets/classic5", ["baboon.bmp", "barbara.bmp", "boats.bmp", "lena.bmp", "peppers.bmp"], True),
        ("bsds500-q20", "BSR/BSDS500/data/images/test", ["100007.jpg", "100039.jpg", "100099.jpg"], False),
    ],
)
def test_jpeg_sets_compress_at_test_time_with_a_recorded_codec(tmp_path, monkeypatch, name, folder, names, grey):
    if len(names) != table.SETS[name].count:
        set_count(monkeypatch, name, len(names))
    files = build_clean(tmp_path, folder, names, grey=grey)
    (tmp_path / folder / "Thumbs.db").write_bytes(b"x")
    quality = int(name.rsplit("q", 1)[1])
    ds = get_dataset(name, DatasetOptions(data_root=str(tmp_path)))
    assert len(ds) == len(names)
    for image_id, path in files.items():
        pair = ds.load(image_id)
        clean = read(path)
        np.testing.assert_array_equal(pair.clean, clean)
        np.testing.assert_array_equal(pair.degraded, pillow_jpeg(clean, quality, grey))
        if grey:
            assert (pair.degraded == pair.degraded[..., :1]).all()
    info = ds.describe()
    assert info["jpeg_codec"].startswith("Pillow ") and f"quality {quality}" in info["jpeg_codec"]


def test_kodak24_4bit_uses_the_project_operator(tmp_path):
    import torch

    from abair.degradations import apply, seed_from_string
    from abair.imageops import tensor_to_uint8, uint8_to_tensor

    files = build_clean(tmp_path, "Kodak24", [f"kodim{i:02d}.png" for i in range(1, 25)])
    ds = get_dataset("kodak24-4bit", DatasetOptions(data_root=str(tmp_path)))
    assert len(ds) == 24 and ds.image_ids()[0] == "kodim01"
    clean = read(files["kodim05"])
    x = apply("bitdepth", uint8_to_tensor(clean, dtype=torch.float64), seed_from_string("kodak24-4bit", "kodim05", "bitdepth"), bits=4)
    pair = ds.load("kodim05")
    np.testing.assert_array_equal(pair.degraded, tensor_to_uint8(x))
    assert len(np.unique(pair.degraded)) <= 16


@pytest.mark.parametrize(
    "name, source, op, params",
    [
        ("gopro-blur+noise25", ("gopro", "adair"), "noise", {"sigma": 25.0}),
        ("gopro-blur+jpeg20", ("gopro", "official"), "jpeg", {"quality": 20}),
        ("sots-haze+snow", ("sots-outdoor", "official"), "snow", {}),
    ],
)
def test_generated_mixed_sets_follow_their_seeded_recipe(tmp_path, monkeypatch, name, source, op, params):
    import torch

    from abair.degradations import apply, seed_from_string
    from abair.imageops import tensor_to_uint8, uint8_to_tensor

    expected = build_case(tmp_path, *source)
    set_count(monkeypatch, name, len(expected))
    ds = get_dataset(name, DatasetOptions(data_root=str(tmp_path)))
    assert ds.task == "mixed" and sorted(ds.image_ids()) == sorted(expected)
    image_id = sorted(expected)[-1]
    deg, cln, _ = expected[image_id]
    x = apply(op, uint8_to_tensor(read(deg), dtype=torch.float64), seed_from_string(name, image_id, op), **params)
    pair = ds.load(image_id)
    np.testing.assert_array_equal(pair.clean, read(cln))
    np.testing.assert_array_equal(pair.degraded, tensor_to_uint8(x))
    assert not np.array_equal(pair.degraded, read(deg))
    recipe = ds.describe()["recipe"]
    assert recipe["source"] == source[0] and recipe["steps"][0]["operator"] == op


# --- Hugging Face --------------------------------------------------------------------------------


def test_hf_export_round_trip(tmp_path, monkeypatch, rain_tree):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    out = tmp_path / "hf-rain"
    assert run_cmd(["datasets", "export", "rain100l", "--data-root", str(rain_tree), "--to", str(out)]) == 0
    src = get_dataset("rain100l", DatasetOptions(data_root=str(rain_tree)))
    name = f"hf:{out}"
    assert resolve_names(None, [name]) == [name]
    back = get_dataset(name, DatasetOptions())
    assert back.name == name and back.task == "derain" and back.degradations == ("rain",)
    assert back.image_ids() == src.image_ids()
    for image_id in src.image_ids():
        a, b = src.load(image_id), back.load(image_id)
        np.testing.assert_array_equal(a.degraded, b.degraded)
        np.testing.assert_array_equal(a.clean, b.clean)
    info = back.describe()
    assert info["layout"] == "huggingface" and info["count"] == 10
    assert info["exported_from"]["layout"] == "official" and info["exported_from"]["sha256"] == src.describe()["sha256"]
    import datasets

    raw = datasets.load_from_disk(str(out))
    assert raw.column_names == ["degraded", "clean", "image_id", "task"] and set(raw["task"]) == {"derain"}
    assert run_cmd(["datasets", "export", "rain100l", "--data-root", str(rain_tree), "--to", str(out)]) == 2


def test_hf_hub_id_fails_at_once_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match=r"hf:deepinv/CBSD68: not a local folder, and Hugging Face Hub downloads are off"):
        get_dataset("hf:deepinv/CBSD68", DatasetOptions())
    with pytest.raises(UserError, match="no such folder"):
        get_dataset("hf:/no/such/folder", DatasetOptions())


def test_mini_set_exports_to_hf(tmp_path):
    out = tmp_path / "mini"
    assert run_cmd(["datasets", "export", "mini-4to8bit", "--to", str(out)]) == 0
    back = get_dataset(f"hf:{out}")
    src = get_dataset("mini-4to8bit")
    assert back.image_ids() == src.image_ids() and back.task == "bitdepth"
    image_id = src.image_ids()[5]
    np.testing.assert_array_equal(back.load(image_id).degraded, src.load(image_id).degraded)


# --- the run command on a real set ---------------------------------------------------------------


def test_run_identity_on_an_official_tree_records_layout_and_files(rain_tree, tmp_path, capsys):
    import csv
    import json

    from bench import cli

    out = tmp_path / "run"
    argv = ["run", "--datasets", "rain100l", "--data-root", str(rain_tree), "--methods", "identity",
            "--out", str(out), "--no-progress"]
    assert cli.main(argv) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["datasets"]["rain100l"]
    assert entry["layout"] == "official" and entry["count"] == 10 and entry["root"] == str(rain_tree / "Rain100L")
    with open(out / "records.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["metric"] == "psnr"]
    assert len(rows) == 10
    # identity PSNR = degraded vs its own clean partner: a constant offset, 20 log10(255 / delta)
    # (a mis-paired clean image would be ~10 dB lower); the protocol works in float32
    by_id = {r["image_id"]: float(r["value"]) for r in rows}
    for i in range(10):
        assert by_id[f"rain-{i + 1:03d}"] == pytest.approx(20 * math.log10(255 / delta(i)), abs=1e-4)
    # a broken set: exit 2 with one line
    (rain_tree / "Rain100L/norain-002.png").unlink()
    capsys.readouterr()
    assert cli.main([*argv[:-3], "--out", str(tmp_path / "run2"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("abair-bench: error: rain100l: 1 of 10 pairs missing their clean partner")


def test_cbsd68_noise_needs_no_torch(tmp_path):
    import subprocess
    import sys

    build_clean(tmp_path, "CBSD68", [f"{i}.png" for i in range(68)])
    code = (
        "import sys\nfrom bench.datasets import get_dataset, DatasetOptions\n"
        "for s in ('per-image', 'promptir'):\n"
        f"    ds = get_dataset('cbsd68-s50', DatasetOptions(dataset_paths={{'cbsd68': {str(tmp_path / 'CBSD68')!r}}},"
        " noise_seeding=s))\n"
        "    ds.load('7'); ds.describe()\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_docs_cover_every_registered_set():
    text = (Path(__file__).parents[1] / "docs" / "DATASETS.md").read_text()
    for name, spec in table.SETS.items():
        base = name.rsplit("-q", 1)[0] if spec.testtime and spec.testtime[0] == "jpeg" else name
        assert f"`{base}" in text or f"`cdd11-{name.split('-', 1)[-1]}`" in text, name
    for layout in ("Restormer", "PromptIR", "AdaIR", "InstructIR", "promptir"):
        assert layout in text
