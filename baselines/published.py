"""Published all-in-one / restoration networks run from their authors' released checkpoints.

- ``restormer``: Restormer (Zamir et al., CVPR 2022), ``--method-arg restormer.checkpoint=PATH``;
- ``promptir``: PromptIR (Potlapalli et al., NeurIPS 2023), ``--method-arg promptir.checkpoint=PATH``;
- ``airnet``: AirNet (Li et al., CVPR 2022), ``--method-arg airnet.checkpoint=PATH``;
- ``spandrel:<path>``: any RGB 1x restoration model the ``spandrel`` package recognises.

The architectures are this project's re-implementations (:mod:`baselines.archs`); the weights are
the files the authors released, which users download themselves (docs/BASELINES.md lists them).
Nothing is ever downloaded here. Every method receives and returns float (N, 3, H, W) batches in
[0, 1]; the harness pads to ``multiple_of`` (reflect) and clips the output.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from abair.errors import UserError

from .base import Method, RestoreContext

__all__ = ["CheckpointMethod", "AirNetMethod", "SpandrelMethod", "make_restormer", "make_promptir", "make_airnet", "make_spandrel"]


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (recorded with every run so results name the exact weights)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


class CheckpointMethod(Method):
    """A network loaded from a checkpoint, run as-is on the batch (eval mode, no gradients)."""

    def __init__(self, name: str, model, checkpoint: Path, architecture: str, arch_config: dict,
                 multiple_of: int, max_batch: int = 1):
        self.name = name
        self.model = model.eval()
        self.checkpoint = checkpoint
        self.architecture = architecture
        self.arch_config = arch_config
        self.multiple_of = multiple_of
        self.max_batch = max_batch
        self.device = "cpu"
        self._sha256: str | None = None

    def config(self) -> dict[str, Any]:
        if self._sha256 is None:
            self._sha256 = file_sha256(self.checkpoint)
        return {
            "name": self.name,
            "architecture": self.architecture,
            "checkpoint": str(self.checkpoint),
            "checkpoint_sha256": self._sha256,
            "arch_config": {k: _jsonable(v) for k, v in self.arch_config.items()},
        }

    def to(self, device: str) -> CheckpointMethod:
        self.model.to(device)
        self.device = device
        return self

    def restore(self, batch, context: RestoreContext):
        import torch

        with torch.inference_mode():
            return self.model(batch)


def _need_checkpoint(method: str, checkpoint: str | None, files: str) -> Path:
    if checkpoint in (None, ""):
        raise UserError(
            f"method '{method}' needs the authors' weights: pass --method-arg {method}.checkpoint=PATH "
            f"({files}; see docs/BASELINES.md, nothing is downloaded)"
        )
    return Path(str(checkpoint)).expanduser().resolve()


def _max_batch(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UserError(f"max_batch must be a positive integer, got {value!r}")
    return value


def make_restormer(checkpoint: str | None = None, max_batch: int = 1) -> CheckpointMethod:
    """Restormer from an official ``.pth`` (``{"params": ...}``); colour 3-channel models only."""
    from .archs.loading import load_restormer

    path = _need_checkpoint("restormer", checkpoint, "e.g. motion_deblurring.pth or deraining.pth")
    max_batch = _max_batch(max_batch)
    model, cfg = load_restormer(path)
    if cfg["in_channels"] != 3 or cfg["out_channels"] != 3 or cfg["dual_pixel_task"]:
        kind = "dual-pixel" if cfg["dual_pixel_task"] else f"{cfg['in_channels']}-channel"
        raise UserError(
            f"checkpoint {path} is a {kind} Restormer; the benchmark restores RGB images, so use one of the "
            "colour checkpoints (motion_deblurring, single_image_defocus_deblurring, deraining, real_denoising, "
            "gaussian_color_denoising_*)"
        )
    return CheckpointMethod("restormer", model, path, "Restormer", cfg, multiple_of=8, max_batch=max_batch)


def make_promptir(checkpoint: str | None = None, max_batch: int = 1) -> CheckpointMethod:
    """PromptIR from the official Lightning ``model.ckpt`` (``state_dict`` keys prefixed ``net.``)."""
    from .archs.loading import load_promptir

    path = _need_checkpoint("promptir", checkpoint, "the release file model.ckpt")
    max_batch = _max_batch(max_batch)
    model, cfg = load_promptir(path)
    if cfg["in_channels"] != 3 or cfg["out_channels"] != 3:
        raise UserError(f"checkpoint {path} is a {cfg['in_channels']}-channel PromptIR; the benchmark needs RGB (3)")
    return CheckpointMethod("promptir", model, path, "PromptIR", cfg, multiple_of=8, max_batch=max_batch)


def make_airnet(checkpoint: str | None = None, max_batch: int = 1, deform_conv: str = "auto") -> CheckpointMethod:
    """AirNet from an official ``.pth`` (All.pth for the all-in-one model).

    ``deform_conv``: "auto" (torchvision's deformable-conv kernel on GPUs, pure PyTorch on the CPU,
    where it is faster), "torchvision" or "torch". They agree to float32 rounding
    (tests/test_published_archs.py); the one used is recorded in the run config.
    """
    from .archs.airnet import DEFORM_CONV_CHOICES
    from .archs.loading import load_airnet

    path = _need_checkpoint("airnet", checkpoint, "e.g. All.pth")
    max_batch = _max_batch(max_batch)
    if deform_conv not in DEFORM_CONV_CHOICES:
        raise UserError(f"airnet.deform_conv must be one of {', '.join(DEFORM_CONV_CHOICES)}, got {deform_conv!r}")
    model, cfg = load_airnet(path, deform_conv=deform_conv)
    return AirNetMethod("airnet", model, path, "AirNet", cfg, multiple_of=1, max_batch=max_batch)


class AirNetMethod(CheckpointMethod):
    """Records which deformable-convolution implementation ran on the method's device."""

    def config(self) -> dict[str, Any]:
        from .archs.airnet import deform_conv_backend

        out = super().config()
        out["arch_config"]["deform_conv"] = deform_conv_backend(self.arch_config["deform_conv"], self.device.split(":")[0])
        return out


# -------------------------------------------------------------------------------------- spandrel


class SpandrelMethod(Method):
    """A model loaded by ``spandrel`` (architecture detected from the state dict)."""

    def __init__(self, name: str, descriptor, checkpoint: Path, max_batch: int = 1):
        self.name = name
        self.descriptor = descriptor.eval()
        self.checkpoint = checkpoint
        self.multiple_of = int(descriptor.size_requirements.multiple_of)
        self.max_batch = max_batch
        self._sha256: str | None = None

    def config(self) -> dict[str, Any]:
        import spandrel

        if self._sha256 is None:
            self._sha256 = file_sha256(self.checkpoint)
        return {
            "name": self.name,
            "architecture": self.descriptor.architecture.name,
            "loader": f"spandrel {spandrel.__version__}",
            "checkpoint": str(self.checkpoint),
            "checkpoint_sha256": self._sha256,
        }

    def to(self, device: str) -> SpandrelMethod:
        import torch

        self.descriptor.to(torch.device(device))
        return self

    def restore(self, batch, context: RestoreContext):
        import torch

        with torch.inference_mode():
            return self.descriptor(batch)


def spandrel_record_name(path: str) -> str:
    """The method name a ``spandrel:<path>`` run records: ``spandrel:<file name>`` (the file name, not
    the path: method names become folder names in saved outputs)."""
    return f"spandrel:{Path(path).expanduser().resolve().name}"


def make_spandrel(path: str | None = None, max_batch: int = 1) -> SpandrelMethod:
    """``spandrel:<path>``: load ``path`` through spandrel (plus spandrel-extra-arches when installed,
    which provides Restormer, MPRNet, MIRNet-v2, ...). The file is read by this project's safe loader
    (weights-only / safetensors) and only the state dict is handed to spandrel."""
    if not path:
        raise UserError("spandrel needs a checkpoint: use --methods spandrel:/path/to/model.pth")
    try:
        import spandrel
    except ImportError:
        raise UserError("the spandrel: methods need the spandrel package: pip install 'abair-bench[spandrel]'") from None
    try:
        import spandrel_extra_arches
    except ImportError:
        spandrel_extra_arches = None
    if spandrel_extra_arches is not None:
        spandrel_extra_arches.install(ignore_duplicates=True)

    from .archs.loading import find_state_dict, first_sentence, read_checkpoint, strip_common_prefix

    ckpt = Path(path).expanduser().resolve()
    state_dict = strip_common_prefix(find_state_dict(read_checkpoint(ckpt), ckpt), ("module.", "netG."))
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(state_dict)
    except spandrel.UnsupportedModelError:
        extra = "" if spandrel_extra_arches else " (spandrel-extra-arches is not installed, which adds Restormer and others)"
        raise UserError(f"spandrel does not recognise the architecture of checkpoint {ckpt}{extra}") from None
    except (RuntimeError, KeyError, ValueError) as exc:
        raise UserError(f"spandrel could not load checkpoint {ckpt}: {first_sentence(exc)}") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.scale != 1 or (
        descriptor.input_channels, descriptor.output_channels) != (3, 3):
        raise UserError(
            f"checkpoint {ckpt} is a {descriptor.architecture.name} model (scale {descriptor.scale}, "
            f"{descriptor.input_channels}->{descriptor.output_channels} channels); the benchmark needs a 1x RGB restorer"
        )
    return SpandrelMethod(spandrel_record_name(path), descriptor, ckpt, max_batch=_max_batch(max_batch))
