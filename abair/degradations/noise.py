"""Additive white Gaussian noise.

``out = clip(I + (sigma / 255) * n, 0, 1)`` with ``n`` i.i.d. standard normal per pixel and channel;
``sigma`` is in 8-bit units (sigma 25 means a standard deviation of 25/255 in [0, 1] units). The only
clipping is the final one to [0, 1].

Parameters (default range when left ``None``):

- ``sigma``: noise standard deviation in 8-bit units, U(5, 50). Allowed 0..255.

Random draws per image after the parameter: one standard normal field of shape (3, H, W).
"""

from __future__ import annotations

import torch

from ._common import check_number, draw_uniform, per_image, randn_field, resolve

NAME = "noise"
RANGES = {"sigma": (5.0, 50.0)}


def sample_params(generator: torch.Generator) -> dict:
    """Draw ``sigma`` (8-bit units) from :data:`RANGES`."""
    return {key: draw_uniform(generator, low, high) for key, (low, high) in RANGES.items()}


def noise(
    image: torch.Tensor,
    generator: torch.Generator | int | None = None,
    *,
    sigma: float | None = None,
) -> torch.Tensor:
    """Add Gaussian noise to ``image`` (3,H,W) or (N,3,H,W) float in [0,1]; same shape/dtype/device out."""
    given = {"sigma": sigma}

    def one(img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        p = resolve(NAME, sample_params(gen), given)
        s = check_number(NAME, "sigma", p["sigma"], 0.0, 255.0)
        return img + (s / 255.0) * randn_field(gen, tuple(img.shape), img)

    return per_image(image, generator, one)
