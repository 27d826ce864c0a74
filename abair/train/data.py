"""On-the-fly training data: random crops of clean images, degraded by the seeded operators.

Every batch is a pure function of ``(seed, stream, rank, step)``: its generator is
``make_generator(seed_from_string("abair-train", seed, stream, rank, step))``. So resuming at step
``s`` regenerates exactly the batches an uninterrupted run would have seen, and DDP ranks see
different data without any shared state.

Images: the clean pool (uint8 HxWx3, default :func:`abair.data.sample_images.train_pool`, never the
test pool) is converted once to float32 (3, H, W) in [0, 1]. A sample is a random ``crop x crop``
window, flipped horizontally and vertically with probability 1/2 each and rotated by a random
multiple of 90 degrees. Degraded inputs are rounded to 8 bits (``round(255 x) / 255``), as every
test input is an 8-bit image.

Batches (float32 NCHW in [0, 1]; labels int64):

- :class:`Phase1Data`: ``{"degraded", "clean", "class_map" (N, H, W)}``; ``data`` is ``cutmix``
  (regions of different degradations, labels ``1 + class index``, 0 = clean pixel), ``synthetic``
  (one degradation over the whole image, broad default severities) or ``task-only`` (one of the
  task degradations over the whole image at the task test sets' settings, or real training pairs).
- :class:`SingleData`: ``{"degraded", "clean"}`` for one degradation (Phase II), synthetic from
  the pool or crops of real training pairs. With ``soft_clean`` = p > 0, each synthetic sample's
  clean crop is first, with probability p, softened by a defocus disk of radius U(``soft_radius``)
  px (default U(0.5, 2); its own generator, stream ``<stream>-soft``, so p = 0 leaves every batch
  unchanged): scenes with out-of-focus content, whose softness the restoration must keep.
- :class:`EstimatorData`: ``{"degraded", "clean", "target" (N, K)}`` with single degradations
  (one-hot target) and, with probability ``mixed_fraction``, two degradations applied in sequence
  (target 1/2 + 1/2 for a softmax estimator, multi-hot 1 + 1 for a sigmoid one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from abair.degradations import DEGRADATIONS, apply, make_generator, seed_from_string
from abair.errors import UserError

#: Phase I ``task-only`` without real pairs: the settings of the task test sets (mini suite and
#: the paper's five/eight tasks); a list means "one value drawn uniformly per image".
TASK_PARAMS: dict[str, dict] = {
    "rain": {},
    "haze": {},
    "noise": {"sigma": [15.0, 25.0, 50.0]},
    "blur": {"kind": "motion"},
    "lowlight": {},
    "jpeg": {"quality": [10, 20, 30, 40]},
    "bitdepth": {"bits": 4},
    "snow": {},
}


def batch_generator(seed: int, stream: str, rank: int, step: int) -> torch.Generator:
    """The CPU generator of one batch (see the module docstring)."""
    return make_generator(seed_from_string("abair-train", seed, stream, rank, step))


def quantise(x: torch.Tensor) -> torch.Tensor:
    """Round float [0, 1] values to the 256 levels of an 8-bit image (clipping first)."""
    return torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0


def _draw(gen: torch.Generator, n: int) -> int:
    return int(torch.randint(n, (1,), generator=gen).item())


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random flips and a random 90-degree rotation of (..., H, W) tensors (H == W)."""
    bits = torch.randint(2, (2,), generator=gen).tolist()
    k = _draw(gen, 4)
    if bits[0]:
        x = x.flip(-1)
    if bits[1]:
        x = x.flip(-2)
    return torch.rot90(x, k, dims=(-2, -1)) if k else x


class CropSampler:
    """Random augmented crops from clean uint8 HxWx3 images (converted once to float32 [0, 1])."""

    def __init__(self, pool: Sequence[np.ndarray] | None, crop: int):
        from abair.imageops import uint8_to_tensor

        if pool is None:
            from abair.data.sample_images import train_pool

            pool = train_pool()
        self.crop = int(crop)
        self.images = [uint8_to_tensor(np.asarray(im)) for im in pool]
        self.images = [im for im in self.images if min(im.shape[-2:]) >= self.crop]
        if not self.images:
            raise UserError(f"no training image is at least {self.crop}x{self.crop}; lower the crop size")

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """(n, 3, crop, crop) float32 in [0, 1]."""
        out = []
        for _ in range(n):
            im = self.images[_draw(gen, len(self.images))]
            h, w = im.shape[-2:]
            top, left = _draw(gen, h - self.crop + 1), _draw(gen, w - self.crop + 1)
            out.append(_augment(im[:, top: top + self.crop, left: left + self.crop], gen))
        return torch.stack(out).contiguous()


class PairCropSampler:
    """Aligned random crops of real (degraded, clean) uint8 HxWx3 pairs (a training set)."""

    def __init__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], crop: int, what: str = "training set"):
        from abair.imageops import uint8_to_tensor

        self.crop = int(crop)
        self.pairs = []
        for degraded, clean in pairs:
            if degraded.shape != clean.shape:
                raise UserError(f"{what}: a degraded image of shape {degraded.shape} has a clean image of "
                                f"shape {clean.shape}; pairs must be aligned")
            if min(clean.shape[:2]) >= self.crop:
                self.pairs.append((uint8_to_tensor(degraded), uint8_to_tensor(clean)))
        if not self.pairs:
            raise UserError(f"{what}: no pair is at least {self.crop}x{self.crop}; lower the crop size")

    def sample(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        deg, cln = [], []
        for _ in range(n):
            d, c = self.pairs[_draw(gen, len(self.pairs))]
            h, w = c.shape[-2:]
            top, left = _draw(gen, h - self.crop + 1), _draw(gen, w - self.crop + 1)
            both = _augment(torch.stack([d, c])[:, :, top: top + self.crop, left: left + self.crop], gen)
            deg.append(both[0])
            cln.append(both[1])
        return torch.stack(deg).contiguous(), torch.stack(cln).contiguous()


def _task_params(name: str, gen: torch.Generator) -> dict:
    params = {}
    for key, value in TASK_PARAMS[name].items():
        params[key] = value[_draw(gen, len(value))] if isinstance(value, list) else value
    return params


class Phase1Data:
    """Phase I batches (see the module docstring). ``pairs``: optional real training pairs per
    degradation, used by ``task-only``."""

    def __init__(self, crop: int, degradations: Sequence[str], data: str = "cutmix", seed: int = 0,
                 pool: Sequence[np.ndarray] | None = None,
                 pairs: Mapping[str, Sequence[tuple[np.ndarray, np.ndarray]]] | None = None):
        self.degradations = tuple(degradations)
        self.data = data
        self.seed = seed
        self.crops = CropSampler(pool, crop)
        self.real = {k: PairCropSampler(v, crop, f"training pairs for '{k}'") for k, v in (pairs or {}).items()}

    def batch(self, step: int, rank: int, n: int) -> dict[str, torch.Tensor]:
        from abair.degradations.cutmix import cutmix

        gen = batch_generator(self.seed, f"phase1-{self.data}", rank, step)
        clean = self.crops.sample(n, gen)
        if self.data == "cutmix":
            degraded, class_map = cutmix(clean, gen, degradations=self.degradations)
            return {"degraded": quantise(degraded), "clean": clean, "class_map": class_map}
        size = clean.shape[-1]
        degraded = torch.empty_like(clean)
        labels = []
        for i in range(n):
            name = self.degradations[_draw(gen, len(self.degradations))]
            labels.append(DEGRADATIONS.index(name) + 1)
            if self.data == "task-only" and name in self.real:
                d, c = self.real[name].sample(1, gen)
                degraded[i], clean[i] = d[0], c[0]
                continue
            params = _task_params(name, gen) if self.data == "task-only" else {}
            degraded[i] = quantise(apply(name, clean[i], gen, **params))
        class_map = torch.tensor(labels, dtype=torch.int64).view(n, 1, 1).expand(n, size, size).contiguous()
        return {"degraded": degraded, "clean": clean, "class_map": class_map}


#: default defocus radius range (px) of :func:`soften` (recipe key ``soft_radius``)
DEFAULT_SOFT_RADIUS = (0.5, 2.0)


class SingleData:
    """Phase II batches of one degradation: synthetic from the pool, or crops of real ``pairs``."""

    def __init__(self, crop: int, degradation: str, seed: int = 0, pool: Sequence[np.ndarray] | None = None,
                 pairs: Sequence[tuple[np.ndarray, np.ndarray]] | None = None, params: Mapping | None = None,
                 soft_clean: float = 0.0, soft_radius: Sequence[float] = DEFAULT_SOFT_RADIUS):
        if degradation not in DEGRADATIONS:
            from abair.errors import unknown_name

            raise unknown_name("degradation", degradation, DEGRADATIONS)
        self.degradation = degradation
        self.seed = seed
        self.params = dict(params or {})  # fixed operator parameters (e.g. {"kind": "motion"}); others drawn
        if not 0.0 <= soft_clean <= 1.0:
            raise UserError(f"soft_clean must be a probability in [0, 1], got {soft_clean}")
        self.soft_clean = float(soft_clean)
        self.soft_radius = check_soft_radius(soft_radius)
        self.real = PairCropSampler(pairs, crop, f"training pairs for '{degradation}'") if pairs else None
        self.crops = None if self.real is not None else CropSampler(pool, crop)

    def batch(self, step: int, rank: int, n: int) -> dict[str, torch.Tensor]:
        gen = batch_generator(self.seed, f"phase2-{self.degradation}", rank, step)
        if self.real is not None:
            degraded, clean = self.real.sample(n, gen)
            return {"degraded": degraded, "clean": clean}
        clean = self.crops.sample(n, gen)
        if self.soft_clean > 0:
            gen_soft = batch_generator(self.seed, f"phase2-{self.degradation}-soft", rank, step)
            clean = soften(clean, self.soft_clean, gen_soft, self.soft_radius)
        return {"degraded": quantise(apply(self.degradation, clean, gen, **self.params)), "clean": clean}


def check_soft_radius(radius: Sequence[float]) -> tuple[float, float]:
    """``(low, high)`` in px with 0 < low <= high <= 50; one-line UserError otherwise."""
    try:
        low, high = (float(r) for r in radius)
    except (TypeError, ValueError):
        raise UserError(f"soft_radius must be two numbers [low, high] in px, got {radius!r}") from None
    if not 0.0 < low <= high <= 50.0:
        raise UserError(f"soft_radius must satisfy 0 < low <= high <= 50 (px), got [{low}, {high}]")
    return low, high


def soften(clean: torch.Tensor, probability: float, gen: torch.Generator,
           radius: Sequence[float] = DEFAULT_SOFT_RADIUS) -> torch.Tensor:
    """Each image of ``clean`` (N, 3, H, W, float [0, 1]) blurred, with ``probability``, by a defocus
    disk of radius U(``radius``) px (reflect border); the others returned unchanged. Draws 2 uniforms
    per image from ``gen`` (whether, radius), whatever the outcome."""
    out = clean.clone()
    draws = torch.rand(len(clean), 2, generator=gen, dtype=torch.float64)
    low, high = radius
    for i, (u, r) in enumerate(draws.tolist()):
        if u < probability:
            out[i] = apply("blur", clean[i], None, kind="defocus", radius=low + (high - low) * r)
    return out


class EstimatorData:
    """Phase III batches: single and mixed degradations with their targets over ``classes``.

    ``activation`` ``softmax``: targets sum to 1 (two classes get 1/2 each); ``sigmoid``: multi-hot.
    """

    def __init__(self, crop: int, classes: Sequence[str], mixed_fraction: float = 0.25,
                 activation: str = "softmax", seed: int = 0, pool: Sequence[np.ndarray] | None = None):
        for name in classes:
            if name not in DEGRADATIONS:
                raise UserError(f"the estimator can only be trained for adapters named after a degradation "
                                f"({', '.join(DEGRADATIONS)}); got adapter '{name}'")
        self.classes = tuple(classes)
        self.mixed_fraction = float(mixed_fraction) if len(self.classes) > 1 else 0.0
        self.activation = activation
        self.seed = seed
        self.crops = CropSampler(pool, crop)

    def batch(self, step: int, rank: int, n: int) -> dict[str, torch.Tensor]:
        gen = batch_generator(self.seed, "phase3", rank, step)
        clean = self.crops.sample(n, gen)
        degraded = torch.empty_like(clean)
        target = torch.zeros(n, len(self.classes))
        k = len(self.classes)
        for i in range(n):
            mixed = float(torch.rand(1, generator=gen).item()) < self.mixed_fraction
            chosen = torch.randperm(k, generator=gen)[: 2 if mixed else 1].tolist()
            x = clean[i]
            for j in chosen:
                x = apply(self.classes[j], x, gen)
            degraded[i] = quantise(x)
            target[i, chosen] = 1.0 / len(chosen) if self.activation == "softmax" else 1.0
        return {"degraded": degraded, "clean": clean, "target": target}
