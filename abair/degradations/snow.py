"""Synthetic snow: a white veil plus three layers of flakes, far to near.

``I <- I (1 - veil) + veil * 0.9`` (a white-ish veil), then for each flake layer (small, medium,
large), ``I <- I (1 - a) + a * 0.95`` where the layer's opacity map ``a`` is a sparse seed map
(per-flake opacity drawn uniformly in the layer's range) convolved with the flake's shape: a
Gaussian blob stretched into a short streak along the fall ``angle`` (motion blur), clipped to 1.

=======  ==================  ================  ===============  ===============
layer    seeds per pixel     blob sigma (px)   streak (px)      opacity
=======  ==================  ================  ===============  ===============
small    density             0.5 (~1 px)       1.5              U(0.4, 0.9)
medium   density * 0.15      1.0 (~2-3 px)     3                U(0.5, 1.0)
large    density * 0.02      2.0 (soft, ~6 px) 5                U(0.4, 0.8)
=======  ==================  ================  ===============  ===============

Seeds are scattered over a canvas larger than the image by the flake's radius, so flakes are cut by
the frame like real ones.

Parameters (default range when left ``None``, drawn in this order):

- ``density``: seeds of small flakes per pixel, U(0.004, 0.02). Allowed 0..0.2.
- ``veil``: veil opacity, U(0.05, 0.3). Allowed 0..1.
- ``angle``: fall direction in degrees from vertical, U(-30, 30), positive leaning the bottom to the
  right (as for rain). Allowed -90..90.

Random draws per image after the parameters: one U(0, 1) canvas per layer, small to large.
"""

from __future__ import annotations

import torch

from ._common import (
    capsule_kernel,
    check_number,
    draw_uniform,
    per_image,
    resolve,
    sparse_particle_map,
)

NAME = "snow"
RANGES = {"density": (0.004, 0.02), "veil": (0.05, 0.3), "angle": (-30.0, 30.0)}
# (relative seed density, blob sigma px, streak length px, opacity low, opacity high)
LAYERS = ((1.0, 0.5, 1.5, 0.4, 0.9), (0.15, 1.0, 3.0, 0.5, 1.0), (0.02, 2.0, 5.0, 0.4, 0.8))
FLAKE_VALUE = 0.95
VEIL_VALUE = 0.9


def sample_params(generator: torch.Generator) -> dict:
    """Draw ``density, veil, angle`` from :data:`RANGES` (uniform, in this order)."""
    return {key: draw_uniform(generator, low, high) for key, (low, high) in RANGES.items()}


def flake_layer(
    height: int,
    width: int,
    generator: torch.Generator,
    like: torch.Tensor,
    *,
    density: float,
    sigma: float,
    length: float,
    angle: float,
    opacity: tuple[float, float],
) -> torch.Tensor:
    """Opacity map ``(H, W)`` in [0, 1] of one flake layer, in ``like``'s dtype/device."""
    low, high = opacity
    return sparse_particle_map(generator, height, width, like, capsule_kernel(length, angle, sigma), density, low, high)


def snow(
    image: torch.Tensor,
    generator: torch.Generator | int | None = None,
    *,
    density: float | None = None,
    veil: float | None = None,
    angle: float | None = None,
) -> torch.Tensor:
    """Add snow to ``image`` (3,H,W) or (N,3,H,W) float in [0,1]; same shape/dtype/device out."""
    given = {"density": density, "veil": veil, "angle": angle}

    def one(img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        p = resolve(NAME, sample_params(gen), given)
        d = check_number(NAME, "density", p["density"], 0.0, 0.2)
        v = check_number(NAME, "veil", p["veil"], 0.0, 1.0)
        a = check_number(NAME, "angle", p["angle"], -90.0, 90.0)
        out = img * (1.0 - v) + v * VEIL_VALUE
        h, w = img.shape[-2:]
        for rel, sigma, length, low, high in LAYERS:
            alpha = flake_layer(
                h, w, gen, img, density=d * rel, sigma=sigma, length=length, angle=a, opacity=(low, high)
            )
            out = out * (1.0 - alpha) + alpha * FLAKE_VALUE
        return out

    return per_image(image, generator, one)
