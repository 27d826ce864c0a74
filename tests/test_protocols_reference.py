"""The Y-channel protocols against their references, re-derived here from the published formulas.

- ``y-bt601``: MATLAB's ``rgb2ycbcr`` on uint8, over all 2^24 RGB triples, against exact integer
  arithmetic (and, on the 194 exact .5 ties, MATLAB's double-precision sum decided exactly).
- ``basicsr-y``: BasicSR's ``calculate_psnr``/``calculate_ssim(test_y_channel=True, crop_border=c)``
  re-implemented below (float32 ``to_y_channel``, valid-region ``_ssim``), to 1e-9.
- Restormer's ``_ssim_cly`` (replicated border, full map) is the variant *not* provided: the test
  pins that it differs from ``basicsr-y``.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from scipy.ndimage import correlate, gaussian_filter
from scipy.signal import correlate2d
from skimage import data

from bench.protocols import get_protocol
from bench.protocols import skimage_backend as sk
from bench.protocols import torch_backend as tb
from bench.protocols.colour import y_matlab_uint8

# ----------------------------------------------------------------------------- MATLAB rgb2ycbcr(uint8)


def triple_slabs(reds: int = 32):
    """Every RGB triple as flat int64 arrays ``(r, g, b)``, ``reds`` red values (x 65,536 triples) at a time,
    in the order of a 4096 x 4096 image whose rows run over (r, g) (memory: a slab, not all 2^24)."""
    v = np.arange(256, dtype=np.int64)
    for r0 in range(0, 256, reds):
        yield tuple(a.ravel() for a in np.meshgrid(v[r0:r0 + reds], v, v, indexing="ij"))


def matlab_double_sum(r: int, g: int, b: int) -> float:
    """rgb2ycbcr.m's T = (1/255) * origT and imlincomb's left-to-right double sum, one pixel, scalar floats."""
    t = [(1 / 255) * 65.481, (1 / 255) * 128.553, (1 / 255) * 24.966]
    val = 0.0
    for coef, level in zip(t, (r, g, b), strict=True):
        val = val + coef * float(level)
    return val + 16.0


def test_y_bt601_rounds_like_matlab_uint8_over_all_rgb_triples():
    ties_total = ups = 0
    y = get_protocol("y-bt601")
    for n, (r, g, b) in enumerate(triple_slabs()):
        # exact value: Y = 16 + (65481 r + 128553 g + 24966 b) / 255000; a tie is a remainder of exactly half
        q, rem = np.divmod(65481 * r + 128553 * g + 24966 * b, 255000)
        ties = rem == 127500
        expected = 16 + q + (rem > 127500)  # away from every tie the double sum cannot cross the half:
        # it is within 1e-12 of the exact value, and the nearest non-tie remainder is 1/255000 from it
        tie_idx = np.flatnonzero(ties)
        for i in tie_idx:  # on a tie MATLAB rounds its double value half away from zero: decide it exactly
            value = Fraction(matlab_double_sum(int(r[i]), int(g[i]), int(b[i])))
            expected[i] += value >= Fraction(2 * int(16 + q[i]) + 1, 2)
        ours = y_matlab_uint8(r.astype(np.float64), g.astype(np.float64), b.astype(np.float64))
        assert np.array_equal(ours, expected)
        ties_total += tie_idx.size
        ups += int((expected[ties] == 17 + q[ties]).sum())
        if n == 0:  # the protocol's own path (8-bit rounding of k/255, then the luma), both backends: 2^21 triples
            rgb = np.stack([r, g, b], axis=-1).reshape(-1, 4096, 3) / 255.0
            ref, _ = sk.channels(y, rgb)
            assert np.array_equal(ref[..., 0], expected.reshape(-1, 4096))
            got, _ = tb.channels(y, torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None])
            assert np.array_equal(got[0, 0].numpy(), ref[..., 0])
    assert ties_total == 194
    assert (ups, ties_total - ups) == (45, 149)  # the double sum lands below .5 on most ties


def test_y_bt601_differs_from_half_to_even_only_on_ties():
    differ_total = 0
    for r, g, b in ((a.astype(np.float64) for a in slab) for slab in triple_slabs()):
        ours = y_matlab_uint8(r, g, b)
        exact = 16.0 + (65481 * r + 128553 * g + 24966 * b) / 255000
        differ = ours != np.round(exact)
        differ_total += int(differ.sum())
        assert np.all(np.abs(exact[differ] % 1 - 0.5) < 1e-9)  # only where the exact value is a half
    assert differ_total > 0


# ----------------------------------------------------------------------------- BasicSR, written from its formulas


def basicsr_y(u8_rgb: np.ndarray) -> np.ndarray:
    """BasicSR to_y_channel on the BGR uint8 image it reads: float32 /255, bgr2ycbcr(y_only) as a float64
    dot product + 16, /255, back to float32, *255; then calculate_* casts to float64."""
    img = u8_rgb[..., ::-1].astype(np.float32) / 255.0
    y = np.dot(img, [24.966, 128.553, 65.481]) + 16.0
    y = (y / 255.0).astype(np.float32)
    return (y * 255.0).astype(np.float64)


def basicsr_psnr(a: np.ndarray, b: np.ndarray, crop: int) -> float:
    if crop:
        a, b = a[crop:-crop, crop:-crop], b[crop:-crop, crop:-crop]
    mse = np.mean((basicsr_y(a) - basicsr_y(b)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 * 255.0 / mse))


def gaussian_11() -> np.ndarray:
    t = np.arange(11) - 5.0
    k = np.exp(-(t**2) / (2 * 1.5**2))
    k /= k.sum()
    return np.outer(k, k)


def basicsr_ssim(a: np.ndarray, b: np.ndarray, crop: int, region: str = "valid") -> float:
    """_ssim (valid region) or Restormer's _ssim_cly (replicated border, full map) on the Y channel."""
    if crop:
        a, b = a[crop:-crop, crop:-crop], b[crop:-crop, crop:-crop]
    x, y = basicsr_y(a), basicsr_y(b)
    w = gaussian_11()

    def f(z):
        return correlate2d(z, w, mode="valid") if region == "valid" else correlate(z, w, mode="nearest")

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = f(x), f(y)
    sx, sy, sxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
    return float((((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sx + sy + c2))).mean())


def basicsr_cases():
    rng = np.random.default_rng(7)
    for name, clean in (("astronaut", data.astronaut()[61:192, 200:297]), ("coffee", data.coffee()[150:251, 201:358])):
        c = clean / 255.0
        yield f"{name}-noise15", np.clip(c + rng.normal(0, 15 / 255, c.shape), 0, 1), clean
        yield f"{name}-blur", np.stack([gaussian_filter(c[..., i], 1.3) for i in range(3)], -1), clean


@pytest.mark.parametrize("crop", [0, 4])
@pytest.mark.parametrize("backend", ["skimage", "torch"])
def test_basicsr_y_equals_basicsr_calculate_psnr_ssim(crop, backend):
    protocol = dataclasses.replace(get_protocol(f"basicsr-y@{backend}"), border=crop)
    for case, restored, clean in basicsr_cases():
        u8 = np.round(restored * 255.0).astype(np.uint8)  # BasicSR's tensor2img: (x * 255).round()
        got = protocol.score(restored, clean)
        assert got["psnr"] == pytest.approx(basicsr_psnr(u8, clean, crop), abs=1e-9), case
        assert got["ssim"] == pytest.approx(basicsr_ssim(u8, clean, crop), abs=1e-9), case


def test_restormer_ssim_cly_is_the_variant_not_provided():
    # Restormer's _ssim_cly averages the full map with a replicated border: not basicsr-y's number
    protocol = get_protocol("basicsr-y")
    diffs = []
    for _, restored, clean in basicsr_cases():
        u8 = np.round(restored * 255.0).astype(np.uint8)
        diffs.append(basicsr_ssim(u8, clean, 0, region="replicate") - protocol.score(restored, clean)["ssim"])
    assert max(abs(d) for d in diffs) > 1e-3


def test_basicsr_y_and_y_bt601_differ_only_by_luma_rounding():
    # same SSIM window and formula; the Y of basicsr-y is the unrounded float32 value of y-bt601's
    for _, restored, clean in basicsr_cases():
        u8 = np.round(restored * 255.0).astype(np.uint8)
        y_rounded = y_matlab_uint8(*(u8[..., i].astype(np.float64) for i in range(3)))
        assert np.abs(basicsr_y(u8) - y_rounded).max() <= 0.5 + 1e-4
        a, b = get_protocol("y-bt601").score(restored, clean), get_protocol("basicsr-y").score(restored, clean)
        assert a["psnr"] != b["psnr"] and math.isfinite(a["psnr"])
