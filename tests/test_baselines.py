"""Classical baselines and the ``folder:`` method.

Each classical restorer must beat ``identity`` (mean PSNR) on its own task, measured on mini-suite
tiles degraded exactly as the suite does (``bench.datasets.mini.degrade``); PSNR is computed here
independently with scikit-image on float images. The building blocks (box mean, guided filter,
quantisation cells, JPEG quality estimate) are checked against closed forms or brute force.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from abair.errors import UserError
from abair.imageops import tensor_to_float_array, tensor_to_uint8, uint8_to_tensor
from baselines.base import RestoreContext
from bench.methods import METHODS, create_method

# one tile from each test-pool image plus one more astronaut tile: faces, texture, fur, flat areas
TILES = ("astronaut-r1c1", "astronaut-r2c2", "coffee-r1c2", "chelsea-r1c1")
CLASSICAL = ("nlm", "bm3d", "dcp", "wiener-ml", "motion-deblur", "lime", "derain-guided", "deblock", "dequant",
             "desnow-median")


@pytest.fixture(scope="module")
def clean():
    from bench.datasets.mini import clean_tiles

    tiles = clean_tiles()
    return {i: tiles[i] for i in TILES}


def _restore(method, degraded: np.ndarray, task: str = "x") -> np.ndarray:
    x = uint8_to_tensor(degraded).unsqueeze(0)
    y = method.restore(x, RestoreContext("test", task, ("img",)))
    assert y.shape == x.shape and y.dtype == x.dtype
    return tensor_to_float_array(y)


def _psnr(clean_u8: np.ndarray, image: np.ndarray) -> float:
    return float(peak_signal_noise_ratio(clean_u8 / 255.0, np.clip(image, 0, 1), data_range=1.0))


# (method, mini set, smallest mean gain in dB over identity that we accept): the measured gains on
# these 4 tiles are well above these floors (see docs/METHODS.md for the whole-suite table)
BEATS_IDENTITY = [
    ("nlm", "mini-denoise-s25", 5.0),
    ("nlm", "mini-denoise-s50", 5.0),
    ("dcp", "mini-dehaze", 2.0),
    ("motion-deblur", "mini-deblur", 1.5),  # measured +2.72 on these 4 tiles (+2.52 on all 34)
    ("lime", "mini-lowlight", 3.0),
    ("derain-guided", "mini-derain", 2.0),
    ("deblock", "mini-jpeg-q20", 0.2),
    ("dequant", "mini-4to8bit", 1.5),
    ("desnow-median", "mini-desnow", 3.0),
]


@pytest.mark.parametrize(("name", "dataset", "floor"), BEATS_IDENTITY)
def test_classical_method_beats_identity_on_its_mini_set(clean, name, dataset, floor):
    from bench.datasets.mini import degrade

    method = create_method(name)
    gains = []
    for image_id, tile in clean.items():
        degraded = degrade(dataset, image_id, tile)
        gains.append(_psnr(tile, _restore(method, degraded)) - _psnr(tile, degraded / 255.0))
    assert np.mean(gains) > floor, f"{name} on {dataset}: gains {np.round(gains, 2)}"


def test_bm3d_denoises_sigma25(clean):
    pytest.importorskip("bm3d")
    from bench.datasets.mini import degrade

    tile = clean["astronaut-r1c1"]
    degraded = degrade("mini-denoise-s25", "astronaut-r1c1", tile)
    gain = _psnr(tile, _restore(create_method("bm3d"), degraded)) - _psnr(tile, degraded / 255.0)
    assert gain > 6.0


def test_wiener_ml_identifies_and_removes_defocus_blur(clean):
    from abair.degradations import apply

    method = create_method("wiener-ml")
    gains = []
    for k, tile in enumerate(clean.values()):
        blurred = tensor_to_uint8(apply("blur", uint8_to_tensor(tile, torch.float64), k, kind="defocus", radius=3.0))
        gains.append(_psnr(tile, _restore(method, blurred)) - _psnr(tile, blurred / 255.0))
        assert method.last_kernel.startswith("disk radius=")
    assert np.mean(gains) > 1.5


def test_wiener_ml_documented_limit_on_camera_shake(clean):
    """mini-deblur's curved, off-centre camera shake is outside the family: it must not do real harm."""
    from bench.datasets.mini import degrade

    method = create_method("wiener-ml")
    losses = [
        _psnr(tile, degrade("mini-deblur", i, tile) / 255.0) - _psnr(tile, _restore(method, degrade("mini-deblur", i, tile)))
        for i, tile in clean.items()
    ]
    assert np.mean(losses) < 0.5


def _train_crop() -> np.ndarray:
    """A 128x128 crop of the training pool's flower image (never a test tile): petals, leaves, edges."""
    from abair.data.sample_images import train_pool

    return np.ascontiguousarray(train_pool()[5][100:228, 100:228])


def test_motion_deblur_recovers_a_straight_motion_blur():
    from abair.degradations._common import convolve_reflect
    from baselines.classical.motion_deblur import path_length
    from baselines.classical.wiener_ml import line_kernel

    crop = _train_crop()
    kernel = torch.from_numpy(line_kernel(15, 30))  # 15 px at 30 degrees (counter-clockwise, y up)
    blurred = tensor_to_uint8(convolve_reflect(uint8_to_tensor(crop, torch.float64), kernel).clamp(0, 1))
    method = create_method("motion-deblur")
    gain = _psnr(crop, _restore(method, blurred)) - _psnr(crop, blurred / 255.0)
    assert method.last_decision.startswith("deblurred"), method.last_decision
    k = method.last_kernel
    n = k.shape[0]
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    mx, my = (k * xx).sum(), (k * yy).sum()
    cov = np.array([[(k * (xx - mx) ** 2).sum(), (k * (xx - mx) * (yy - my)).sum()],
                    [(k * (xx - mx) * (yy - my)).sum(), (k * (yy - my) ** 2).sum()]])
    v = np.linalg.eigh(cov)[1][:, 1]
    angle = np.degrees(np.arctan2(-v[1], v[0])) % 180.0
    assert abs(angle - 30.0) < 10.0, angle
    assert abs(path_length(k) - 14.0) < 3.0, path_length(k)  # the segment spans 14 px between end taps
    assert gain > 2.0, gain


def test_motion_deblur_leaves_a_sharp_image_alone():
    crop = _train_crop()
    method = create_method("motion-deblur")
    out = _restore(method, crop)
    assert not method.last_decision.startswith("deblurred"), method.last_decision
    assert np.abs(out - crop / 255.0).max() < 1e-6


def test_motion_deblur_bad_option_is_one_clear_line():
    with pytest.raises(UserError, match=r"^method 'motion-deblur': option strength=1.5 is outside \[0.0, 1.0\]$"):
        create_method("motion-deblur", strength=1.5)


@pytest.mark.parametrize("name", [n for n in CLASSICAL if n != "bm3d"])
def test_classical_methods_keep_shape_dtype_and_range(name):
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(0, 256, (1, 3, 37, 53)).astype(np.float32) / 255.0)
    y = create_method(name).restore(x, RestoreContext("t", "x", ("a",)))
    assert y.shape == x.shape and y.dtype == torch.float32
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_every_classical_method_is_registered_without_weights():
    for name in CLASSICAL:
        meta = METHODS.entry(name).meta
        assert meta["needs"].startswith("none"), name
        assert meta["task"] in ("denoise", "dehaze", "deblur", "lowlight", "derain", "jpeg", "bitdepth", "desnow")


def test_bad_option_is_one_clear_line():
    with pytest.raises(UserError, match=r"^method 'nlm' has no option 'strength'; its options: sigma, h_factor, "
                                        r"patch_size, patch_distance$"):
        create_method("nlm", strength=3)
    with pytest.raises(UserError, match=r"^method 'nlm' has no option 'sigmaa' \(did you mean 'sigma'\?\)"):
        create_method("nlm", sigmaa=3)
    with pytest.raises(UserError, match=r"^method 'identity' has no option 'x'; it takes no option$"):
        create_method("identity", x=1)
    with pytest.raises(UserError, match=r"^method 'dcp': option omega=1.5 is outside \[0.0, 1.0\]$"):
        create_method("dcp", omega=1.5)
    with pytest.raises(UserError, match=r"^method 'dequant': option quantiser='ceil' must be one of floor, round$"):
        create_method("dequant", quantiser="ceil")


# --------------------------------------------------------------------------- building blocks


def test_box_mean_matches_brute_force_with_clipped_windows():
    from baselines.classical.filters import box_mean

    x = np.random.default_rng(1).random((9, 11))
    r = 2
    want = np.array([[x[max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1].mean() for j in range(11)]
                     for i in range(9)])
    np.testing.assert_allclose(box_mean(x, r), want, rtol=0, atol=1e-12)


def test_guided_filter_matches_its_definition():
    from baselines.classical.filters import guided_filter

    rng = np.random.default_rng(2)
    guide, src = rng.random((10, 12)), rng.random((10, 12))
    r, eps = 2, 0.01

    def window(i, j):
        return slice(max(0, i - r), i + r + 1), slice(max(0, j - r), j + r + 1)

    a = np.zeros_like(guide)
    b = np.zeros_like(guide)
    for i in range(10):
        for j in range(12):
            g, p = guide[window(i, j)], src[window(i, j)]
            a[i, j] = (np.mean(g * p) - g.mean() * p.mean()) / (g.var() + eps)
            b[i, j] = p.mean() - a[i, j] * g.mean()
    want = np.array([[a[window(i, j)].mean() * guide[i, j] + b[window(i, j)].mean() for j in range(12)]
                     for i in range(10)])
    np.testing.assert_allclose(guided_filter(guide, src, r, eps), want, atol=1e-12)
    # a constant input stays constant; eps -> 0 with guide == src reproduces the input
    np.testing.assert_allclose(guided_filter(guide, np.full((10, 12), 0.3), r, eps), 0.3, atol=1e-12)
    np.testing.assert_allclose(guided_filter(src, src, r, 1e-12), src, atol=1e-6)


def test_dequant_cells_contain_the_truth_and_the_output_stays_inside(clean):
    from abair.degradations import apply
    from baselines.classical.dequant import cells, estimate_step

    tile = clean["coffee-r1c2"]
    low = tensor_to_uint8(apply("bitdepth", uint8_to_tensor(tile, torch.float64), 0, bits=4))
    step = estimate_step(low.astype(np.float64))
    assert step == pytest.approx(17.0)
    lo, hi = cells(low.astype(np.float64), step, "floor")
    assert np.all((tile >= lo) & (tile <= hi))  # the top-4-bits cell of every pixel holds its true value
    restored = _restore(create_method("dequant"), low) * 255.0
    assert np.all((restored >= lo - 1e-4) & (restored <= hi + 1e-4))  # float32 output
    # an 8-bit image has no coarser grid: returned unchanged
    np.testing.assert_array_equal(np.round(_restore(create_method("dequant"), tile) * 255), tile)


@pytest.mark.parametrize("quality", [10, 20, 40, 75])
def test_deblock_estimates_the_jpeg_quality_blindly(clean, quality):
    from abair.degradations import apply
    from baselines.classical.deblock import estimate_quality

    for tile in list(clean.values())[:2]:
        jpeg = tensor_to_uint8(apply("jpeg", uint8_to_tensor(tile, torch.float64), 0, quality=quality))
        assert estimate_quality(jpeg.astype(np.float64)) == quality
    assert estimate_quality(clean["coffee-r1c2"].astype(np.float64)) is None  # never compressed


def test_dcp_finds_the_airlight_of_the_scattering_model(clean):
    from abair.degradations import apply
    from baselines.classical.dcp import airlight, dark_channel

    tile = uint8_to_tensor(clean["astronaut-r2c2"], torch.float64)
    depth = torch.linspace(0, 1, 128, dtype=torch.float64).view(128, 1).expand(128, 128)
    hazy = apply("haze", tile, 0, beta=2.0, airlight=0.8, depth=depth)
    image = tensor_to_float_array(hazy)
    a = airlight(image, dark_channel(image, 15), 0.001)
    np.testing.assert_allclose(a, 0.8, atol=0.05)


def test_lime_without_smoothing_divides_by_the_max_channel():
    from baselines.classical.lime import refine_illumination

    t0 = np.random.default_rng(3).random((8, 9))
    np.testing.assert_allclose(refine_illumination(t0, 0.0, 2.0, 1e-3), t0, atol=1e-12)


# --------------------------------------------------------------------------- folder: method


def _write_png(path, image):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def _tiles(n=3, size=24):
    rng = np.random.default_rng(4)
    return {f"img{k}": rng.integers(0, 256, (size, size + 4, 3), dtype=np.uint8) for k in range(n)}


def test_folder_reproduces_the_images_exactly(tmp_path):
    images = _tiles()
    for image_id, image in images.items():
        _write_png(tmp_path / "ds" / f"{image_id}.png", image)
    method = create_method(f"folder:theirs={tmp_path}")
    assert method.name == "theirs"
    method.check("ds", list(images))
    for image_id, image in images.items():
        x = uint8_to_tensor(image).unsqueeze(0)
        y = method.restore(x, RestoreContext("ds", "x", (image_id,)))
        assert torch.equal(y, x)  # bit-identical to what identity returns


def test_folder_check_lists_missing_and_extra_files(tmp_path):
    images = _tiles(8)
    for image_id in list(images)[:-7]:
        _write_png(tmp_path / "ds" / f"{image_id}.png", images[image_id])
    _write_png(tmp_path / "ds" / "stray.png", images["img0"])
    (tmp_path / "ds" / "notes.txt").write_text("not an image, ignored")
    method = create_method(f"folder:theirs={tmp_path}")
    with pytest.raises(UserError) as err:
        method.check("ds", list(images))
    assert str(err.value) == (
        f"folder method 'theirs': {tmp_path / 'ds'} does not match dataset 'ds' (8 images): "
        "7 missing (img1, img2, img3, img4, img5, ... (7 in all)) and 1 extra (stray); expected one "
        "<image_id>{.png,.jpg,.jpeg,.tif,.tiff,.bmp,.webp} per image; remove the extra files or pass "
        "--method-arg theirs.strict=false"
    )
    create_method(f"folder:theirs={tmp_path}", strict=False)  # extra files allowed, missing still refused
    with pytest.raises(UserError, match=r"7 missing \(img1"):
        create_method(f"folder:theirs={tmp_path}", strict=False).check("ds", list(images))


def test_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(UserError, match=r"^'folder:theirs' must look like folder:NAME=/path"):
        create_method("folder:theirs")
    with pytest.raises(UserError, match=r"is not a folder$"):
        create_method(f"folder:theirs={tmp_path / 'nope'}")
    method = create_method(f"folder:theirs={tmp_path}")
    with pytest.raises(UserError, match=r"no folder .*ds for dataset 'ds'; expected"):
        method.check("ds", ["a"])
    image = _tiles(1)["img0"]
    _write_png(tmp_path / "ds" / "a.png", image)
    _write_png(tmp_path / "ds" / "b.png", image[:20])
    (tmp_path / "ds" / "c.png").write_bytes(b"not a png")
    method.check("ds", ["a", "b", "c"])
    x = uint8_to_tensor(image).unsqueeze(0)
    with pytest.raises(UserError, match=r"b.png is 20x28 \(HxW\) but the degraded input is 24x28"):
        method.restore(x, RestoreContext("ds", "x", ("b",)))
    with pytest.raises(UserError, match=r"^restored image .*c.png is not an image but a text file; replace the file$"):
        method.restore(x, RestoreContext("ds", "x", ("c",)))
    _write_png(tmp_path / "dup" / "a.png", image)
    _write_png(tmp_path / "dup" / "a.jpg", image)
    with pytest.raises(UserError, match=r"two files for image 'a'"):
        method.check("dup", ["a"])


def _write_png16(path, image16: np.ndarray) -> None:
    """A minimal 16-bit RGB PNG writer (filter 0), independent of the reader under test."""
    import struct
    import zlib

    h, w, _ = image16.shape
    raw = b"".join(b"\x00" + image16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_folder_reads_16_bit_png_scaled(tmp_path):
    pytest.importorskip("cv2")
    rng = np.random.default_rng(6)
    image16 = rng.integers(0, 65536, (9, 10, 3)).astype(np.uint16)
    (tmp_path / "ds").mkdir()
    _write_png16(tmp_path / "ds" / "a.png", image16)
    from baselines.folder import read_image_8bit

    want = np.round(image16 / 65535.0 * 255.0).astype(np.uint8)  # scaled, not truncated (v >> 8)
    np.testing.assert_array_equal(read_image_8bit(tmp_path / "ds" / "a.png"), want)


def test_folder_crops_full_size_outputs_like_the_protocol(tmp_path):
    image = np.random.default_rng(5).integers(0, 256, (37, 41, 3), dtype=np.uint8)
    _write_png(tmp_path / "ds" / "wide.png", image)
    method = create_method(f"folder:x={tmp_path / '{dataset}'}")
    # the all-in-one protocols centre-crop the input to a multiple of 16 before the method runs
    from abair.imageops import crop_to_multiple

    cropped = crop_to_multiple(image, 16)
    x = uint8_to_tensor(np.ascontiguousarray(cropped)).unsqueeze(0)
    y = method.restore(x, RestoreContext("ds", "x", ("wide",)))
    assert torch.equal(y, x)


def test_folder_run_reproduces_identity_records(tmp_path):
    """``suite export`` then ``folder:`` on the degraded images = identity, record for record."""
    import argparse

    from bench.commands.suite import export
    from bench.runner import RunSpec, run
    from bench.store import load_records

    export(argparse.Namespace(suite="mini", datasets="mini-derain", out=str(tmp_path / "export"), data_root=None))
    spec = RunSpec(
        out=str(tmp_path / "run"),
        methods=["identity", f"folder:deg={tmp_path / 'export'}/{{dataset}}/degraded"],
        datasets=["mini-derain"],
        progress=False,
    )
    run(spec)
    df = load_records(tmp_path / "run")
    keys = ["dataset", "image_id", "protocol", "metric"]
    ident = df[df["method"] == "identity"].set_index(keys)["value"].sort_index()
    folder = df[df["method"] == "deg"].set_index(keys)["value"].sort_index()
    assert len(ident) == len(folder) > 0
    assert ident.index.equals(folder.index)
    np.testing.assert_array_equal(ident.to_numpy(), folder.to_numpy())


def test_file_sha256_is_remembered_until_the_file_changes(tmp_path):
    """Methods ask for their weights' hash in every config(); a rewritten file must be hashed again."""
    import hashlib
    import os

    from baselines.published import file_sha256

    path = tmp_path / "w.pth"
    path.write_bytes(b"first")
    assert file_sha256(path) == hashlib.sha256(b"first").hexdigest()
    path.write_bytes(b"second!")
    os.utime(path, ns=(1, 1))  # even a rewrite within the clock's resolution changes size or mtime
    assert file_sha256(path) == hashlib.sha256(b"second!").hexdigest()
