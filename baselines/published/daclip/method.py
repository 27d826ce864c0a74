"""``daclip``: DA-CLIP's universal image restoration (Luo et al., ICLR 2024) from the authors' two files.

    abair-bench run --methods daclip --method-arg daclip.checkpoint=universal-ir.pth \\
        --method-arg daclip.clip=daclip_ViT-B-32.pt ...

Per image, as the authors' ``config/daclip-sde/test.py`` with ``options/test.yml``:

1. the DA-CLIP encoder maps the degraded image, preprocessed as their ``clip_transform`` (uint8,
   bicubic resize of the shorter side to 224, centre crop, CLIP normalisation), to a content and a
   degradation embedding (``encode_image(image, control=True)``);
2. the IR-SDE reverse process starts from ``x_T = mu + (50/255) z`` (mu the degraded image at its own
   size, RGB in [0, 1], no padding outside the network) and takes 100 posterior-sampling steps, the
   network conditioned on both embeddings (:mod:`baselines.published.daclip.irsde`);
3. the harness clips x_0 to [0, 1].

Random draws: every image has its own CPU ``torch.Generator``, seeded with
``seed_from_string("daclip", seed, dataset, image_id)`` (sha256, see
:func:`abair.degradations.seed_from_string`); it draws z for x_T, then one z per step, each of
the image's shape. Results therefore do not depend on the batch an image is restored in, nor on
the device's random generator. (The authors' script draws from the unseeded global generator.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from abair.errors import UserError
from baselines.base import Method, RestoreContext

__all__ = ["DaCLIPMethod", "DaCLIPPipeline", "make", "profile_method", "image_seed", "SEED_RULE",
           "PIPELINE"]

SEED_RULE = ("per image: torch.Generator (CPU) seeded with seed_from_string('daclip', seed, dataset, image_id) = "
             "first 8 bytes (big-endian) of sha256('daclip|<seed>|<dataset>|<image_id>') & (2^63 - 1); draws z "
             "for x_T, then one z per step, each of the image's shape")

#: the authors' test pipeline (config/daclip-sde/test.py, options/test.yml, data/LQGT_dataset.py, data/util.py)
PIPELINE: dict[str, Any] = {
    "range": "[0, 1]", "colour": "RGB",
    "pad": "none outside the network; the network reflect-pads bottom/right to a multiple of 16 (2^depth) "
           "at every call and crops back (check_image_size)",
    "crop": "back to the input size (in the network)", "clip": "[0, 1] (the harness; tensor2img clamps)",
    "encoder_input": "uint8 by truncation of x*255, Pillow bicubic resize of the shorter side to 224 "
                     "(longer: int(224 * long / short)), centre crop 224, /255, CLIP mean "
                     "(0.48145466, 0.4578275, 0.40821073) and std (0.26862954, 0.26130258, 0.27577711)",
    "encoder_precision": "float32 on the CPU; on CUDA float16 autocast, as the authors' test.py",
    "embeddings": "image_context (content) -> cross-attention, degra_context (degradation) -> prompt; not normalised",
    "self_ensemble": False,
    "source": "Algolzw/daclip-uir universal-image-restoration/config/daclip-sde/test.py, options/test.yml, "
              "data/LQGT_dataset.py, data/util.py (clip_transform), utils/sde_utils.py (IRSDE)",
}


def image_seed(seed: int, dataset: str, image_id: str) -> int:
    """The seed of one image's generator (see :data:`SEED_RULE`)."""
    from abair.degradations import seed_from_string

    return seed_from_string("daclip", seed, dataset, image_id)


class DaCLIPPipeline:
    """Encoder + IR-SDE network + reverse process: ``restore(batch, generators)`` restores a float
    (N, 3, H, W) batch in [0, 1] with one generator per image (the harness clips the result); each image
    is restored on its own, so the result does not depend on the batch it came in."""

    def __init__(self, encoder, unet, steps: int = 100, sampling: str = "posterior"):
        from .irsde import IRSDESchedule

        self.encoder, self.unet = encoder.eval(), unet.eval()
        self.steps, self.sampling = steps, sampling
        self.schedule = IRSDESchedule(steps=steps)

    def to(self, device=None, dtype=None) -> DaCLIPPipeline:
        self.encoder.to(device=device, dtype=dtype)
        self.unet.to(device=device, dtype=dtype)
        if device is not None:
            self.schedule.to(device)
        return self

    def parameters(self):
        yield from self.encoder.parameters()
        yield from self.unet.parameters()

    def encode(self, batch):
        """(content, degradation) embeddings, each (N, output_dim), of a float (N, 3, H, W) batch in [0, 1]."""
        import contextlib

        import torch

        from .load import clip_preprocess

        dtype = self.encoder.visual.proj.dtype
        x = clip_preprocess(batch, self.encoder.image_size).to(dtype)
        autocast = (torch.autocast("cuda", dtype=torch.float16) if x.device.type == "cuda" and dtype == torch.float32
                    else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            content, degradation = self.encoder(x)
        return content.to(dtype), degradation.to(dtype)

    @staticmethod
    def draw(generators, shape, like):
        """One standard normal draw of ``shape`` per image, each from its own CPU generator."""
        import torch

        return torch.stack([torch.randn(shape, generator=g) for g in generators]).to(like.device, like.dtype)

    def sample(self, mu, content, degradation, generators):
        """The reverse process from x_T = mu + max_sigma z to x_0 (unclipped)."""
        import torch

        shape = tuple(mu.shape[1:])
        with torch.inference_mode():
            x = self.schedule.initial_state(mu, self.draw(generators, shape, mu))
            for t in range(self.steps, 0, -1):
                noise = self.unet(x, mu, self.schedule.model_time(t), text_context=degradation, image_context=content)
                x = self.schedule.step(self.sampling, x, mu, noise, t, self.draw(generators, shape, mu))
        return x

    def restore(self, batch, generators):
        """Image by image: a batched forward can differ from a single one in the last bit (convolution
        kernels pick their blocking by batch size), and 100 steps would carry that into the records."""
        import torch

        out = []
        for i, generator in enumerate(generators):
            mu = batch[i:i + 1]
            content, degradation = self.encode(mu)
            out.append(self.sample(mu, content, degradation, [generator]))
        return torch.cat(out)


class DaCLIPMethod(Method):
    """The harness method: a :class:`DaCLIPPipeline` with per-image generators from the batch's ids."""

    tileable = True  # tiles of one image share its seed

    def __init__(self, encoder, unet, encoder_path: Path, unet_path: Path, encoder_cfg: dict, unet_cfg: dict,
                 steps: int = 100, seed: int = 0, sampling: str = "posterior", name: str = "daclip"):
        self.name = name
        self.pipeline = DaCLIPPipeline(encoder, unet, steps=steps, sampling=sampling)
        self.encoder_path, self.unet_path = encoder_path, unet_path
        self.encoder_cfg, self.unet_cfg = encoder_cfg, unet_cfg
        self.steps, self.seed, self.sampling = steps, seed, sampling
        self.multiple_of = 1
        self.max_batch = 8  # grouping only: images are restored one by one (see DaCLIPPipeline.restore)
        self.device = "cpu"

    @property
    def encoder(self):
        return self.pipeline.encoder

    @property
    def unet(self):
        return self.pipeline.unet

    def config(self) -> dict[str, Any]:
        from baselines.published import file_sha256, jsonable

        return {
            "name": self.name, "architecture": "DA-CLIP (ViT-B/32 + controller) + IR-SDE ConditionalUNet",
            "checkpoint": str(self.unet_path), "checkpoint_sha256": file_sha256(self.unet_path),
            "clip": str(self.encoder_path), "clip_sha256": file_sha256(self.encoder_path),
            "arch_config": {"unet": {k: jsonable(v) for k, v in self.unet_cfg.items()},
                            "encoder": dict(self.encoder_cfg)},
            "sampler": {**self.pipeline.schedule.describe(), "sampling": self.sampling},
            "steps": self.steps, "seed": self.seed, "seed_rule": SEED_RULE,
            "pipeline": dict(PIPELINE),
        }

    def to(self, device: str) -> DaCLIPMethod:
        self.pipeline.to(device)
        self.device = device
        return self

    def generators(self, context: RestoreContext, n: int) -> list:
        import torch

        if len(context.image_ids) != n:
            raise UserError(f"daclip needs one image id per image (got {len(context.image_ids)} ids for {n} images)")
        return [torch.Generator().manual_seed(image_seed(self.seed, context.dataset, i)) for i in context.image_ids]

    def restore(self, batch, context: RestoreContext):
        return self.pipeline.restore(batch, self.generators(context, batch.shape[0]))


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UserError(f"daclip.{name} must be a positive integer, got {value!r}")
    return value


def make(checkpoint: str | None = None, clip: str | None = None, steps: int = 100, seed: int = 0,
                sampling: str = "posterior") -> DaCLIPMethod:
    """``daclip`` from ``universal-ir.pth`` (``checkpoint``) and ``daclip_ViT-B-32.pt`` (``clip``).

    ``steps``: reverse steps (100 as the authors test; fewer builds the schedule over that many steps
    and calls the network at ``t * 100 / steps``, the authors' ``sample_T``); ``seed``: the base of the
    per-image seeds; ``sampling``: ``posterior`` (the authors' test) or ``sde``.
    """
    from .irsde import SAMPLING_MODES
    from .load import ENCODER_FILE, UNET_FILE, load_daclip_encoder, load_irsde_unet

    missing = [f"daclip.{key}=PATH ({file})" for key, value, file in
               (("checkpoint", checkpoint, UNET_FILE), ("clip", clip, ENCODER_FILE)) if value in (None, "")]
    if missing:
        raise UserError(f"method 'daclip' needs the authors' two files: pass --method-arg {' and --method-arg '.join(missing)} "
                        "(see docs/BASELINES.md, nothing is downloaded)")
    steps = _positive_int("steps", steps)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UserError(f"daclip.seed must be an integer, got {seed!r}")
    if sampling not in SAMPLING_MODES:
        raise UserError(f"daclip.sampling must be one of {', '.join(SAMPLING_MODES)}, got {sampling!r}")
    unet_path = Path(str(checkpoint)).expanduser().resolve()
    encoder_path = Path(str(clip)).expanduser().resolve()
    unet, unet_cfg = load_irsde_unet(unet_path)
    if (unet_cfg["in_nc"], unet_cfg["out_nc"]) != (3, 3):
        raise UserError(f"checkpoint {unet_path} is a {unet_cfg['in_nc']}->{unet_cfg['out_nc']}-channel network; "
                        "the benchmark restores RGB images (3->3)")
    encoder, encoder_cfg = load_daclip_encoder(encoder_path)
    if unet_cfg["context_dim"] != encoder_cfg["output_dim"] and (unet_cfg["use_image_context"] or unet_cfg["use_degra_context"]):
        raise UserError(f"the DA-CLIP encoder {encoder_path} gives {encoder_cfg['output_dim']}-d embeddings but the "
                        f"network {unet_path} expects {unet_cfg['context_dim']}-d ones: the two files do not belong together")
    return DaCLIPMethod(encoder, unet, encoder_path, unet_path, encoder_cfg, unet_cfg, steps=steps, seed=seed,
                        sampling=sampling)


#: reverse steps of the profiled method (the authors test with 100: its time x 10 is one restoration)
PROFILE_STEPS = 10


def profile_method(steps: int = PROFILE_STEPS) -> DaCLIPMethod:
    """``daclip`` at the released sizes (ViT-B/32 encoder, nf 64 network) with random weights and ``steps``
    reverse steps, for the profiler: the run's method, per-image seeds included."""
    from .arch import IRSDE_UNET_DEFAULTS, ConditionalUNet
    from .encoder import DACLIP_ENCODER_DEFAULTS, DaCLIPImageEncoder

    encoder_cfg, unet_cfg = dict(DACLIP_ENCODER_DEFAULTS), dict(IRSDE_UNET_DEFAULTS)
    return DaCLIPMethod(DaCLIPImageEncoder(**encoder_cfg), ConditionalUNet(**unet_cfg), None, None, encoder_cfg,
                        unet_cfg, steps=steps)
