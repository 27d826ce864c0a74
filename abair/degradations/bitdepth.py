"""Bit-depth reduction: keep the top ``bits`` bits of the 8-bit image, then stretch to full range.

Convention: ``x8 = round(255 I)`` (half to even), ``level = floor(x8 / 2**(8 - bits))`` (the top
``bits`` bits, 0 .. 2**bits - 1), ``out = level * 255 / (2**bits - 1) / 255 = level / (2**bits - 1)``:
black stays 0, the top level maps to exactly 1, and each channel has at most ``2**bits`` levels.
``round(255 out)`` is an exact integer for bits 1, 2, 4, 8; otherwise it is never a tie.
Deterministic given ``bits``: the generator only draws ``bits`` when it is None.

Parameters (default range when left ``None``):

- ``bits``: integer drawn uniformly from 3..6. Allowed 1..8 (8 leaves an 8-bit image unchanged).
"""

from __future__ import annotations

import torch

from ._common import check_int, draw_int, per_image, resolve

NAME = "bitdepth"
RANGES = {"bits": (3, 6)}


def sample_params(generator: torch.Generator) -> dict:
    """Draw ``bits`` uniformly from :data:`RANGES` (integers, both ends included)."""
    return {"bits": draw_int(generator, *RANGES["bits"])}


def quantise(image: torch.Tensor, bits: int) -> torch.Tensor:
    """The bit-depth mapping above on any float tensor in [0, 1], in its dtype."""
    x8 = torch.round(image.clamp(0.0, 1.0) * 255.0)
    level = torch.floor(x8 / float(2 ** (8 - bits)))
    return level / float(2**bits - 1)


def bitdepth(
    image: torch.Tensor,
    generator: torch.Generator | int | None = None,
    *,
    bits: int | None = None,
) -> torch.Tensor:
    """Quantise ``image`` (3,H,W) or (N,3,H,W) float in [0,1] to ``bits`` bits; same shape/dtype/device."""
    given = {"bits": bits}

    def one(img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        p = resolve(NAME, sample_params(gen), given)
        return quantise(img, check_int(NAME, "bits", p["bits"], 1, 8))

    return per_image(image, generator, one)
