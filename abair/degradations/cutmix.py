"""CutMix compositor: paint boxes of differently degraded copies of an image onto it.

For each image, in this order of draws:

1. the number of regions ``n`` (unless ``n_regions`` is given): uniform on 1..4 (capped at the
   number of candidate degradations);
2. a random permutation of ``degradations``; the first ``n`` are used, one per region, distinct;
3. per region: box height and width fractions ``U(min_frac, max_frac)`` of the image's sides
   (rounded to whole pixels, at least 1), top and left offsets uniform over the valid positions,
   then the degradation applied to the *whole* clean image with its own severity drawn from the
   operator's default ranges; its box is pasted onto the output. Later boxes overwrite earlier ones.

The class map holds 0 where the pixel is clean and ``classes.index(name) + 1`` where the box of
degradation ``name`` is visible (``classes`` defaults to :data:`abair.degradations.DEGRADATIONS`, so
labels 1..8 follow the global class order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from abair.errors import UserError

from . import DEGRADATIONS, apply, get_operator
from ._common import as_batch, check_int, check_number, draw_int, draw_uniform, make_generator

MAX_REGIONS = 4


def _check(degradations, classes, n_regions, min_frac, max_frac) -> tuple[tuple, tuple, int | None]:
    degradations = tuple(degradations)
    classes = tuple(DEGRADATIONS if classes is None else classes)
    if not degradations:
        raise UserError("cutmix: degradations is empty; give at least one of " + ", ".join(DEGRADATIONS))
    if len(set(degradations)) != len(degradations):
        raise UserError(f"cutmix: degradations must be distinct, got {', '.join(degradations)}")
    for name in degradations:
        get_operator(name)  # UserError with a suggestion for unknown names
        if name not in classes:
            raise UserError(f"cutmix: degradation '{name}' has no label in classes ({', '.join(classes)})")
    if n_regions is not None:
        n_regions = check_int("cutmix", "n_regions", n_regions, 1, len(degradations))
    low = check_number("cutmix", "min_frac", min_frac, 0.0, 1.0)
    high = check_number("cutmix", "max_frac", max_frac, 0.0, 1.0)
    if low <= 0.0 or low > high:
        raise UserError(f"cutmix: need 0 < min_frac <= max_frac <= 1, got {min_frac} and {max_frac}")
    return degradations, classes, n_regions


def _one(
    img: torch.Tensor,
    gen: torch.Generator,
    degradations: tuple[str, ...],
    classes: tuple[str, ...],
    n_regions: int | None,
    min_frac: float,
    max_frac: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = img.shape[-2:]
    n = n_regions if n_regions is not None else draw_int(gen, 1, min(MAX_REGIONS, len(degradations)))
    chosen = [degradations[i] for i in torch.randperm(len(degradations), generator=gen)[:n].tolist()]
    out = img.clone()
    class_map = torch.zeros((h, w), dtype=torch.int64, device=img.device)
    for name in chosen:
        bh = max(1, math.floor(draw_uniform(gen, min_frac, max_frac) * h + 0.5))
        bw = max(1, math.floor(draw_uniform(gen, min_frac, max_frac) * w + 0.5))
        top = draw_int(gen, 0, h - bh)
        left = draw_int(gen, 0, w - bw)
        degraded = apply(name, img, gen)
        out[:, top : top + bh, left : left + bw] = degraded[:, top : top + bh, left : left + bw]
        class_map[top : top + bh, left : left + bw] = classes.index(name) + 1
    return out, class_map


def cutmix(
    image: torch.Tensor,
    generator: torch.Generator | int | None = None,
    *,
    degradations: Sequence[str] = DEGRADATIONS[:5],
    n_regions: int | None = None,
    classes: Sequence[str] | None = None,
    min_frac: float = 0.25,
    max_frac: float = 0.75,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Composite degradations into boxes of ``image`` (3,H,W) or (N,3,H,W) float in [0,1].

    Returns ``(degraded, class_map)``: ``degraded`` has the input's shape, dtype and device;
    ``class_map`` is int64 ``(H, W)`` (or ``(N, H, W)``) on the same device, 0 = clean.
    """
    degradations, classes, n_regions = _check(degradations, classes, n_regions, min_frac, max_frac)
    batch, single = as_batch(image)
    gen = make_generator(generator)
    results = [
        _one(batch[i], gen, degradations, classes, n_regions, float(min_frac), float(max_frac))
        for i in range(batch.shape[0])
    ]
    out = torch.stack([r[0] for r in results])
    maps = torch.stack([r[1] for r in results])
    return (out[0], maps[0]) if single else (out, maps)
