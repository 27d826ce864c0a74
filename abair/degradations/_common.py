"""Helpers shared by the degradation operators: input checks, seeded draws, kernels, convolution.

Conventions (all operators):

- images are float tensors ``(3, H, W)`` or ``(N, 3, H, W)`` in [0, 1], float32 or float64, on any
  device; every operator returns the same shape, dtype and device, clipped to [0, 1];
- every random number is drawn on the CPU from a ``torch.Generator`` in float64 and only then cast
  to the image's dtype and moved to its device, so float32 and float64 inputs see the same draws and
  the stream does not depend on the device or on CPU vector features;
- arithmetic happens in the image's dtype; convolutions are sums over the kernel's non-zero taps in a
  fixed order (elementwise tensor operations only), so float64 results do not depend on a BLAS or
  convolution backend and need no im2col buffer however large the kernel.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping

import torch

from abair.errors import UserError

FLOAT_DTYPES = (torch.float32, torch.float64)


# --------------------------------------------------------------------------------------------- seeds


def make_generator(seed_or_generator: int | torch.Generator | None) -> torch.Generator:
    """A CPU ``torch.Generator``: an int seeds a new one, a generator is returned as is, None -> seed 0."""
    if seed_or_generator is None:
        seed_or_generator = 0
    if isinstance(seed_or_generator, torch.Generator):
        if seed_or_generator.device.type != "cpu":
            raise UserError(
                f"degradation generators must live on the CPU, got one on '{seed_or_generator.device}'; "
                "pass torch.Generator() (randomness is drawn on the CPU and moved to the image's device)"
            )
        return seed_or_generator
    if isinstance(seed_or_generator, bool):
        raise UserError(f"a seed must be an integer or a torch.Generator, got {seed_or_generator!r}")
    try:
        seed = operator.index(seed_or_generator)
    except TypeError:
        raise UserError(
            f"a seed must be an integer or a torch.Generator, got {type(seed_or_generator).__name__}"
        ) from None
    if seed < 0:
        raise UserError(f"a seed must be a non-negative integer, got {seed}")
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    return generator


def draw_uniform(generator: torch.Generator, low: float, high: float) -> float:
    """One float64 draw from U(low, high)."""
    u = torch.rand(1, generator=generator, dtype=torch.float64).item()
    return low + (high - low) * u


def draw_log_uniform(generator: torch.Generator, low: float, high: float) -> float:
    """One draw whose logarithm is uniform on [log low, log high] (low, high > 0)."""
    u = torch.rand(1, generator=generator, dtype=torch.float64).item()
    return math.exp(math.log(low) + (math.log(high) - math.log(low)) * u)


def draw_int(generator: torch.Generator, low: int, high: int) -> int:
    """One integer drawn uniformly from ``low..high`` (both included)."""
    return int(torch.randint(low, high + 1, (1,), generator=generator).item())


def rand_field(generator: torch.Generator, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """U(0, 1) field drawn in float64 on the CPU, returned in ``like``'s dtype and device."""
    field = torch.rand(shape, generator=generator, dtype=torch.float64)
    return field.to(device=like.device, dtype=like.dtype)


def randn_field(generator: torch.Generator, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """Standard normal field drawn in float64 on the CPU, returned in ``like``'s dtype and device."""
    field = torch.randn(shape, generator=generator, dtype=torch.float64)
    return field.to(device=like.device, dtype=like.dtype)


# -------------------------------------------------------------------------------------- parameters


def resolve(op: str, drawn: Mapping[str, object], given: Mapping[str, object]) -> dict:
    """Parameters for one image: the explicit (non-None) values in ``given`` override ``drawn``.

    Operators always draw every severity parameter, in a fixed order, even when it is given, so the
    random content that follows (streak positions, noise) does not depend on which ones were fixed.
    """
    unknown = set(given) - set(drawn)
    if unknown:
        raise UserError(f"{op}: unknown parameter(s) {', '.join(sorted(unknown))}; valid: {', '.join(drawn)}")
    return {key: (given[key] if given.get(key) is not None else value) for key, value in drawn.items()}


def check_number(op: str, name: str, value, low: float, high: float) -> float:
    """``value`` as a float, or UserError naming the operator, parameter and the allowed range."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{op}: {name} must be a number in [{low}, {high}], got {value!r}") from None
    if not (low <= number <= high):  # also rejects NaN
        raise UserError(f"{op}: {name} must be in [{low}, {high}], got {value!r}")
    return number


def check_int(op: str, name: str, value, low: int, high: int) -> int:
    """``value`` as an int (integral floats accepted), or UserError naming the allowed range."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (math.isfinite(number) and number == int(number) and low <= number <= high):
        raise UserError(f"{op}: {name} must be an integer in {low}..{high}, got {value!r}")
    return int(number)


# ------------------------------------------------------------------------------------------- images


def as_batch(image) -> tuple[torch.Tensor, bool]:
    """Validate an image and return ``(batch (N,3,H,W) clipped to [0,1], was_single)``."""
    if not isinstance(image, torch.Tensor):
        raise UserError(
            f"degradation operators take a torch tensor (3,H,W) or (N,3,H,W) in [0,1], got {type(image).__name__}; "
            "convert uint8 arrays with abair.imageops.uint8_to_tensor"
        )
    if image.dtype not in FLOAT_DTYPES:
        raise UserError(
            f"degradation operators take float32 or float64 tensors in [0,1], got {image.dtype}; "
            "convert uint8 arrays with abair.imageops.uint8_to_tensor"
        )
    if image.ndim == 3 and image.shape[0] == 3:
        return image.unsqueeze(0).clamp(0.0, 1.0), True
    if image.ndim == 4 and image.shape[1] == 3:
        return image.clamp(0.0, 1.0), False
    raise UserError(
        f"degradation operators take images shaped (3,H,W) or (N,3,H,W), got {tuple(image.shape)}"
    )


def per_image(
    image,
    generator,
    one: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
) -> torch.Tensor:
    """Run ``one(image (3,H,W), generator) -> (3,H,W)`` on each image in order, clip, restore the shape."""
    batch, single = as_batch(image)
    generator = make_generator(generator)
    if batch.shape[0] == 0:
        return batch.clone()
    out = torch.stack([one(batch[i], generator) for i in range(batch.shape[0])])
    out = out.clamp_(0.0, 1.0)
    return out[0] if single else out


# ------------------------------------------------------------------------------------------ kernels


def capsule_kernel(length: float, angle: float, sigma: float) -> torch.Tensor:
    """Soft line segment as a float64 (k, k) kernel with peak ~1 (not normalised), k odd.

    The segment is ``length`` px long, centred, along the direction ``(sin a, cos a)`` in (x right,
    y down) coordinates, i.e. ``angle`` degrees from vertical with positive angles leaning the bottom
    end to the right. Each tap is ``exp(-d^2 / (2 sigma^2))`` where ``d`` is the distance (px) from
    the tap centre to the segment, and exactly 0 where ``d > 3 sigma``.
    """
    rad = math.radians(angle)
    dx, dy = math.sin(rad), math.cos(rad)
    half = length / 2.0
    r = math.ceil(half + 3.0 * sigma)
    coords = torch.arange(-r, r + 1, dtype=torch.float64)
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    along = xs * dx + ys * dy
    perp = ys * dx - xs * dy
    beyond = (along.abs() - half).clamp(min=0.0)
    dist2 = perp * perp + beyond * beyond
    kernel = torch.exp(-dist2 / (2.0 * sigma * sigma))
    kernel[dist2 > (3.0 * sigma) ** 2] = 0.0
    return kernel


def reflect_indices(n: int, pad: int) -> torch.Tensor:
    """Indices of ``arange(-pad, n + pad)`` mirrored into ``0..n-1`` without repeating the edge
    (numpy's ``'reflect'``), valid for any ``pad`` (repeated mirroring when ``pad >= n``)."""
    idx = torch.arange(-pad, n + pad)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    idx = idx.remainder(period)
    return torch.where(idx >= n, period - idx, idx)


def pad_reflect(x: torch.Tensor, pad_y: int, pad_x: int) -> torch.Tensor:
    """Reflect-pad the last two dimensions of ``x`` by ``pad_y`` rows and ``pad_x`` columns each side."""
    iy = reflect_indices(x.shape[-2], pad_y).to(x.device)
    ix = reflect_indices(x.shape[-1], pad_x).to(x.device)
    return x.index_select(-2, iy).index_select(-1, ix)


def correlate_valid(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """'Valid' cross-correlation of the last two dims of ``x`` with a 2-D float64 CPU ``kernel``.

    Output ``(..., H - kh + 1, W - kw + 1)`` in ``x``'s dtype, computed as a sum over the kernel's
    non-zero taps in row-major order; for a 2-D ``x`` with fewer non-zero pixels than the kernel has
    taps (sparse seed maps), as a sum of kernel copies splatted at those pixels in row-major order.
    Either way the order is fixed, so results are reproducible.
    """
    kh, kw = kernel.shape
    h, w = x.shape[-2] - kh + 1, x.shape[-1] - kw + 1
    if h < 1 or w < 1:
        raise ValueError(f"kernel {kh}x{kw} larger than input {tuple(x.shape[-2:])}")
    out = torch.zeros(x.shape[:-2] + (h, w), dtype=x.dtype, device=x.device)
    n_taps = int(torch.count_nonzero(kernel))
    if x.ndim == 2 and int(torch.count_nonzero(x)) < n_taps:
        return _splat(x, kernel, out)
    taps = torch.nonzero(kernel).tolist()
    weights = kernel[kernel != 0].tolist()  # row-major, same order as nonzero()
    for (i, j), weight in zip(taps, weights, strict=True):
        out.add_(x[..., i : i + h, j : j + w], alpha=weight)
    return out


def _splat(x: torch.Tensor, kernel: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """'Valid' correlation of a sparse 2-D ``x``: add ``value * flipped kernel`` at each non-zero."""
    kh, kw = kernel.shape
    h, w = out.shape
    flipped = kernel.flip(0, 1).to(device=x.device, dtype=x.dtype)
    points = torch.nonzero(x).tolist()
    values = x[x != 0].tolist()
    for (sy, sx), value in zip(points, values, strict=True):
        # seed (sy, sx) reaches out[sy - i, sx - j] with weight kernel[i, j]
        top, left = sy - kh + 1, sx - kw + 1
        y0, y1 = max(top, 0), min(sy + 1, h)
        x0, x1 = max(left, 0), min(sx + 1, w)
        if y0 >= y1 or x0 >= x1:
            continue
        out[y0:y1, x0:x1].add_(flipped[y0 - top : y1 - top, x0 - left : x1 - left], alpha=value)
    return out


def convolve_reflect(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """True 2-D convolution of each channel of ``x`` (..., H, W) with an odd-sized float64 kernel,
    reflect padding, output the same size and dtype as ``x``."""
    kh, kw = kernel.shape
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"kernel must have odd sides, got {kh}x{kw}")
    padded = pad_reflect(x, kh // 2, kw // 2)
    return correlate_valid(padded, kernel.flip(0, 1))


def sparse_particle_map(
    generator: torch.Generator, height: int, width: int, like: torch.Tensor, kernel: torch.Tensor,
    density: float, low: float, high: float,
) -> torch.Tensor:
    """Opacity map ``(H, W)`` in [0, 1] of sparse particles (rain streaks, snow flakes), ``like``'s dtype.

    A fraction ``density`` of the pixels of a (kernel-padded) uniform field seed a particle whose peak
    opacity runs linearly from ``low`` to ``high`` over that fraction; each seed is spread by ``kernel``.
    """
    pad = kernel.shape[0] // 2
    u = rand_field(generator, (height + 2 * pad, width + 2 * pad), like)
    seeds = torch.where(u < density, low + (high - low) * u / max(density, 1e-12), torch.zeros_like(u))
    return correlate_valid(seeds, kernel).clamp_(0.0, 1.0)
