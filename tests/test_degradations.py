"""The degradation library: seeded operators, their physics/closed forms, CutMix, determinism."""

from __future__ import annotations

import hashlib
import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from abair.degradations import (
    DEGRADATIONS,
    JPEG_CODEC,
    apply,
    get_operator,
    make_generator,
    sample_severity,
    seed_from_string,
)
from abair.degradations._common import convolve_reflect, correlate_valid, reflect_indices
from abair.degradations.blur import defocus_kernel, motion_kernel
from abair.degradations.cutmix import cutmix
from abair.degradations.haze import synthetic_depth
from abair.degradations.jpeg import decode_jpeg, encode_jpeg
from abair.errors import UserError
from abair.imageops import tensor_to_uint8

RANDOM_CONTENT = ("rain", "haze", "noise", "blur", "lowlight", "snow")  # randomness beyond the severity


def pattern(size: int = 48, dtype=torch.float64) -> torch.Tensor:
    """A deterministic textured colour image (3, size, size) in [0.05, 0.95], no RNG involved."""
    y = torch.linspace(0.0, 1.0, size, dtype=torch.float64).view(-1, 1)
    x = torch.linspace(0.0, 1.0, size, dtype=torch.float64).view(1, -1)
    r = 0.5 + 0.45 * torch.sin(9.0 * x + 4.0 * y)
    g = 0.5 + 0.45 * torch.cos(13.0 * x * y + 2.0 * x)
    b = 0.5 + 0.45 * torch.sin(7.0 * y - 5.0 * x * x)
    return torch.stack([r, g, b]).to(dtype)


def textured(size: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((3, size, size), generator=g, dtype=torch.float64).to(dtype)


# ------------------------------------------------------------------------------------------- registry


def test_class_order_and_lookup():
    assert DEGRADATIONS == ("rain", "haze", "noise", "blur", "lowlight", "jpeg", "bitdepth", "snow")
    for name in DEGRADATIONS:
        assert get_operator(name).__name__ == name
    with pytest.raises(UserError, match=r"unknown degradation 'rian' \(did you mean 'rain'\?\)"):
        get_operator("rian")
    with pytest.raises(UserError, match="did you mean 'rain'"):
        apply("rian", pattern())


def test_seed_from_string_is_the_documented_hash():
    parts = ("mini", "mini-derain", "astronaut-r0c0")
    digest = hashlib.sha256(b"mini|mini-derain|astronaut-r0c0").digest()
    assert seed_from_string(*parts) == int.from_bytes(digest[:8], "big") & (2**63 - 1)
    assert seed_from_string(1, 2.5, None) == int.from_bytes(
        hashlib.sha256(b"1|2.5|None").digest()[:8], "big"
    ) & (2**63 - 1)
    assert seed_from_string("a") == 5374906597990186442  # pinned: must never change across versions
    assert seed_from_string("a", "b") != seed_from_string("ab")


def test_make_generator():
    g = make_generator(None)
    assert torch.equal(torch.rand(4, generator=g), torch.rand(4, generator=torch.Generator().manual_seed(0)))
    g2 = torch.Generator().manual_seed(3)
    assert make_generator(g2) is g2
    assert torch.equal(
        torch.rand(4, generator=make_generator(np.int64(7))),
        torch.rand(4, generator=torch.Generator().manual_seed(7)),
    )
    with pytest.raises(UserError, match="seed must be an integer"):
        make_generator("7")
    with pytest.raises(UserError, match="non-negative"):
        make_generator(-1)


@pytest.mark.parametrize("name", DEGRADATIONS)
def test_sample_severity_gives_a_full_specification(name):
    params = sample_severity(name, 5)
    assert params == sample_severity(name, 5)
    x = pattern(32)
    # fully specified: the severity no longer comes from the generator
    a = apply(name, x, 1, **params)
    b = apply(name, x, 1, **params)
    assert torch.equal(a, b)
    if name not in RANDOM_CONTENT:
        assert torch.equal(apply(name, x, 1, **params), apply(name, x, 99, **params))


def test_severity_draw_does_not_depend_on_fixing_a_parameter():
    # operators always draw every parameter, so fixing one keeps the random content (streak seeds)
    x = pattern(32)
    drawn = sample_severity("rain", 11)
    free = apply("rain", x, 11)
    fixed = apply("rain", x, 11, angle=drawn["angle"])
    assert torch.equal(free, fixed)


# -------------------------------------------------------------------------------------- generic laws


@pytest.mark.parametrize("name", DEGRADATIONS)
def test_determinism_shape_dtype_range(name):
    for dtype in (torch.float32, torch.float64):
        x = pattern(40, dtype)
        a = apply(name, x, 123)
        assert a.shape == x.shape and a.dtype == dtype and a.device == x.device
        assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
        assert torch.equal(a, apply(name, x, 123))
        assert torch.equal(a, apply(name, x, torch.Generator().manual_seed(123)))
        outputs = {hashlib.sha256(apply(name, x, s).numpy().tobytes()).hexdigest() for s in range(4)}
        assert len(outputs) >= 2  # different seeds give different degradations
    batch = torch.stack([pattern(40), pattern(40)])
    out = apply(name, batch, 0)
    assert out.shape == batch.shape and out.dtype == batch.dtype


@pytest.mark.parametrize("name", RANDOM_CONTENT)
def test_different_seeds_differ_at_fixed_severity(name):
    x = pattern(40)
    params = (
        {"kind": "motion", "size": 11} if name == "blur" else sample_severity(name, 0)
    )  # defocus has none
    assert not torch.equal(apply(name, x, 1, **params), apply(name, x, 2, **params))


@pytest.mark.parametrize("name", DEGRADATIONS)
def test_batch_draws_sequentially_per_image(name):
    x = pattern(32)
    batch = torch.stack([x, x, x])
    out = apply(name, batch, 42)
    g = make_generator(42)
    singles = torch.stack([apply(name, x, g) for _ in range(3)])
    assert torch.equal(out, singles)
    if name in RANDOM_CONTENT:
        assert not torch.equal(out[0], out[1])


@pytest.mark.parametrize("name", ("rain", "haze", "noise", "blur", "lowlight", "snow"))
def test_float32_and_float64_share_the_draws(name):
    x64 = pattern(32)
    a = apply(name, x64, 9)
    b = apply(name, x64.float(), 9)
    assert (a - b.double()).abs().max() < 1e-5


def test_input_validation():
    with pytest.raises(UserError, match=r"shaped \(3,H,W\) or \(N,3,H,W\), got \(1, 8, 8\)"):
        apply("noise", torch.zeros(1, 8, 8))
    with pytest.raises(UserError, match="float32 or float64"):
        apply("noise", torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(UserError, match=r"rain: brightness must be in \[0.0, 1.0\], got 1.5"):
        apply("rain", pattern(16), 0, brightness=1.5)
    with pytest.raises(UserError, match=r"jpeg: quality must be an integer in 1..100, got 0"):
        apply("jpeg", pattern(16), 0, quality=0)
    with pytest.raises(UserError, match=r"bitdepth: bits must be an integer in 1..8, got 9"):
        apply("bitdepth", pattern(16), 0, bits=9)
    with pytest.raises(UserError, match="blur: kind must be one of motion, defocus, got 'gauss'"):
        apply("blur", pattern(16), 0, kind="gauss")
    with pytest.raises(UserError, match="blur: radius applies to kind='defocus' only"):
        apply("blur", pattern(16), 0, kind="motion", radius=2.0)
    with pytest.raises(UserError, match="blur: size must be an odd integer"):
        apply("blur", pattern(16), 0, size=8)


# ----------------------------------------------------------------------------------------- helpers


def test_reflect_padding_and_convolution_match_independent_implementations():
    for n, pad in ((5, 2), (5, 12), (1, 3), (2, 5)):
        expected = np.pad(np.arange(n), pad, mode="reflect") if n > 1 else np.zeros(n + 2 * pad, dtype=int)
        assert reflect_indices(n, pad).tolist() == expected.tolist()
    x = textured(20).unsqueeze(0)
    kernel = motion_kernel(7, 3)
    ours = convolve_reflect(x, kernel)
    ref = F.conv2d(F.pad(x, (3, 3, 3, 3), mode="reflect"), kernel.flip(0, 1).expand(3, 1, 7, 7), groups=3)
    assert torch.allclose(ours, ref, atol=1e-12, rtol=0)
    # sparse seed maps take the splatting path: same numbers as a dense valid correlation
    seeds = torch.zeros(30, 30, dtype=torch.float64)
    seeds[3, 4], seeds[15, 20], seeds[29, 0] = 0.7, 1.0, 0.4
    k = torch.rand(9, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    dense = F.conv2d(seeds.view(1, 1, 30, 30), k.view(1, 1, 9, 9))[0, 0]
    assert torch.allclose(correlate_valid(seeds, k), dense, atol=1e-12, rtol=0)


# ------------------------------------------------------------------------------ operator behaviour


@pytest.mark.parametrize("sigma", (15.0, 25.0, 50.0))
def test_noise_sigma_on_flat_grey(sigma):
    flat = torch.full((3, 96, 96), 0.5, dtype=torch.float64)
    out = apply("noise", flat, 0, sigma=sigma)
    estimated = float((out - 0.5).std()) * 255.0
    assert abs(estimated - sigma) / sigma < 0.10
    assert abs(float(out.mean()) - 0.5) < 0.01


def test_jpeg_size_and_error_fall_with_quality():
    x = pattern(96)
    arr = tensor_to_uint8(x)
    sizes = [len(encode_jpeg(arr, q)) for q in (95, 75, 50, 20, 5)]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    errors = [float((apply("jpeg", x, 0, quality=q) - x).abs().mean()) for q in (95, 50, 10)]
    assert errors[0] < errors[1] < errors[2]
    # the operator is exactly Pillow with the recorded settings
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=30, subsampling="4:2:0", optimize=False)
    expected = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    assert buf.getvalue() == encode_jpeg(arr, 30)
    assert np.array_equal(tensor_to_uint8(apply("jpeg", x, 0, quality=30)), expected)
    assert np.array_equal(decode_jpeg(buf.getvalue()), expected)
    import PIL

    assert JPEG_CODEC.startswith(f"Pillow-{PIL.__version__}/libjpeg") and "4:2:0" in JPEG_CODEC


@pytest.mark.parametrize("bits", range(1, 9))
def test_bitdepth_levels_and_formula(bits):
    x = textured(48)
    out = apply("bitdepth", x, 0, bits=bits)
    x8 = np.round(x.numpy() * 255.0).astype(np.int64)
    expected = (x8 >> (8 - bits)) * 255.0 / (2**bits - 1)
    assert np.array_equal(np.round(out.numpy() * 255.0), np.round(expected))
    assert np.allclose(out.numpy() * 255.0, expected, atol=1e-9)
    for c in range(3):
        assert len(torch.unique(out[c])) <= 2**bits
    if bits == 8:
        assert np.array_equal(tensor_to_uint8(out), tensor_to_uint8(x))


def test_blur_kernels():
    for size in (3, 7, 15, 21):
        for seed in range(3):
            k = motion_kernel(size, seed)
            assert k.shape == (size, size) and float(k.min()) >= 0.0
            assert abs(float(k.sum()) - 1.0) < 1e-12
            assert int((k > 0).sum()) >= size - 1  # a path, not a point
    assert torch.equal(motion_kernel(15, 4), motion_kernel(15, 4))
    assert not torch.equal(motion_kernel(15, 4), motion_kernel(15, 5))
    for radius, side in ((0.7, 3), (1.0, 3), (2.5, 5), (2.6, 7), (4.0, 9)):
        k = defocus_kernel(radius)
        r = side // 2
        assert k.shape == (side, side) and abs(float(k.sum()) - 1.0) < 1e-12
        assert torch.equal(k, k.flip(0)) and torch.equal(k, k.T)
        assert float(k[0].sum()) > 0.0  # tight: the outer row meets the disk
        if radius >= 1.0:  # a tap wholly inside the disk carries 1 / (pi r^2): coverage sums to the area
            assert abs(float(k[r, r]) * math.pi * radius**2 - 1.0) < 0.03
        if (r - 0.5) * math.sqrt(2.0) > radius:  # the corner tap's nearest point lies outside the disk
            assert float(k[0, 0]) == 0.0
    for radius in (0.0, 0.3, 0.5):  # fits inside one pixel
        assert torch.equal(defocus_kernel(radius), torch.ones(1, 1, dtype=torch.float64))


@pytest.mark.parametrize("kind", ("motion", "defocus"))
def test_blur_reduces_gradient_energy_and_keeps_mean(kind):
    x = textured(64)
    out = apply("blur", x, 3, kind=kind)

    def energy(t):
        return float((t[:, 1:, :] - t[:, :-1, :]).pow(2).sum() + (t[:, :, 1:] - t[:, :, :-1]).pow(2).sum())

    assert energy(out) < 0.5 * energy(x)
    assert abs(float(out.mean()) - float(x.mean())) < 0.01
    flat = torch.full((3, 32, 32), 0.3, dtype=torch.float64)
    assert torch.allclose(apply("blur", flat, 3, kind=kind), flat, atol=1e-12)


def test_haze_follows_the_scattering_model_exactly():
    j = textured(40)
    depth = synthetic_depth(40, 40, make_generator(4))
    assert float(depth.min()) == 0.0 and float(depth.max()) == 1.0
    out = apply("haze", j, 0, beta=1.3, airlight=0.85, depth=depth)
    t = torch.exp(-1.3 * depth)
    assert torch.allclose(out, j * t + 0.85 * (1 - t), atol=1e-12, rtol=0)
    airlight = (0.9, 0.8, 0.7)
    out = apply("haze", j, 0, beta=2.0, airlight=airlight, depth=depth)
    t = torch.exp(-2.0 * depth)
    expected = torch.stack([j[c] * t + airlight[c] * (1 - t) for c in range(3)])
    assert torch.allclose(out, expected, atol=1e-12, rtol=0)
    # depth 0 leaves the image alone; drawn depth makes it hazier (less contrast, towards airlight)
    assert torch.allclose(apply("haze", j, 0, depth=torch.zeros(40, 40, dtype=torch.float64)), j, atol=1e-15)
    hazy = apply("haze", j, 0, beta=2.0, airlight=1.0)
    assert float(hazy.std()) < float(j.std()) and float(hazy.mean()) > float(j.mean())
    with pytest.raises(UserError, match="does not match"):
        apply("haze", j, 0, depth=torch.zeros(10, 10))


def test_synthetic_depth_is_smooth():
    d = synthetic_depth(64, 64, make_generator(1))
    assert float((d[1:] - d[:-1]).abs().max()) < 0.15 and float((d[:, 1:] - d[:, :-1]).abs().max()) < 0.15


def test_lowlight_darkens_by_the_factor_in_linear_light():
    x = 0.3 + 0.6 * textured(64)
    for factor in (0.1, 0.25):
        out = apply("lowlight", x, 0, factor=factor)
        ratio = float(out.pow(2.2).mean() / x.pow(2.2).mean())
        assert abs(ratio - factor) / factor < 0.10
        assert float(out.mean()) < float(x.mean())
    # noiseless closed form: (f x^g)^(1/g) = f^(1/g) x
    clean = apply("lowlight", x, 0, factor=0.2, shot=0.0, read=0.0)
    assert torch.allclose(clean, 0.2 ** (1 / 2.2) * x, atol=1e-12)
    # shot noise grows with the signal: residual std is larger on the brighter half
    flat = torch.cat([torch.full((3, 32, 64), 0.3), torch.full((3, 32, 64), 0.9)], 1).double()
    noisy = apply("lowlight", flat, 0, factor=0.3, shot=2e-3, read=1e-4).pow(2.2)
    assert float(noisy[:, 32:].std()) > 2.0 * float(noisy[:, :32].std())


def structure_angle(layer: torch.Tensor) -> float:
    """Streak direction in degrees from vertical (positive = bottom leaning right) via the structure tensor.

    The layer is pre-smoothed (Gaussian sigma 1.5 px): raw central differences on 2-px-wide lines are
    anisotropic and pull the estimate ~7 degrees towards the diagonals.
    """
    g = torch.exp(-(torch.arange(-4, 5, dtype=torch.float64) ** 2) / (2 * 1.5**2))
    g2 = torch.outer(g, g) / torch.outer(g, g).sum()
    layer = F.conv2d(layer.view(1, 1, *layer.shape), g2.view(1, 1, 9, 9), padding=4)[0, 0]
    gx = (layer[1:-1, 2:] - layer[1:-1, :-2]) / 2
    gy = (layer[2:, 1:-1] - layer[:-2, 1:-1]) / 2
    jxx, jyy, jxy = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
    phi = 0.5 * math.degrees(math.atan2(2 * jxy, jxx - jyy))  # dominant gradient direction from +x
    # a streak along (sin a, cos a) has its gradient along (cos a, -sin a), i.e. phi = -a
    return -phi


@pytest.mark.parametrize("angle", (-25.0, 0.0, 20.0, 45.0))
def test_rain_streak_kernel_axis(angle):
    from abair.degradations.rain import streak_kernel

    k = streak_kernel(30.0, angle)
    r = k.shape[0] // 2
    c = torch.arange(-r, r + 1, dtype=torch.float64)
    ys, xs = torch.meshgrid(c, c, indexing="ij")
    mxx, myy, mxy = float((k * xs * xs).sum()), float((k * ys * ys).sum()), float((k * xs * ys).sum())
    axis_from_x = 0.5 * math.degrees(math.atan2(2 * mxy, mxx - myy))  # principal axis, y down
    assert abs((90.0 - axis_from_x - angle + 90.0) % 180.0 - 90.0) < 0.5
    assert float(k.max()) == 1.0 and float(k.min()) == 0.0


@pytest.mark.parametrize("angle", (-25.0, 0.0, 20.0))
def test_rain_brightens_with_oriented_streaks(angle):
    dark = torch.zeros((3, 96, 96), dtype=torch.float64)
    out = apply("rain", dark, 2, angle=angle, length=30.0, density=0.004, brightness=0.8)
    assert float(out.mean()) > 0.02
    assert float((out[0] > 0.05).double().mean()) < 0.6  # streaks, not a veil
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])  # grey streaks
    estimate = structure_angle(out[0])
    assert abs((estimate - angle + 90.0) % 180.0 - 90.0) < 10.0
    assert torch.equal(apply("rain", pattern(32), 2, brightness=0.0), pattern(32))
    bright = torch.ones((3, 32, 32), dtype=torch.float64)
    assert torch.equal(apply("rain", bright, 2), bright)  # screen blend never darkens


def test_snow_brightens_with_sparse_flakes_and_veil():
    dark = torch.zeros((3, 96, 96), dtype=torch.float64)
    out = apply("snow", dark, 5, density=0.01, veil=0.0, angle=10.0)
    covered = float((out[0] > 0.2).double().mean())
    assert 0.002 < covered < 0.3  # flakes are sparse
    assert float(out.max()) > 0.5  # and some are bright
    x = pattern(32)
    veiled = apply("snow", x, 5, density=0.0, veil=0.25)
    assert torch.allclose(veiled, x * 0.75 + 0.25 * 0.9, atol=1e-12)
    assert float(apply("snow", x, 5).mean()) > float(x.mean())


# ----------------------------------------------------------------------------------------- cutmix


def test_cutmix_class_map_marks_exactly_the_changed_regions():
    x = textured(96)
    degs = ("noise", "haze", "lowlight", "blur")
    for seed in range(6):
        out, cmap = cutmix(x, seed, degradations=degs)
        assert cmap.dtype == torch.int64 and cmap.shape == (96, 96) and out.shape == x.shape
        labels = set(torch.unique(cmap).tolist())
        assert labels <= {0} | {DEGRADATIONS.index(d) + 1 for d in degs}
        assert 1 <= len(labels - {0}) <= 4
        changed = (out != x).any(0)
        assert not changed[cmap == 0].any()  # every changed pixel is labelled
        for label in labels - {0}:
            assert float(changed[cmap == label].double().mean()) > 0.9  # every labelled region changed
        assert torch.equal(out, cutmix(x, seed, degradations=degs)[0])


def test_cutmix_regions_and_labels():
    x = textured(64)
    for n in (1, 2, 3):
        counts = []
        for seed in range(8):
            _, cmap = cutmix(
                x, seed, degradations=("noise", "haze", "lowlight"), n_regions=n, min_frac=0.3, max_frac=0.5
            )
            counts.append(len(set(torch.unique(cmap).tolist()) - {0}))
        assert max(counts) == n and min(counts) >= 1
    # custom classes relabel
    _, cmap = cutmix(x, 0, degradations=("noise",), classes=("noise", "rain"), n_regions=1)
    assert set(torch.unique(cmap).tolist()) == {0, 1}
    # a box covers between min_frac^2 and max_frac^2 of the image
    _, cmap = cutmix(x, 0, degradations=("noise",), n_regions=1, min_frac=0.5, max_frac=0.5)
    assert int((cmap > 0).sum()) == 32 * 32
    with pytest.raises(UserError, match="did you mean 'rain'"):
        cutmix(x, 0, degradations=("rian",))
    with pytest.raises(UserError, match="n_regions must be an integer in 1..2"):
        cutmix(x, 0, degradations=("noise", "haze"), n_regions=3)
    with pytest.raises(UserError, match="has no label in classes"):
        cutmix(x, 0, degradations=("snow",), classes=("rain",))


def test_cutmix_batch():
    x = torch.stack([textured(48, 1), textured(48, 1)])
    out, cmap = cutmix(x, 3)
    assert out.shape == x.shape and cmap.shape == (2, 48, 48)
    assert not (torch.equal(cmap[0], cmap[1]) and torch.equal(out[0], out[1]))
    g = make_generator(3)
    singles = [cutmix(x[i], g) for i in range(2)]
    assert torch.equal(out, torch.stack([o for o, _ in singles]))
    assert torch.equal(cmap, torch.stack([m for _, m in singles]))


def test_motion_kernel_is_centred_on_its_centre_of_mass():
    # a sharp frame taken mid-exposure sits at the blur's centroid: the blurred image is not shifted
    for seed in range(20):
        k = motion_kernel(21, seed)
        ys, xs = torch.meshgrid(torch.arange(21.0, dtype=torch.float64), torch.arange(21.0, dtype=torch.float64),
                                indexing="ij")
        assert abs(float((k * xs).sum()) - 10) < 0.25 and abs(float((k * ys).sum()) - 10) < 0.25


# --------------------------------------------------------------------------------- golden outputs

# sha256 of tensor_to_uint8(op(pattern(48) in float64, seed 20240611)) with default severities.
# Pinned so that any change to an operator's numbers or draw order is noticed: update only on purpose.
GOLDEN = {
    "rain": "41935f516b912906e70b16c60ff777661ce5064ba8a660a0b4ff01c830ba8043",
    "haze": "e5aa5a56d09a9b37a17453789fe118a5f01f543385d8983f8378a84e6a98fb83",
    "noise": "ccaa0d9739c9f8820c8c96188d6c0518ad8b773099ec967305d0ab4aeb442f4e",
    "blur": "e014c36626a664a35ff68bed835b00b1252d2eb92e859dd0726744329273602e",
    "lowlight": "e40896c678b39ba172ab1a5fc3c8a16e93f5c81c25c1dfdaede66d266af43256",
    "jpeg": "4cc44671c902288c5d214237d51aa344aae3f50f6997febc40e9569a9c0f8553",
    "bitdepth": "c6f3ce3a054a4e921f7eb8a8d2bbd9b7471766059132e3a3c9aea444245bf065",
    "snow": "9f29a0481140ef906669b9d5987d5b4ecdd41319cd81a202f5d34c21b8ecfb1a",
    "cutmix": "4d3db87c292c9cc99993bbf18cde9cc9a01732c1465beaa6dcc1e51befee0abe",
}


@pytest.mark.parametrize("name", DEGRADATIONS + ("cutmix",))
def test_golden_outputs(name):
    x = pattern(48)
    out = cutmix(x, 20240611)[0] if name == "cutmix" else apply(name, x, 20240611)
    digest = hashlib.sha256(tensor_to_uint8(out).tobytes()).hexdigest()
    assert digest == GOLDEN[name]


@pytest.mark.benchmark
@pytest.mark.parametrize("name", DEGRADATIONS + ("cutmix",))
def test_training_batch_speed(name):
    """(8, 3, 64, 64) float32 on the CPU, median of 5: well under 50 ms (run with -m benchmark)."""
    import time

    x = torch.rand((8, 3, 64, 64), generator=torch.Generator().manual_seed(0))
    times = []
    for seed in range(6):
        start = time.perf_counter()
        cutmix(x, seed) if name == "cutmix" else apply(name, x, seed)
        times.append(time.perf_counter() - start)
    assert sorted(times[1:])[2] < 0.05
