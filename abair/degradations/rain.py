"""Synthetic rain streaks.

Per image: seed points are scattered over a canvas larger than the image by the streak's half-extent
(so streaks enter from outside the frame): each canvas pixel seeds a streak with probability
``density`` and an intensity U(0.5, 1). The seed map is convolved with a rasterised line kernel
(``length`` px along ``angle``, Gaussian cross-profile sigma 0.6 px, i.e. slightly blurred, and a
mild taper towards the ends), clipped to [0, 1], scaled by ``brightness`` and composited with the
screen blend ``out = 1 - (1 - I) (1 - b R) = I + b R (1 - I)``, which only brightens.

Parameters (default range when left ``None``, drawn in this order):

- ``angle``: degrees from vertical, U(-30, 30); positive leans the bottom of a streak to the right
  (rain falling towards +x). Allowed -90..90.
- ``length``: streak length in pixels, U(10, 40). Allowed 1..200.
- ``density``: fraction of pixels that seed a streak, U(0.002, 0.008). Allowed 0..0.2.
- ``brightness``: peak streak opacity in [0, 1], U(0.5, 0.9). Allowed 0..1.

Random draws per image after the parameters: one U(0, 1) canvas of ``(H + 2p) x (W + 2p)``.
"""

from __future__ import annotations

import math

import torch

from ._common import (
    capsule_kernel,
    check_number,
    draw_uniform,
    per_image,
    resolve,
    sparse_particle_map,
)

NAME = "rain"
RANGES = {"angle": (-30.0, 30.0), "length": (10.0, 40.0), "density": (0.002, 0.008), "brightness": (0.5, 0.9)}
STREAK_SIGMA = 0.6  # px, cross-profile of a streak


def sample_params(generator: torch.Generator) -> dict:
    """Draw ``angle, length, density, brightness`` from :data:`RANGES` (uniform, in this order)."""
    return {key: draw_uniform(generator, low, high) for key, (low, high) in RANGES.items()}


def streak_kernel(length: float, angle: float) -> torch.Tensor:
    """Float64 (k, k) line kernel, peak 1 at the centre, tapering to ~0.5 at the ends (k odd)."""
    kernel = capsule_kernel(length, angle, STREAK_SIGMA)
    r = kernel.shape[0] // 2
    coords = torch.arange(-r, r + 1, dtype=torch.float64)
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    rad = math.radians(angle)
    along = (xs * math.sin(rad) + ys * math.cos(rad)) / max(length / 2.0, 0.5)
    return kernel * (1.0 - 0.5 * along.clamp(-1.0, 1.0) ** 2)


def rain_layer(
    height: int, width: int, generator: torch.Generator, like: torch.Tensor, *, angle, length, density
) -> torch.Tensor:
    """Streak opacity map ``(H, W)`` in [0, 1] (before ``brightness``), ``like``'s dtype/device."""
    return sparse_particle_map(generator, height, width, like, streak_kernel(length, angle), density, 0.5, 1.0)


def rain(
    image: torch.Tensor,
    generator: torch.Generator | int | None = None,
    *,
    angle: float | None = None,
    length: float | None = None,
    density: float | None = None,
    brightness: float | None = None,
) -> torch.Tensor:
    """Add rain streaks to ``image`` (3,H,W) or (N,3,H,W) float in [0,1]; same shape/dtype/device out."""
    given = {"angle": angle, "length": length, "density": density, "brightness": brightness}

    def one(img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        p = resolve(NAME, sample_params(gen), given)
        a = check_number(NAME, "angle", p["angle"], -90.0, 90.0)
        n = check_number(NAME, "length", p["length"], 1.0, 200.0)
        d = check_number(NAME, "density", p["density"], 0.0, 0.2)
        b = check_number(NAME, "brightness", p["brightness"], 0.0, 1.0)
        layer = rain_layer(img.shape[-2], img.shape[-1], gen, img, angle=a, length=n, density=d) * b
        return img + layer * (1.0 - img)  # screen blend 1 - (1 - I)(1 - bR)

    return per_image(image, generator, one)
