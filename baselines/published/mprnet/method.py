"""MPRNet's checkpoint configuration, the authors' test pipeline and the ``mprnet[:deblur|derain|denoise]`` method.

Released files: ``.pth`` of the authors' training scripts, ``{"epoch": ..., "state_dict": ..., "optimizer":
...}``, keys prefixed ``module.`` when trained with DataParallel, read strictly by
:func:`baselines.archs.loading.load_architecture` into spandrel-extra-arches' network (:mod:`.arch`). The
widths, kernel size, reduction and CAB count are read from the tensor shapes; the three released files
differ in their widths only, so a variant's file is recognised from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from abair.errors import UserError
from baselines.archs.loading import declared_arch, load_architecture, seq_len, tensor_dim
from baselines.base import RestoreContext
from baselines.published import (
    CheckpointMethod,
    check_rgb,
    variant_details,
    variant_record_name,
    variant_start,
)

__all__ = ["ARCH", "PIPELINE", "MPRNetMethod", "make", "method", "record_name"]

#: the authors' test pipeline (recorded in config(), see docs/BASELINES.md)
PIPELINE: dict[str, Any] = {
    "pad": "reflect, bottom/right, to a multiple of 8 (the harness)", "output": "stage 3 of (stage 3, 2, 1)",
    "crop": "back to the input size", "clip": "[0, 1]", "colour": "RGB", "range": "[0, 1]",
    "self_ensemble": False, "source": "swz30/MPRNet demo.py, Deblurring/test.py",
}

record_name = variant_record_name("mprnet")


def _infer(state_dict: Mapping[str, Any]) -> dict:
    cfg = ARCH.defaults()
    first = state_dict.get("shallow_feat1.0.weight")
    if first is None or first.ndim != 4:
        return cfg
    n_feat = int(first.shape[0])
    cfg.update(in_c=int(first.shape[1]), n_feat=n_feat, kernel_size=int(first.shape[2]),
               bias="shallow_feat1.0.bias" in state_dict)
    squeeze = tensor_dim(state_dict, "shallow_feat1.1.CA.conv_du.0.weight", 0)
    if squeeze and n_feat % squeeze == 0:
        cfg["reduction"] = n_feat // squeeze
    tail_out, tail_in = tensor_dim(state_dict, "tail.weight", 0), tensor_dim(state_dict, "tail.weight", 1)
    if tail_out and tail_in:
        cfg["out_c"], cfg["scale_orsnetfeats"] = tail_out, tail_in - n_feat
    level2 = tensor_dim(state_dict, "stage1_encoder.encoder_level2.0.CA.conv_du.0.weight", 1)
    if level2:
        cfg["scale_unetfeats"] = level2 - n_feat
    cabs = seq_len(state_dict, "stage3_orsnet.orb1.body")
    cfg["num_cab"] = cabs - 1 if cabs > 1 else cfg["num_cab"]
    return cfg


ARCH = declared_arch("MPRNet", _infer, f"{__package__}.arch:build_mprnet", f"{__package__}.arch:MPRNET_DEFAULTS")


class MPRNetMethod(CheckpointMethod):
    """MPRNet: the network returns (stage 3, stage 2, stage 1); the restored image is stage 3."""

    def restore(self, batch, context: RestoreContext):
        import torch

        from .arch import final_output

        with torch.inference_mode():
            return final_output(self.model(batch))


def make(variant: str = "", checkpoint: str | None = None, max_batch: int = 1) -> MPRNetMethod:
    """``mprnet`` / ``mprnet:deblur|derain|denoise`` from an official ``model_*.pth``.

    The variant names the released file the checkpoint must be (the three differ in width, so a file of
    another variant is refused naming the right one); without a variant any MPRNet width is accepted.
    """
    variant, name, path, max_batch = variant_start("mprnet", variant, checkpoint, max_batch, "model_deblurring.pth")
    return method(*load_architecture(ARCH, path), path, max_batch, variant)


def method(model, cfg: dict, path: Path | None, max_batch: int = 1, variant: str = "") -> MPRNetMethod:
    """The ``mprnet[:variant]`` method around a loaded network (``path``: its file; None for random weights)."""
    from .arch import MPRNET_VARIANTS, mprnet_variant

    name = f"mprnet:{variant}" if variant else "mprnet"
    check_rgb(path, "MPRNet", cfg["in_c"], cfg["out_c"])
    found = mprnet_variant(cfg)
    if variant and found != variant:
        widths = ", ".join(f"{k} {cfg[k]}" for k in MPRNET_VARIANTS[variant])
        which = f"the {found} model: use --methods mprnet:{found}" if found else "no released variant: use --methods mprnet"
        raise UserError(f"checkpoint {path} is not MPRNet's {variant} model ({widths}; it is {which})")
    details = variant_details("mprnet", variant, PIPELINE)
    details["widths_match"] = found
    return MPRNetMethod(name, model, path, "MPRNet", cfg, multiple_of=8, max_batch=max_batch, details=details)
