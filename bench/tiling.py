"""Overlapping-tile inference, so a large model restores 1280x720 frames within memory.

:func:`restore_tiled` cuts each image of a batch into ``tile`` x ``tile`` tiles that overlap by
``overlap`` pixels, restores them (each tile reflect-padded to the method's ``multiple_of`` and
cropped back by :func:`bench.padding.restore_padded`; tiles are grouped into batches of up to the
method's ``max_batch``) and blends them with per-pixel weights normalised to sum 1:

- ``linear``: weights ramp across each overlap (``(j + 0.5) / overlap``) and are 1 elsewhere; with
  ``overlap <= tile / 2`` the two ramps of neighbouring tiles sum to exactly 1 (a partition of
  unity); image borders get no ramp.
- ``gaussian``: a Gaussian bump per tile (sigma = tile / 4), largest at the tile centre.
- ``none``: no blending: each pixel comes from exactly one tile, the one whose share it is when
  every overlap is cut in the middle (a hard seam, like cropping and pasting).

Tiles have one size: along an axis the starts are ``0, stride, 2 stride, ...`` with
``stride = tile - overlap`` and the last tile is moved back to end at the border, so its overlap may
be larger; an axis shorter than ``tile`` is one tile of the full length. An image that fits in one
tile, or a method with ``tileable = False`` (precomputed outputs), is restored in one piece.

Blending accumulates in float64. Agreement with untiled inference (tests/test_tiling.py): exact
for pointwise methods on float32 batches; for a method
whose output at a pixel depends only on inputs within ``r`` pixels, exact with ``blend="none"`` when
``overlap >= 2 r`` (and, for any blend, at every pixel farther than ``r`` from every interior tile
edge); elsewhere the linear blend mixes in tile-edge values with a weight below 1/2.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from abair.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    import torch

BLENDS = ("linear", "gaussian", "none")


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of the tiles along an axis of ``size`` pixels (one tile if ``size <= tile``)."""
    if size <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return sorted(set(starts))


def axis_weights(size: int, starts: list[int], length: int, overlap: int, blend: str) -> list[list[float]]:
    """One weight profile (``length`` floats, all > 0 inside the tile's share) per tile along an axis."""
    profiles = []
    n = len(starts)
    for i, start in enumerate(starts):
        end = start + length
        if blend == "gaussian":
            sigma = length / 4.0
            centre = (length - 1) / 2.0
            profiles.append([math.exp(-((j - centre) ** 2) / (2.0 * sigma * sigma)) for j in range(length)])
            continue
        if blend == "none":
            lo = 0 if i == 0 else (start + starts[i - 1] + length) // 2
            hi = size if i == n - 1 else (starts[i + 1] + end) // 2
            profiles.append([1.0 if lo <= start + j < hi else 0.0 for j in range(length)])
            continue
        lead = starts[i - 1] + length - start if i > 0 else 0  # overlap with the previous tile
        trail = end - starts[i + 1] if i < n - 1 else 0  # overlap with the next tile
        profile = []
        for j in range(length):
            w = 1.0
            if lead > 0 and j < lead:
                w = min(w, (j + 0.5) / lead)
            if trail > 0 and j >= length - trail:
                w = min(w, (length - j - 0.5) / trail)
            profile.append(w)
        profiles.append(profile)
    return profiles


def check_tiling(tile: int, overlap: int, blend: str) -> None:
    """UserError unless ``tile`` (pixels) >= 1, 0 <= ``overlap`` (pixels) < ``tile`` and ``blend`` is known."""
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 1:
        raise UserError(f"--tile must be a positive number of pixels, got {tile!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < tile:
        raise UserError(f"--tile-overlap must be at least 0 and smaller than the tile ({tile}), got {overlap!r}")
    if blend not in BLENDS:
        raise UserError(f"--tile-blend must be one of {', '.join(BLENDS)}, got {blend!r}")


def restore_tiled(method, batch: torch.Tensor, context, tile: int, overlap: int = 32,
                  blend: str = "linear") -> torch.Tensor:
    """Restore a float (N, 3, H, W) batch in [0, 1] tile by tile; returns (N, 3, H, W).

    Args:
        method: a :class:`baselines.base.Method` (``restore``, ``multiple_of``, ``max_batch``).
        batch: the degraded images.
        context: the :class:`baselines.base.RestoreContext` of the batch; each tile batch gets a
            copy whose ``image_ids`` repeat the batch's ids once per tile it holds.
        tile: tile side in pixels (>= 1).
        overlap: pixels shared by neighbouring tiles (0 <= overlap < tile).
        blend: ``"linear"``, ``"gaussian"`` or ``"none"`` (see the module docstring).
    """
    import torch

    from .padding import restore_padded

    check_tiling(tile, overlap, blend)
    n, _, height, width = batch.shape
    if (height <= tile and width <= tile) or not getattr(method, "tileable", True):
        return restore_padded(method, batch, context)

    th, tw = min(tile, height), min(tile, width)
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    wy = axis_weights(height, ys, th, overlap, blend)
    wx = axis_weights(width, xs, tw, overlap, blend)
    positions = [(iy, ix) for iy in range(len(ys)) for ix in range(len(xs))]

    # float64 accumulators: the blend of identical tile values then rounds back to the exact input value
    acc = torch.float64 if batch.device.type != "mps" else torch.float32
    out = torch.zeros(batch.shape, dtype=acc, device=batch.device)
    total = torch.zeros((1, 1, height, width), dtype=acc, device=batch.device)
    per_call = max(1, int(getattr(method, "max_batch", 1)) // n)
    ids = tuple(context.image_ids)
    for first in range(0, len(positions), per_call):
        chunk = positions[first : first + per_call]
        crops = [batch[..., ys[iy] : ys[iy] + th, xs[ix] : xs[ix] + tw] for iy, ix in chunk]
        tile_context = replace(context, image_ids=ids * len(chunk)) if len(ids) == n else context
        restored = restore_padded(method, torch.cat(crops), tile_context).to(acc)
        for k, (iy, ix) in enumerate(chunk):
            weight = torch.outer(torch.tensor(wy[iy], dtype=acc), torch.tensor(wx[ix], dtype=acc)).to(batch.device)
            y0, x0 = ys[iy], xs[ix]
            out[..., y0 : y0 + th, x0 : x0 + tw] += weight * restored[k * n : (k + 1) * n]
            total[..., y0 : y0 + th, x0 : x0 + tw] += weight
    return (out / total).to(batch.dtype)
