"""Metric protocols: closed forms, independent numpy computations, skimage parity, backend calibration."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from scipy.signal import correlate2d
from skimage import data
from skimage.metrics import structural_similarity

from abair.errors import UserError
from abair.imageops import tensor_to_uint8, uint8_to_tensor
from bench.protocols import PROTOCOL_NAMES, PSNR_MAX_DB, Protocol, get_protocol, list_protocols
from bench.protocols.colour import rgb_to_y_bt601

# ----------------------------------------------------------------------------- helpers (independent)


def natural(lo: int = 30, hi: int = 170, size: int = 64) -> np.ndarray:
    """A natural uint8 crop (astronaut's face region) with values squeezed into [lo, hi]."""
    img = data.astronaut()[80 : 80 + size, 180 : 180 + size].astype(np.float64)
    return np.round(lo + img * (hi - lo) / 255.0).astype(np.uint8)


def exact_y(u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BT.601 Y rounded half-to-even, in exact integer arithmetic, and the mask of exact .5 ties.

    Y = 16 + (65481 r + 128553 g + 24966 b) / 255000 for 8-bit r, g, b.
    """
    v = u8.astype(np.int64)
    n = 65481 * v[..., 0] + 128553 * v[..., 1] + 24966 * v[..., 2]
    q, rem = np.divmod(n, 255000)
    up = (rem > 127500) | ((rem == 127500) & (q % 2 == 1))
    return (16 + q + up).astype(np.float64), rem == 127500


def psnr_direct(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    return 10.0 * math.log10(peak**2 / float(np.mean((a - b) ** 2)))


def ssim_direct(a: np.ndarray, b: np.ndarray, win: np.ndarray, peak: float, sample_cov: bool,
                clamp_cs: bool = False) -> float:
    """Wang et al.'s SSIM on 2-D arrays with a 'valid' window (no padding), mean of the map; ``clamp_cs``:
    the contrast-structure term clamped at 0 (pyiqa's relu)."""
    def f(z):
        return correlate2d(z, win, mode="valid")

    k = win.size / (win.size - 1) if sample_cov else 1.0
    ma, mb = f(a), f(b)
    va, vb, cov = k * (f(a * a) - ma**2), k * (f(b * b) - mb**2), k * (f(a * b) - ma * mb)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    cs = (2 * cov + c2) / (va + vb + c2)
    if clamp_cs:
        return float(((2 * ma * mb + c1) / (ma**2 + mb**2 + c1) * np.maximum(cs, 0)).mean())
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    return float(s.mean())


def gaussian_window(size: int, sigma: float) -> np.ndarray:
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    w = np.outer(g, g)
    return w / w.sum()


def noisy(clean: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Float64 HxWx3 in [0, 1]: clean plus Gaussian noise of ``sigma`` grey levels, clipped."""
    rng = np.random.default_rng(seed)
    return np.clip(clean / 255.0 + rng.normal(0.0, sigma / 255.0, clean.shape), 0.0, 1.0)


def blurred(clean: np.ndarray, sigma: float) -> np.ndarray:
    f = clean / 255.0
    return np.stack([gaussian_filter(f[..., i], sigma) for i in range(3)], axis=-1)


RGB = get_protocol("allinone-rgb")
Y = get_protocol("y-bt601")


# ----------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("d", [1, 5, 20, 85])
def test_allinone_rgb_constant_offset_closed_form(d):
    clean = natural()
    restored = (clean.astype(np.float64) + d) / 255.0  # no clipping: clean <= 170, d <= 85
    expected = 20 * math.log10(255 / d)
    assert RGB.score(restored, clean)["psnr"] == pytest.approx(expected, abs=1e-9)
    assert RGB.score((clean + d).astype(np.uint8), clean)["psnr"] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("d", [1, 5, 20])
def test_y_bt601_constant_offset_closed_form(d):
    # An offset of d levels on R, G and B moves Y by exactly 219 d / 255 (65.481 + 128.553 + 24.966 = 219);
    # after rounding Y, the per-pixel error is round(Y + 219 d/255) - round(Y), computed exactly in integers.
    clean = natural()
    shifted = (clean + d).astype(np.uint8)
    y_clean, ties_c = exact_y(clean)
    y_shift, ties_s = exact_y(shifted)
    assert not ties_c.any() and not ties_s.any()  # no exact .5 Y on this crop: float rounding is exact
    assert np.all(np.abs((y_shift - y_clean) - 219 * d / 255) <= 1.0)
    expected = 10 * math.log10(255**2 / np.mean((y_shift - y_clean) ** 2))
    assert Y.score(shifted, clean)["psnr"] == pytest.approx(expected, abs=1e-9)
    assert Y.score(shifted / 255.0, clean)["psnr"] == pytest.approx(expected, abs=1e-9)


def test_y_bt601_integer_shift_closed_form():
    # d = 85 shifts Y by 219*85/255 = 73 levels exactly, so rounding cannot change it: PSNR = 20 log10(255/73).
    clean = natural()
    assert not exact_y(clean)[1].any()
    assert Y.score((clean + 85).astype(np.uint8), clean)["psnr"] == pytest.approx(20 * math.log10(255 / 73), abs=1e-9)


@pytest.mark.parametrize("protocol", [RGB, Y], ids=lambda p: p.name)
def test_identical_images_give_the_psnr_ceiling_and_ssim_one(protocol):
    clean = natural(0, 255)
    scores = protocol.score(clean / 255.0, clean)
    assert isinstance(scores["psnr"], float) and scores["psnr"] == PSNR_MAX_DB == 120.0
    assert scores["ssim"] == pytest.approx(1.0, abs=1e-12)
    assert list(scores) == ["psnr", "ssim"]


@pytest.mark.parametrize("name", ["allinone-rgb", "y-bt601", "basicsr-y"])
def test_a_perfect_restoration_scores_one_psnr_under_every_protocol_and_backend(name):
    """Formerly 156 dB under allinone-rgb (float32 rounding of k/255) but inf under the lumas (MSE 0)."""
    clean = natural(0, 255)
    as_float32 = uint8_to_tensor(clean)[None]  # what a method returning the clean image hands back
    cb = uint8_to_tensor(clean, dtype=torch.float64)[None]
    for backend in ("skimage", "torch", "pyiqa"):
        p = get_protocol(f"{name}@{backend}")
        got = [p.score(clean / 255.0, clean)["psnr"], p.score(as_float32[0].permute(1, 2, 0).double().numpy(), clean)
               ["psnr"], p.score_batch(as_float32, cb)[0]["psnr"], p.score_batch(cb, cb)[0]["psnr"]]
        assert got == [PSNR_MAX_DB] * 4, (backend, got)
    near = (clean.astype(np.int64) + (np.arange(clean.size) == 7).reshape(clean.shape)).clip(0, 255).astype(np.uint8)
    assert 80 < get_protocol(name).score(near, clean)["psnr"] < PSNR_MAX_DB  # one level off: below the ceiling


# ----------------------------------------------------------------------------- independent computations


def test_y_conversion_matches_exact_integer_rounding_except_at_ties():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(200_000, 3), dtype=np.uint8)
    exact, ties = exact_y(rgb)
    ours = np.round(rgb_to_y_bt601(rgb / 255.0))
    assert np.array_equal(ours[~ties], exact[~ties])
    assert rgb_to_y_bt601(np.array([0.0, 0.0, 0.0])) == 16.0
    assert rgb_to_y_bt601(np.array([1.0, 1.0, 1.0])) == pytest.approx(235.0, abs=1e-12)


def test_allinone_rgb_matches_direct_numpy_and_skimage_defaults():
    clean = natural(0, 255)
    restored = noisy(clean, 15, seed=2)
    c = clean / 255.0
    scores = RGB.score(restored, clean)
    assert scores["psnr"] == pytest.approx(psnr_direct(restored, c, 1.0), abs=1e-10)
    direct = np.mean([ssim_direct(restored[..., i], c[..., i], np.full((7, 7), 1 / 49), 1.0, True) for i in range(3)])
    assert scores["ssim"] == pytest.approx(direct, abs=1e-12)
    # the call AirNet/PromptIR make, with scikit-image's defaults spelt out and left implicit
    explicit = structural_similarity(c, restored, channel_axis=-1, data_range=1, win_size=7,
                                     gaussian_weights=False, use_sample_covariance=True)
    assert scores["ssim"] == pytest.approx(explicit, abs=1e-15)
    assert scores["ssim"] == pytest.approx(structural_similarity(c, restored, channel_axis=-1, data_range=1), abs=1e-15)


def test_y_bt601_matches_direct_numpy_and_skimage_kwargs():
    clean = natural(0, 255)
    restored = blurred(clean, 1.2)
    u8 = np.round(restored * 255).astype(np.uint8)  # what a saved PNG holds
    y_r, ties_r = exact_y(u8)
    y_c, ties_c = exact_y(clean)
    assert not ties_r.any() and not ties_c.any()
    scores = Y.score(restored, clean)
    assert scores["psnr"] == pytest.approx(psnr_direct(y_r, y_c, 255.0), abs=1e-10)
    assert scores["ssim"] == pytest.approx(ssim_direct(y_r, y_c, gaussian_window(11, 1.5), 255.0, False), abs=1e-12)
    explicit = structural_similarity(y_c, y_r, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=255)
    assert scores["ssim"] == pytest.approx(explicit, abs=1e-15)


def test_rounding_is_part_of_y_bt601_and_not_of_allinone_rgb():
    clean = natural(0, 255)
    restored = blurred(clean, 0.8)
    as_png = tensor_to_uint8(torch.from_numpy(restored.transpose(2, 0, 1)))
    assert Y.score(restored, clean) == Y.score(as_png, clean)
    assert RGB.score(restored, clean)["psnr"] != RGB.score(as_png, clean)["psnr"]
    assert RGB.score(restored, clean)["psnr"] == pytest.approx(psnr_direct(restored, clean / 255.0, 1.0), abs=1e-10)


def test_float_outputs_are_clipped_to_unit_range():
    clean = natural()
    restored = clean / 255.0
    over = restored.copy()
    over[0, 0] = [1.7, -0.3, 0.5]
    clipped = np.clip(over, 0, 1)
    for p in (RGB, Y):
        assert p.score(over, clean) == p.score(clipped, clean)


def test_score_batch_equals_score_per_image():
    clean = np.stack([natural(0, 255), natural(10, 200)])
    restored = np.stack([noisy(clean[0], 10, 3), blurred(clean[1], 1.0)])
    rb = torch.from_numpy(restored.transpose(0, 3, 1, 2))
    cb = torch.stack([uint8_to_tensor(c) for c in clean])
    for p in (RGB, Y):
        assert p.score_batch(rb, cb) == [p.score(restored[i], clean[i]) for i in range(2)]


# ----------------------------------------------------------------------------- backend calibration (pyiqa)

SCORED = ("allinone-rgb", "y-bt601", "basicsr-y")  # the PSNR/SSIM protocols

#: max |pyiqa - skimage| measured on the calibration crops below (results/protocols/deviations.md has the
#: mini-suite maxima, asserted by test_pyiqa_deviation_maxima_on_the_mini_suite): (protocol, metric) -> max
PYIQA_MAX_CALIBRATION = {
    ("allinone-rgb", "psnr"): 0.0, ("allinone-rgb", "ssim"): 3.15e-04,
    ("y-bt601", "psnr"): 0.0, ("y-bt601", "ssim"): 4.83e-05,
    ("basicsr-y", "psnr"): 3.57e-07, ("basicsr-y", "ssim"): 4.49e-05,
}
#: the same on every (degraded, clean) pair of the 13 mini sets (results/protocols/measure.py)
PYIQA_MAX_MINI = {
    ("allinone-rgb", "psnr"): 7.11e-15, ("allinone-rgb", "ssim"): 1.48e-02,
    ("y-bt601", "psnr"): 6.86e-05, ("y-bt601", "ssim"): 1.28e-02,
    ("basicsr-y", "psnr"): 3.68e-06, ("basicsr-y", "ssim"): 1.28e-02,
}
FLOAT_NOISE = 1e-13  # a maximum of float rounding alone (PSNR in dB, SSIM) is asserted as "below this"


def assert_measured_maximum(observed: float, documented: float, what) -> None:
    """The documented maximum is what the data gives: not exceeded, and reached (to 2%)."""
    if documented <= FLOAT_NOISE:
        assert observed <= FLOAT_NOISE, what
    else:
        assert observed == pytest.approx(documented, rel=0.02), (what, observed)


@pytest.fixture(scope="module")
def calibration():
    """skimage vs pyiqa on natural 128x128 crops with noise (10, 50 levels) and blur, all in one batch."""
    pytest.importorskip("pyiqa")
    crops = {"astronaut": data.astronaut()[100:228, 150:278], "coffee": data.coffee()[100:228, 200:328]}
    cases = []
    for i, (name, clean) in enumerate(crops.items()):
        cases += [(f"{name}/noise10", clean, noisy(clean, 10, 10 + i)),
                  (f"{name}/noise50", clean, noisy(clean, 50, 20 + i)),
                  (f"{name}/blur2", clean, blurred(clean, 2.0))]
    rb = torch.from_numpy(np.stack([r for _, _, r in cases]).transpose(0, 3, 1, 2))
    cb = torch.stack([uint8_to_tensor(c, dtype=torch.float64) for _, c, _ in cases])
    out = {}
    for name in SCORED:
        ref = [get_protocol(name).score(r, c) for _, c, r in cases]
        alt = get_protocol(f"{name}@pyiqa").score_batch(rb, cb)
        out[name] = {case: (a, b) for (case, _, _), a, b in zip(cases, ref, alt, strict=True)}
    return cases, rb, cb, out


def test_pyiqa_deviation_maxima_on_the_calibration_crops(calibration):
    _, _, _, out = calibration
    for name, rows in out.items():
        for metric in ("psnr", "ssim"):
            worst = max(abs(alt[metric] - ref[metric]) for ref, alt in rows.values())
            assert_measured_maximum(worst, PYIQA_MAX_CALIBRATION[(name, metric)], (name, metric))


@pytest.mark.slow
def test_pyiqa_deviation_maxima_on_the_mini_suite():
    pytest.importorskip("pyiqa")
    from bench.datasets import SUITES, get_dataset

    worst = dict.fromkeys(PYIQA_MAX_MINI, 0.0)
    for set_name in SUITES["mini"]:
        pairs = list(get_dataset(set_name))
        rb = torch.stack([uint8_to_tensor(p.degraded, dtype=torch.float64) for p in pairs])
        cb = torch.stack([uint8_to_tensor(p.clean, dtype=torch.float64) for p in pairs])
        for name in SCORED:  # batches of 8 images: pyiqa's float64 SSIM of 34 tiles at once holds ~1 GB
            alt = [a for i in range(0, len(pairs), 8)
                   for a in get_protocol(f"{name}@pyiqa").score_batch(rb[i:i + 8], cb[i:i + 8])]
            for p, a in zip(pairs, alt, strict=True):
                ref = get_protocol(name).score(p.degraded, p.clean)
                for metric in ("psnr", "ssim"):
                    worst[(name, metric)] = max(worst[(name, metric)], abs(a[metric] - ref[metric]))
    for key, documented in PYIQA_MAX_MINI.items():
        assert_measured_maximum(worst[key], documented, key)


def test_pyiqa_ssim_deviation_is_its_contrast_structure_clamp(calibration):
    # pyiqa's SSIM = Wang's formula with relu on the contrast-structure term, population covariance, and
    # here the data range sqrt(48/49) L that emulates sample covariance: written out directly, it matches
    cases, rb, _, out = calibration
    win = np.full((7, 7), 1 / 49)
    peak = math.sqrt(48 / 49)
    for case, clean, restored in cases:
        c = clean / 255.0
        direct = np.mean([ssim_direct(restored[..., i], c[..., i], win, peak, False, clamp_cs=True) for i in range(3)])
        ref, alt = out["allinone-rgb"][case]
        assert alt["ssim"] == pytest.approx(direct, abs=1e-12), case


def test_sample_covariance_emulation_beats_plain_pyiqa_population_ssim(calibration):
    from pyiqa.archs.ssim_arch import ssim

    from bench.protocols.pyiqa_backend import window

    cases, rb, cb, out = calibration
    plain = ssim(rb, cb, win=window(RGB, 3, rb.device, rb.dtype), data_range=1.0).tolist()
    for (case, _, _), naive in zip(cases, plain, strict=True):
        ref, alt = out["allinone-rgb"][case]
        assert abs(alt["ssim"] - ref["ssim"]) < abs(naive - ref["ssim"]), case
        assert naive - ref["ssim"] > 4e-4, case  # population covariance alone is off by 6e-4..2.5e-3


def test_pyiqa_default_eps_shift_follows_its_closed_form(calibration):
    # What the backend avoids by passing eps=0: pyiqa's default eps=1e-8 lowers PSNR by 10 log10(1 + eps/MSE).
    from pyiqa.archs.psnr_arch import psnr

    _, rb, cb, out = calibration
    default = psnr(rb, cb, data_range=1.0).tolist()
    for (case, (ref, _)), value in zip(out["allinone-rgb"].items(), default, strict=True):
        mse = 10 ** (-ref["psnr"] / 10)
        assert ref["psnr"] - value == pytest.approx(10 * math.log10(1 + 1e-8 / mse), rel=1e-6), case


# ----------------------------------------------------------------------------- pairs, errors, settings


def test_prepare_pair_crops_bsd_size_under_allinone_and_keeps_it_under_y():
    rng = np.random.default_rng(4)
    degraded = rng.integers(0, 256, (321, 481, 3), dtype=np.uint8)
    clean = rng.integers(0, 256, (321, 481, 3), dtype=np.uint8)
    d, c = RGB.prepare_pair(degraded, clean)
    assert d.shape == c.shape == (320, 480, 3)
    assert np.array_equal(d, degraded[0:320, 0:480]) and np.array_equal(c, clean[0:320, 0:480])
    d, c = Y.prepare_pair(degraded, clean)
    assert d.shape == (321, 481, 3) and np.array_equal(d, degraded) and np.array_equal(c, clean)
    # centred: 50x70 -> 48x64 drops 1 row on top and 3 columns on the left (offsets rounded down)
    img = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    d, _ = RGB.prepare_pair(img, img)
    assert np.array_equal(d, img[1:49, 3:67])


def test_prepare_pair_refuses_mismatched_pair():
    with pytest.raises(UserError, match=r"\(64, 64, 3\).*\(60, 64, 3\)"):
        RGB.prepare_pair(np.zeros((64, 64, 3), np.uint8), np.zeros((60, 64, 3), np.uint8))


def test_score_size_mismatch_names_both_shapes():
    clean = np.zeros((321, 481, 3), np.uint8)
    with pytest.raises(UserError) as err:
        RGB.score(np.zeros((320, 480, 3)), clean)
    assert "(320, 480, 3)" in str(err.value) and "(321, 481, 3)" in str(err.value)
    with pytest.raises(UserError, match=r"\(1, 3, 32, 32\).*\(1, 3, 32, 30\)"):
        Y.score_batch(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 30))


def test_image_smaller_than_ssim_window_is_a_user_error():
    tiny = np.zeros((10, 10, 3), np.uint8)
    assert RGB.score(tiny, tiny)["ssim"] == pytest.approx(1.0)  # 10 >= 7
    with pytest.raises(UserError, match=r"10x10 pixels .* smaller than the 11x11 SSIM window"):
        Y.score(tiny, tiny)


def test_unknown_protocol_and_backend_suggest_the_right_name():
    with pytest.raises(UserError) as err:
        get_protocol("allinone-rbg")
    assert str(err.value).startswith("unknown protocol 'allinone-rbg' (did you mean 'allinone-rgb'?)")
    assert "abair-bench protocols list" in str(err.value)
    with pytest.raises(UserError, match=r"unknown metric backend 'pyiq' \(did you mean 'pyiqa'\?\)"):
        get_protocol("y-bt601@pyiq")


def test_specs_and_backends():
    assert PROTOCOL_NAMES == ("allinone-rgb", "allinone-rgb-uncropped", "y-bt601", "basicsr-y", "lpips")
    assert [p.spec for p in list_protocols()] == ["allinone-rgb", "allinone-rgb-uncropped", "y-bt601", "basicsr-y",
                                                  "lpips"]
    assert get_protocol("allinone-rgb@skimage") is RGB
    t = get_protocol("allinone-rgb@torch")
    assert (t.spec, t.label, t.backend) == ("allinone-rgb", "allinone-rgb@torch", "torch")  # exact: same spec
    assert "exact" in t.summary
    if __import__("importlib").util.find_spec("pyiqa"):
        p = get_protocol("allinone-rgb@pyiqa")
        assert (p.spec, p.label, p.backend, p.name) == ("allinone-rgb@pyiqa",) * 2 + ("pyiqa", "allinone-rgb")
        assert "sample covariance emulated" in p.summary and "clamps the contrast-structure term" in p.summary


def test_missing_pyiqa_is_a_user_error_with_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyiqa", None)  # makes find_spec/import report it missing
    with pytest.raises(UserError, match=r"pip install 'abair-bench\[metrics\]'"):
        get_protocol("y-bt601@pyiqa")


def test_settings_hold_every_field_and_round_trip_through_json():
    import dataclasses

    for p in list_protocols():
        s = p.settings()
        assert json.loads(json.dumps(s)) == s
        learned = {"weights_sha256"} if "lpips" in p.metrics else set()  # the weight files' hashes
        assert set(s) == {f.name for f in dataclasses.fields(Protocol)} | {"spec", "label"} | learned
    assert RGB.settings()["ssim_sample_covariance"] is True and Y.settings()["ssim_sample_covariance"] is False
    assert (RGB.input_crop_multiple, Y.input_crop_multiple, RGB.border, Y.border) == (16, 1, 0, 0)
    assert (Y.ssim_window, Y.ssim_size, Y.ssim_sigma, Y.round_to_uint8) == ("gaussian", 11, 1.5, True)


def test_table_rows_are_validated():
    with pytest.raises(ValueError, match="ssim_sigma is required"):
        Protocol("bad", "", "rgb", 1, 0, False, "gaussian", 11, None, False)
    with pytest.raises(ValueError, match="colour must be one of"):
        Protocol("bad", "", "lab", 1, 0, False, "uniform", 7, None, False)
    with pytest.raises(ValueError, match="a luma colour needs round_to_uint8"):
        Protocol("bad", "", "y-basicsr", 1, 0, False, "uniform", 7, None, False)


# ----------------------------------------------------------------------------- command line


def _run_command(argv: list[str], capsys) -> str:
    from bench.commands import protocols as command

    parser = argparse.ArgumentParser(prog="abair-bench")
    command.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_protocols_list_command(capsys):
    lines = _run_command(["protocols", "list"], capsys).splitlines()
    assert lines[0].startswith("allinone-rgb            RGB floats in [0,1]")
    assert lines[1].startswith("allinone-rgb-uncropped  allinone-rgb on a method that saw the whole input")
    assert lines[2].startswith("y-bt601                 luma Y = 16 + 65.481R")
    assert lines[3].startswith("basicsr-y               BasicSR's Python calculate_psnr/calculate_ssim")
    assert "@torch:" in lines[-2] and "@pyiqa:" in lines[-2] and "with @torch" in lines[-1]
    settings = json.loads(_run_command(["protocols", "list", "--json"], capsys))
    assert settings == [p.settings() for p in list_protocols()]


def test_protocols_list_imports_nothing_heavy():
    code = (
        "import argparse, sys\n"
        "from bench.commands import protocols as c\n"
        "p = argparse.ArgumentParser(); c.add_parser(p.add_subparsers())\n"
        "a = p.parse_args(['protocols', 'list']); a.func(a)\n"
        "print(sorted(m for m in ('torch', 'skimage', 'pyiqa', 'pandas', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "[]"


def test_uncropped_input_protocol_scores_the_pixels_allinone_rgb_scores():
    """allinone-rgb-uncropped: nothing is cropped before the method; after it, the restored and clean
    images are centre-cropped to a multiple of 16, then scored exactly as allinone-rgb."""
    import torch

    from abair.imageops import crop_to_multiple, uint8_to_tensor

    rng = np.random.default_rng(3)
    clean = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    restored = np.clip(clean + rng.normal(0, 9, clean.shape), 0, 255).astype(np.uint8)
    full = get_protocol("allinone-rgb-uncropped")
    assert full.prepare_pair(restored, clean)[0].shape == (37, 53, 3)  # the method sees the whole image
    r16, c16 = crop_to_multiple(restored, 16), crop_to_multiple(clean, 16)
    assert r16.shape == (32, 48, 3)
    want = get_protocol("allinone-rgb").score(r16, c16)
    assert full.score(restored, clean) == want
    batch = full.score_batch(uint8_to_tensor(restored, torch.float64)[None], uint8_to_tensor(clean, torch.float64)[None])
    assert batch[0] == pytest.approx(want, abs=1e-12)
    assert full.spec == "allinone-rgb-uncropped" and full.settings()["score_crop_multiple"] == 16
