"""``diffuir[:tiny|small|base|large]``: DiffUIR (Zheng et al., CVPR 2024) from the authors' released files.

    abair-bench run --methods diffuir:large --method-arg diffuir:large.checkpoint=model-300.pt ...

Per batch, as the authors' ``test.py`` (with ``src/model.py`` and ``data/universal_dataset.py``):

1. the input, RGB in [0, 1] at its own size (no padding outside the network; the network
   reflect-pads to a multiple of 16 and crops back), is histogram-equalised per channel when the
   dataset is a low-light one (``equalize=lowlight``; the authors' loader does so for LOL);
2. y = 2 x - 1; the residual-diffusion sampler (:class:`baselines.published.diffuir.arch.ResidualSchedule`)
   runs 3 deterministic steps from ``(1 - delta_cumsum) y + 0.1 z`` with the EMA weights;
3. the output (x0 + 1) / 2 is in [0, 1]; the harness clips anyway.

Random draws: the sampler's only random draw is z, the initial noise (eta 0). Every image has its
own CPU ``torch.Generator`` seeded with ``seed_from_string("diffuir", seed, dataset, image_id)``
(sha256, see :func:`abair.degradations.seed_from_string`), which draws z of the image's shape. The
images of a batch are sampled one at a time (a batched convolution can differ from a single one in
the last bit), so a result does not depend on the batch an image is restored in, nor on the device's
generator. (The authors' script draws z from the global generator after ``set_seed(10)``.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from abair.errors import UserError
from baselines.base import Method, RestoreContext

__all__ = ["DiffUIRMethod", "make", "record_name", "image_seed", "SEED_RULE", "PIPELINE",
           "EQUALIZE_MODES", "WEIGHT_CHOICES"]

SEED_RULE = ("per image: torch.Generator (CPU) seeded with seed_from_string('diffuir', seed, dataset, image_id) = "
             "first 8 bytes (big-endian) of sha256('diffuir|<seed>|<dataset>|<image_id>') & (2^63 - 1); it draws "
             "the initial noise z (torch.randn of the image's shape); the steps draw nothing (eta 0)")
EQUALIZE_MODES = ("lowlight", "never", "always")
WEIGHT_CHOICES = ("ema", "model")

#: the authors' test pipeline (test.py, src/model.py, data/universal_dataset.py, data/base_dataset.py)
PIPELINE: dict[str, Any] = {
    "range": "[0, 1] in, 2x - 1 to the network, (x + 1) / 2 out", "colour": "RGB",
    "pad": "none outside the network; the network reflect-pads bottom/right to a multiple of 16 (2^depth) "
           "at every call and crops back (check_image_size)",
    "resize": "none (preprocess 'none': the test images at their own size)",
    "crop": "back to the input size (in the network)", "clip": "[0, 1] (the harness; the output already is)",
    "equalize": "the authors' loader equalises the histogram of each channel of the LOL (low-light) inputs "
                "with cv2.equalizeHist (equalizeHist=True in test.py); here per the 'equalize' option",
    "weights": "EMA (test.py samples with trainer.ema.ema_model after trainer.load(300))",
    "self_ensemble": False,
    "source": "iSEE-Laboratory/DiffUIR test.py, src/model.py (UnetRes, ResidualDiffusion.ddim_sample, Trainer.test), "
              "data/universal_dataset.py (AlignedDataset_all), data/base_dataset.py (get_transform)",
}


def image_seed(seed: int, dataset: str, image_id: str) -> int:
    """The seed of one image's generator (see :data:`SEED_RULE`)."""
    from abair.degradations import seed_from_string

    return seed_from_string("diffuir", seed, dataset, image_id)


class DiffUIRMethod(Method):
    """The residual U-Net and its sampler; ``restore`` runs the whole sampling on a batch."""

    tileable = True

    def __init__(self, net, checkpoint: Path, arch_config: dict, facts: dict, steps: int = 3, seed: int = 0,
                 equalize: str = "lowlight", weights: str = "ema", max_batch: int = 1, name: str = "diffuir",
                 details: dict[str, Any] | None = None):
        from .arch import SCHEDULE_DEFAULTS, ResidualSchedule

        self.name = name
        self.net = net.eval()
        self.checkpoint, self.arch_config, self.facts = checkpoint, arch_config, facts
        self.steps, self.seed, self.equalize, self.weights = steps, seed, equalize, weights
        self.schedule = ResidualSchedule(steps=steps, delta_end=SCHEDULE_DEFAULTS["delta_end"],
                                         sum_scale=SCHEDULE_DEFAULTS["sum_scale"])
        self.details = dict(details or {})
        self.multiple_of = 1  # the network pads itself
        self.max_batch = max_batch
        self.device = "cpu"

    def config(self) -> dict[str, Any]:
        from baselines.published import file_sha256, jsonable

        return {
            "name": self.name, "architecture": "DiffUIR (UnetRes, residual diffusion)",
            "checkpoint": str(self.checkpoint), "checkpoint_sha256": file_sha256(self.checkpoint),
            "arch_config": {k: jsonable(v) for k, v in self.arch_config.items()},
            **self.details,
            "weights": self.weights, "weights_read": self.facts.get("weights"),
            "checkpoint_step": self.facts.get("step"), "checkpoint_delta_end": self.facts.get("delta_end"),
            "sampler": self.schedule.describe(), "steps": self.steps, "seed": self.seed, "seed_rule": SEED_RULE,
            "equalize": self.equalize, "pipeline": dict(PIPELINE),
        }

    def to(self, device: str) -> DiffUIRMethod:
        self.net.to(device)
        self.schedule.to(device)
        self.device = device
        return self

    def noise(self, context: RestoreContext, batch):
        """The initial noise of each image, drawn from its own generator, stacked on the batch's device."""
        import torch

        n = batch.shape[0]
        if len(context.image_ids) != n:
            raise UserError(f"diffuir needs one image id per image (got {len(context.image_ids)} ids for {n} images)")
        gens = [torch.Generator().manual_seed(image_seed(self.seed, context.dataset, i)) for i in context.image_ids]
        return torch.stack([torch.randn(tuple(batch.shape[1:]), generator=g) for g in gens]).to(batch.device)

    def preprocess(self, batch, context: RestoreContext):
        from .arch import equalize_hist

        if self.equalize == "always" or (self.equalize == "lowlight" and context.task == "lowlight"):
            return equalize_hist(batch)
        return batch

    def restore(self, batch, context: RestoreContext):
        import torch

        z = self.noise(context, batch)
        y = 2 * self.preprocess(batch, context) - 1
        # one image at a time, even inside a --batch: a batched convolution can differ from a single one
        # in the last bit, so a record would depend on its batch
        with torch.inference_mode():
            return torch.cat([self.schedule.sample(self.net, y[i:i + 1], z[i:i + 1]) for i in range(len(y))])


def record_name(variant: str) -> str:
    """``diffuir`` or ``diffuir:<size>`` (an unknown size is one line)."""
    from baselines.published import variant_record_name

    return variant_record_name("diffuir")(variant)


def _int_option(name: str, value: Any, low: int, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise UserError(f"diffuir.{name} must be an integer {span}, got {value!r}")
    return value


def make(variant: str = "", checkpoint: str | None = None, steps: int = 3, seed: int = 0,
                 equalize: str = "lowlight", weights: str = "ema", max_batch: int = 1) -> DiffUIRMethod:
    """``diffuir`` / ``diffuir:tiny|small|base|large`` from a ``model-300.pt`` of the authors.

    ``steps``: sampling steps (3, as test.py; 1..999: at 1000 the authors' code switches to another
    sampler); ``seed``: the base of the per-image seeds; ``equalize``: ``lowlight`` (histogram-equalise
    the inputs of low-light datasets, as the authors' loader does for LOL), ``never`` or ``always``;
    ``weights``: ``ema`` (what test.py samples with) or ``model`` (the online weights). The variant
    names the released size the file must be (checked from the shapes).
    """
    from baselines.published import check_variant, need_checkpoint, variants

    from .arch import DIFFUIR_SIZES, diffuir_size, load_diffuir

    variant = check_variant("diffuir", variant)
    name = f"diffuir:{variant}" if variant else "diffuir"
    files = f"the release file {variants('diffuir')[variant].file}" if variant else "e.g. model-300.pt"
    path = need_checkpoint(name, checkpoint, files)
    steps = _int_option("steps", steps, 1, 999)
    max_batch = _int_option("max_batch", max_batch, 1)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UserError(f"diffuir.seed must be an integer, got {seed!r}")
    if equalize not in EQUALIZE_MODES:
        raise UserError(f"diffuir.equalize must be one of {', '.join(EQUALIZE_MODES)}, got {equalize!r}")
    if weights not in WEIGHT_CHOICES:
        raise UserError(f"diffuir.weights must be one of {', '.join(WEIGHT_CHOICES)}, got {weights!r}")
    net, cfg, facts = load_diffuir(path, weights=weights)
    if (cfg["channels"], cfg["condition"]) != (3, True):
        raise UserError(f"checkpoint {path} is not a conditioned RGB DiffUIR ({cfg['channels']} channels, "
                        f"condition {cfg['condition']}); the benchmark restores RGB images")
    size = diffuir_size(cfg)
    if variant and size != variant:
        want = DIFFUIR_SIZES[variant]
        mults = "-".join(map(str, cfg["dim_mults"]))
        which = f"the {size} model: use --methods diffuir:{size}" if size else "no released size: use --methods diffuir"
        raise UserError(f"checkpoint {path} is not DiffUIR-{variant[0].upper()} (dim {want['dim']}, mults "
                        f"{'-'.join(map(str, want['dim_mults']))}): it has dim {cfg['dim']}, mults {mults} ({which})")
    details: dict[str, Any] = {"variant": variant or None, "size": size}
    if variant:
        release = variants("diffuir")[variant]
        details["released_file"], details["tasks"] = release.file, list(release.tasks)
    return DiffUIRMethod(net, path, cfg, facts, steps=steps, seed=seed, equalize=equalize, weights=weights,
                         max_batch=max_batch, name=name, details=details)


def profile_method() -> DiffUIRMethod:
    """``diffuir`` at DiffUIR-L (the network the authors' test.py builds) with random weights, for the
    profiler: the whole sampling (3 network calls) with the run's per-image noise."""
    from .arch import DIFFUIR_DEFAULTS, DiffUIRNet, diffuir_size

    cfg = dict(DIFFUIR_DEFAULTS)
    return DiffUIRMethod(DiffUIRNet(**cfg), None, cfg, {}, details={"variant": None, "size": diffuir_size(cfg)})
