"""On-the-fly training data: random crops of clean images, degraded by the seeded operators.

**Randomness.** Every batch is a pure function of the recipe seed, the phase's stream name, the
step and the samples' indices, so a resumed run sees exactly the batches an uninterrupted one
would, and the worker count never changes a batch. Two streams exist (recipe key ``data.stream``):

- ``sample`` (default): sample ``i`` of the *global* batch of step ``s`` has its own generators,
  ``make_generator(seed_from_string("abair-train", seed, stream, s, i, part))`` with ``part``
  ``plan`` (which image, crop window, flips, which degradation, real-pair crops) and ``synth``
  (every draw of the degradation operators; ``soft`` for :func:`soften`). Rank ``r`` of ``w``
  takes samples ``r*n/w ... (r+1)*n/w - 1``, so the global batch is the same whatever the number
  of processes, and synthesis can run anywhere (``data.synthesis``: ``workers`` on the CPU in the
  loader's worker processes, or ``device``: batched on the training device in the main process;
  ``auto``, the default: ``device`` on CUDA, ``workers`` on the CPU, :func:`resolve_synthesis`).
- ``rank``: one generator per rank and step, ``make_generator(seed_from_string("abair-train", seed,
  stream, rank, s))``, drawing every crop then every degradation in order: the stream the embedded
  ``tiny`` weights were trained with (kept so that its recipe reproduces them byte for byte). It
  only supports synthesis in the workers and gives other batches on another process count.

The operators draw their random numbers on the CPU in float64 and compute in the image's dtype on
its device, so with synthesis on the CPU (workers, or ``device`` = ``cpu``) a batch is
byte-identical on every run; on a GPU the same device, seed and software give the same batch, and
its values differ from the CPU's only by float32 rounding.

**Images** come from a source (:mod:`abair.train.sources`; default the embedded train pool, never
the test pool). A :class:`CropSampler` reads every image's size once (headers only), skips and
counts images smaller than the crop, and decodes one image per crop. A sample is a random
``crop x crop`` window, flipped horizontally and vertically with probability 1/2 each and rotated
by a random multiple of 90 degrees. Degraded inputs are rounded to 8 bits (``round(255 x) / 255``),
as every test input is an 8-bit image.

**Batches** (float32 NCHW in [0, 1]; labels int64):

- :class:`Phase1Data`: ``{"degraded", "clean", "class_map" (N, H, W)}``; ``data`` is ``cutmix``
  (regions of different degradations, labels ``1 + class index``, 0 = clean pixel), ``synthetic``
  (one degradation over the whole image, broad default severities) or ``task-only`` (one of the
  task degradations over the whole image at the task test sets' settings, or real training pairs).
- :class:`SingleData`: ``{"degraded", "clean"}`` for one degradation (Phase II), synthetic from
  the clean source or crops of real training pairs. With ``soft_clean`` = p > 0, each synthetic
  sample's clean crop is first, with probability p, softened by a defocus disk of radius
  U(``soft_radius``) px (default U(0.5, 2); its own generator, so p = 0 leaves every batch
  unchanged): scenes with out-of-focus content, whose softness the restoration must keep.
- :class:`EstimatorData`: ``{"degraded", "clean", "target" (N, K)}`` with single degradations
  (one-hot target) and, with probability ``mixed_fraction``, two degradations applied in sequence
  (target 1/2 + 1/2 for a softmax estimator, multi-hot 1 + 1 for a sigmoid one); with
  ``real_fraction`` > 0 that share of the samples are native-scale crops of the task training sets'
  degraded images, labelled with their task.

Each class offers :meth:`PhaseData.batch` (a finished CPU batch), and for the ``sample`` stream the
two halves :meth:`PhaseData.load` (worker side: crops and plan, keys starting with ``_`` are plan
metadata) and :meth:`PhaseData.synthesize` (device side).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from abair.degradations import DEGRADATIONS, apply, make_generator, seed_from_string
from abair.errors import UserError

from .sources import ArraySource, ImageSource, PairSource

STREAMS = ("sample", "rank")
SYNTHESIS = ("auto", "workers", "device")


def resolve_synthesis(synthesis: str, device: torch.device | str, order: str = "sample") -> str:
    """Where a batch is degraded, ``workers`` or ``device``, for the recipe's ``data.synthesis``:
    ``auto`` (the default) is ``device`` on a CUDA device with the ``sample`` stream (the GPU degrades
    the batch, the loader workers only decode and crop) and ``workers`` otherwise (on the CPU,
    synthesis "on the device" would run in the training process, serialised with the step)."""
    if synthesis not in SYNTHESIS:
        from abair.errors import unknown_name

        raise unknown_name("data.synthesis", synthesis, SYNTHESIS)
    if synthesis != "auto":
        return synthesis
    return "device" if torch.device(device).type == "cuda" and order == "sample" else "workers"

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
    """The CPU generator of one rank's batch in the ``rank`` stream (see the module docstring)."""
    return make_generator(seed_from_string("abair-train", seed, stream, rank, step))


def sample_generator(seed: int, stream: str, step: int, index: int, part: str) -> torch.Generator:
    """The CPU generator of one sample's ``part`` (``plan``/``synth``/``soft``) in the ``sample`` stream."""
    return make_generator(seed_from_string("abair-train", seed, stream, step, index, part))


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


def _window(image: np.ndarray, crop: int, gen: torch.Generator) -> torch.Tensor:
    """A random ``crop`` window of uint8 (..., H, W, 3) as float32 (..., 3, crop, crop) in [0, 1]."""
    h, w = image.shape[-3:-1]
    top, left = _draw(gen, h - crop + 1), _draw(gen, w - crop + 1)
    window = np.ascontiguousarray(np.moveaxis(image[..., top: top + crop, left: left + crop, :], -1, -3))
    return torch.from_numpy(window).to(torch.float32) / 255.0


def as_source(pool) -> ImageSource:
    """``pool`` as an :class:`ImageSource`: a source as is, arrays wrapped, None -> the train pool."""
    if isinstance(pool, ImageSource):
        return pool
    if pool is None:
        from abair.data.sample_images import TRAIN_POOL, train_pool

        return ArraySource(train_pool(), [f"embedded train pool '{n}'" for n in TRAIN_POOL])
    return ArraySource(list(pool))


def as_pairs(pairs) -> PairSource:
    """``pairs`` as a :class:`PairSource` (a source as is, a sequence of (degraded, clean) arrays wrapped)."""
    return pairs if isinstance(pairs, PairSource) else PairSource.from_arrays(list(pairs))


#: images drawn in a row that are all smaller than the crop before a lazily sized source gives up
LAZY_DRAWS = 1000


class _Eligible:
    """The images of a source that are at least ``crop`` px on both sides (headers read once, or
    for a ``lazy_size`` source each image's size when it is drawn).

    ``skipped`` counts images too small for the crop; ``unreadable`` lists images whose header or
    pixels could not be read (only with ``skip_bad``; otherwise the first one is a UserError)."""

    def __init__(self, source, crop: int, skip_bad: bool, what: str):
        self.source, self.crop, self.skip_bad, self.what = source, int(crop), bool(skip_bad), what
        self.indices: list[int] | range = []
        self.skipped = 0
        self.unreadable: list[str] = []
        # millions of files (source.lazy_size): no header read up front; an image smaller than the
        # crop is counted and another one drawn when it is read
        self.lazy = bool(getattr(source, "lazy_size", False))
        if self.lazy:
            self.indices = range(len(source))
        for i in range(0 if self.lazy else len(source)):
            try:
                h, w = source.size(i)
            except UserError:
                if not skip_bad:
                    raise
                self.unreadable.append(source.name(i))
                continue
            if min(h, w) >= self.crop:
                self.indices.append(i)
            else:
                self.skipped += 1
        if not self.indices:
            extra = f" ({len(self.unreadable)} unreadable)" if self.unreadable else ""
            raise UserError(f"{what}: none of its {len(source)} images is at least {self.crop}x{self.crop}"
                            f"{extra}; lower the crop size or add larger images")

    def read(self, gen: torch.Generator):
        """Draw an image index and read it; with ``skip_bad`` an undecodable image is noted and another
        one drawn (from the same generator, so the outcome is still a function of the seed)."""
        small = 0
        while True:
            index = self.indices[_draw(gen, len(self.indices))]
            try:
                image = self.source.read(index)
            except UserError:
                if not self.skip_bad:
                    raise
                name = self.source.name(index)
                if name not in self.unreadable:
                    self.unreadable.append(name)
                if len(self.unreadable) >= len(self.indices):
                    raise UserError("every training image drawn so far was unreadable") from None
                continue
            if not self.lazy or min(image.shape[:2]) >= self.crop:
                return image
            self.skipped, small = self.skipped + 1, small + 1
            if small >= LAZY_DRAWS:
                raise UserError(f"{self.what}: {small} images drawn in a row are smaller than "
                                f"{self.crop}x{self.crop}; lower the crop size or add larger images")

    def summary(self) -> dict:
        return {"images": len(self.source), "used": len(self.indices), "too_small": self.skipped,
                "unreadable": len(self.unreadable)}


class CropSampler:
    """Random augmented crops of a clean image source (decoded one image per crop).

    ``pool``: an :class:`~abair.train.sources.ImageSource`, uint8 HxWx3 arrays, or None for the
    embedded train pool. ``skip_bad``: skip unreadable images (counted) instead of failing."""

    def __init__(self, pool, crop: int, skip_bad: bool = False, what: str = "the clean training images"):
        self.crop = int(crop)
        self.images = _Eligible(as_source(pool), self.crop, skip_bad, what)

    def one(self, gen: torch.Generator) -> torch.Tensor:
        """(3, crop, crop) float32 in [0, 1]: draws image, top, left, then the augmentation."""
        return _augment(_window(self.images.read(gen), self.crop, gen), gen)

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """(n, 3, crop, crop) float32 in [0, 1]."""
        return torch.stack([self.one(gen) for _ in range(n)]).contiguous()


class PairCropSampler:
    """Aligned random crops of real (degraded, clean) pairs: a :class:`PairSource` or uint8 arrays."""

    def __init__(self, pairs, crop: int, what: str = "training set", skip_bad: bool = False):
        self.crop = int(crop)
        self.pairs = _Eligible(as_pairs(pairs), self.crop, skip_bad, what)

    def one(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        degraded, clean = self.pairs.read(gen)
        both = _augment(_window(np.stack([degraded, clean]), self.crop, gen), gen)
        return both[0], both[1]

    def sample(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        got = [self.one(gen) for _ in range(n)]
        return torch.stack([d for d, _ in got]).contiguous(), torch.stack([c for _, c in got]).contiguous()


def _task_params(name: str, gen: torch.Generator) -> dict:
    params = {}
    for key, value in TASK_PARAMS[name].items():
        params[key] = value[_draw(gen, len(value))] if isinstance(value, list) else value
    return params


class PhaseData:
    """Common machinery of the phase data classes (see the module docstring).

    Subclasses set ``self.seed``, ``self.stream`` (the stream name, e.g. ``phase1-cutmix``) and
    ``self.order`` (``sample`` or ``rank``), and implement :meth:`plan` and :meth:`synth` (one sample)
    and :meth:`rank_batch` (the ``rank`` stream)."""

    seed: int
    stream: str
    order: str = "sample"

    def _check_order(self, order: str) -> str:
        if order not in STREAMS:
            from abair.errors import unknown_name

            raise unknown_name("data stream", order, STREAMS)
        return order

    def indices(self, rank: int, n: int) -> range:
        """The global sample indices of rank ``rank``'s ``n`` samples."""
        return range(rank * n, rank * n + n)

    def load(self, step: int, rank: int, n: int, synthesize: bool = True) -> dict[str, torch.Tensor]:
        """Worker side: the crops (and plan metadata) of rank ``rank``'s ``n`` samples at ``step``,
        synthesised too when ``synthesize``."""
        if self.order == "rank":
            if not synthesize:
                raise UserError("synthesis on the training device needs the per-sample data stream "
                                "(data.stream: sample)")
            return self.rank_batch(step, rank, n)
        plans = [self.plan(sample_generator(self.seed, self.stream, step, i, "plan"), i)
                 for i in self.indices(rank, n)]
        batch = {key: torch.stack([p[key] for p in plans]).contiguous() for key in plans[0]}
        return self.synthesize(batch, step, rank, n) if synthesize else batch

    def synthesize(self, batch: dict[str, torch.Tensor], step: int, rank: int, n: int) -> dict[str, torch.Tensor]:
        """Device side: degrade a loaded batch where its tensors are; drops the plan metadata."""
        out = [self.synth({k: v[j] for k, v in batch.items()},
                          sample_generator(self.seed, self.stream, step, i, "synth"), step, i)
               for j, i in enumerate(self.indices(rank, n))]
        return {key: torch.stack([o[key] for o in out]).contiguous() for key in out[0]}

    def batch(self, step: int, rank: int, n: int) -> dict[str, torch.Tensor]:
        """Rank ``rank``'s finished batch of ``n`` samples at ``step`` (CPU)."""
        return self.load(step, rank, n, synthesize=True)

    def plan(self, gen: torch.Generator, index: int) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def synth(self, sample: dict, gen: torch.Generator, step: int, index: int) -> dict:  # pragma: no cover
        raise NotImplementedError

    def rank_batch(self, step: int, rank: int, n: int) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def sources(self) -> dict:
        """What the data is drawn from (counts of images used / skipped), for logs and the run card."""
        return {}


class Phase1Data(PhaseData):
    """Phase I batches (see the module docstring). ``pool``: the clean source; ``pairs``: optional
    real training pairs per degradation (sources or arrays), used by ``task-only``."""

    def __init__(self, crop: int, degradations: Sequence[str], data: str = "cutmix", seed: int = 0,
                 pool=None, pairs: Mapping[str, object] | None = None, stream: str = "sample",
                 skip_bad: bool = False):
        self.degradations = tuple(degradations)
        self.data = data
        self.seed = seed
        self.stream = f"phase1-{data}"
        self.order = self._check_order(stream)
        self.crops = CropSampler(pool, crop, skip_bad)
        self.real = {k: PairCropSampler(v, crop, f"training pairs for '{k}'", skip_bad)
                     for k, v in (pairs or {}).items()}

    def sources(self) -> dict:
        return {"clean": self.crops.images.summary(), **{k: v.pairs.summary() for k, v in self.real.items()}}

    def plan(self, gen, index):
        if self.data == "cutmix":
            return {"clean": self.crops.one(gen)}
        name = self.degradations[_draw(gen, len(self.degradations))]
        label = torch.tensor(DEGRADATIONS.index(name) + 1)
        if self.data == "task-only" and name in self.real:
            degraded, clean = self.real[name].one(gen)
            return {"clean": clean, "degraded": degraded, "_label": label, "_real": torch.tensor(True)}
        clean = self.crops.one(gen)
        return {"clean": clean, "degraded": clean, "_label": label, "_real": torch.tensor(False)}

    def synth(self, sample, gen, step, index):
        from abair.degradations.cutmix import cutmix

        clean = sample["clean"]
        if self.data == "cutmix":
            degraded, class_map = cutmix(clean, gen, degradations=self.degradations)
            return {"degraded": quantise(degraded), "clean": clean, "class_map": class_map}
        label = int(sample["_label"])
        class_map = torch.full(clean.shape[-2:], label, dtype=torch.int64, device=clean.device)
        if bool(sample["_real"]):
            return {"degraded": sample["degraded"], "clean": clean, "class_map": class_map}
        name = DEGRADATIONS[label - 1]
        params = _task_params(name, gen) if self.data == "task-only" else {}
        return {"degraded": quantise(apply(name, clean, gen, **params)), "clean": clean, "class_map": class_map}

    def rank_batch(self, step, rank, n):
        from abair.degradations.cutmix import cutmix

        gen = batch_generator(self.seed, self.stream, rank, step)
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


class SingleData(PhaseData):
    """Phase II batches of one degradation: synthetic from the clean ``pool``, or crops of real ``pairs``."""

    def __init__(self, crop: int, degradation: str, seed: int = 0, pool=None, pairs=None,
                 params: Mapping | None = None, soft_clean: float = 0.0,
                 soft_radius: Sequence[float] = DEFAULT_SOFT_RADIUS, stream: str = "sample",
                 skip_bad: bool = False):
        if degradation not in DEGRADATIONS:
            from abair.errors import unknown_name

            raise unknown_name("degradation", degradation, DEGRADATIONS)
        self.degradation = degradation
        self.seed = seed
        self.stream = f"phase2-{degradation}"
        self.order = self._check_order(stream)
        self.params = dict(params or {})  # fixed operator parameters (e.g. {"kind": "motion"}); others drawn
        if not 0.0 <= soft_clean <= 1.0:
            raise UserError(f"soft_clean must be a probability in [0, 1], got {soft_clean}")
        self.soft_clean = float(soft_clean)
        self.soft_radius = check_soft_radius(soft_radius)
        has_pairs = pairs is not None and len(pairs) > 0
        self.real = (PairCropSampler(pairs, crop, f"training pairs for '{degradation}'", skip_bad)
                     if has_pairs else None)
        self.crops = None if self.real is not None else CropSampler(pool, crop, skip_bad)

    def sources(self) -> dict:
        return {"pairs": self.real.pairs.summary()} if self.real else {"clean": self.crops.images.summary()}

    def plan(self, gen, index):
        if self.real is not None:
            degraded, clean = self.real.one(gen)
            return {"degraded": degraded, "clean": clean}
        return {"clean": self.crops.one(gen)}

    def synth(self, sample, gen, step, index):
        if self.real is not None:
            return sample
        clean = sample["clean"]
        if self.soft_clean > 0:
            soft = sample_generator(self.seed, self.stream, step, index, "soft")
            clean = soften(clean[None], self.soft_clean, soft, self.soft_radius)[0]
        return {"degraded": quantise(apply(self.degradation, clean, gen, **self.params)), "clean": clean}

    def rank_batch(self, step, rank, n):
        gen = batch_generator(self.seed, self.stream, rank, step)
        if self.real is not None:
            degraded, clean = self.real.sample(n, gen)
            return {"degraded": degraded, "clean": clean}
        clean = self.crops.sample(n, gen)
        if self.soft_clean > 0:
            gen_soft = batch_generator(self.seed, f"{self.stream}-soft", rank, step)
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


#: where a Phase-III sample comes from (batch key ``source`` when ``real_fraction`` > 0): a crop of
#: the clean images degraded by the operators, a degraded crop of a task's real training pairs, or a
#: crop of a task's clean-only training set degraded at the task's test settings (:data:`TASK_PARAMS`)
ESTIMATOR_SOURCES = ("synthetic", "real", "task-synthetic")


class EstimatorData(PhaseData):
    """Phase III batches: single and mixed degradations with their targets over ``classes``.

    ``activation`` ``softmax``: targets sum to 1 (two classes get 1/2 each); ``sigmoid``: multi-hot.
    ``real_fraction`` (in [0, 1]): the share of samples drawn from the task training sets ``real``
    (class name -> :class:`~abair.train.sources.PairSource` or clean-only ``ImageSource``; every class
    needs one): a random ``crop`` window of a degraded training image at its native scale, labelled
    with its class alone (mixed samples stay synthetic); the batch then has a ``source`` key (index
    into :data:`ESTIMATOR_SOURCES`). 0 draws exactly the batches it drew before the option existed.
    """

    def __init__(self, crop: int, classes: Sequence[str], mixed_fraction: float = 0.25,
                 activation: str = "softmax", seed: int = 0, pool=None, stream: str = "sample",
                 skip_bad: bool = False, real: Mapping[str, object] | None = None, real_fraction: float = 0.0):
        for name in classes:
            if name not in DEGRADATIONS:
                raise UserError(f"the estimator can only be trained for adapters named after a degradation "
                                f"({', '.join(DEGRADATIONS)}); got adapter '{name}'")
        self.classes = tuple(classes)
        self.mixed_fraction = float(mixed_fraction) if len(self.classes) > 1 else 0.0
        self.activation = activation
        self.seed = seed
        self.stream = "phase3"
        self.order = self._check_order(stream)
        self.crops = CropSampler(pool, crop, skip_bad)
        self.real_fraction = float(real_fraction)
        self.real = self._task_samplers(real or {}, crop, skip_bad) if self.real_fraction > 0 else {}

    def _task_samplers(self, real: Mapping[str, object], crop: int, skip_bad: bool) -> dict:
        if not 0.0 <= self.real_fraction <= 1.0:
            raise UserError(f"phase3.real_fraction must be in [0, 1], got {self.real_fraction}")
        if self.order != "sample":
            raise UserError("phase3.real_fraction > 0 needs the per-sample data stream (data.stream: sample)")
        missing = [name for name in self.classes if name not in real]
        if missing:
            raise UserError(f"phase3.real_fraction is {self.real_fraction:g}: the estimator trains on the degraded "
                            f"images of each adapter's training set, and these adapters have none: "
                            f"{', '.join(missing)}; give each one in data.train (a clean image set is degraded at "
                            "the task's test settings) or set phase3.real_fraction to 0")
        return {name: PairCropSampler(real[name], crop, f"training pairs for '{name}'", skip_bad)
                if isinstance(real[name], PairSource) else
                CropSampler(real[name], crop, skip_bad, f"the training images for '{name}'") for name in self.classes}

    def sources(self) -> dict:
        real = {f"real {k}": (v.pairs if isinstance(v, PairCropSampler) else v.images).summary()
                for k, v in self.real.items()}
        return {"clean": self.crops.images.summary(), **real}

    def plan(self, gen, index):
        if not self.real_fraction:
            return {"clean": self.crops.one(gen)}
        if float(torch.rand(1, generator=gen, dtype=torch.float64)) >= self.real_fraction:
            clean = self.crops.one(gen)
            return {"clean": clean, "degraded": clean, "_class": torch.tensor(-1), "_source": torch.tensor(0)}
        k = _draw(gen, len(self.classes))
        sampler = self.real[self.classes[k]]
        if isinstance(sampler, PairCropSampler):
            degraded, clean = sampler.one(gen)
            return {"clean": clean, "degraded": degraded, "_class": torch.tensor(k), "_source": torch.tensor(1)}
        clean = sampler.one(gen)
        return {"clean": clean, "degraded": clean, "_class": torch.tensor(k), "_source": torch.tensor(2)}

    def synth(self, sample, gen, step, index):
        source = int(sample["_source"]) if "_source" in sample else 0
        if source == 0:
            degraded, target = self._degrade(sample["clean"], gen)
        else:
            name = self.classes[int(sample["_class"])]
            target = torch.zeros(len(self.classes))
            target[int(sample["_class"])] = 1.0
            degraded = sample["degraded"] if source == 1 else quantise(
                apply(name, sample["clean"], gen, **_task_params(name, gen)))
        out = {"degraded": degraded, "clean": sample["clean"], "target": target.to(degraded.device)}
        if self.real_fraction:
            out["source"] = torch.tensor(source, device=degraded.device)
        return out

    def _degrade(self, clean: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        k = len(self.classes)
        target = torch.zeros(k)
        mixed = float(torch.rand(1, generator=gen).item()) < self.mixed_fraction
        chosen = torch.randperm(k, generator=gen)[: 2 if mixed else 1].tolist()
        x = clean
        for j in chosen:
            x = apply(self.classes[j], x, gen)
        target[chosen] = 1.0 / len(chosen) if self.activation == "softmax" else 1.0
        return quantise(x), target

    def rank_batch(self, step, rank, n):
        gen = batch_generator(self.seed, self.stream, rank, step)
        clean = self.crops.sample(n, gen)
        degraded = torch.empty_like(clean)
        target = torch.zeros(n, len(self.classes))
        for i in range(n):
            degraded[i], target[i] = self._degrade(clean[i], gen)
        return {"degraded": degraded, "clean": clean, "target": target}
