"""Uformer's checkpoint configuration, the authors' test pipeline and the ``uformer[:denoise|deblur]`` method.

Released files: ``.pth`` of the authors' training scripts, ``{"epoch": ..., "state_dict": ..., "optimizer":
...}``, keys prefixed ``module.`` when trained with DataParallel, read strictly by
:func:`baselines.archs.loading.load_architecture`. Width, depths, heads, window, MLP ratio and the
modulator are read from the tensor shapes (Uformer-T/-S/-B); ``img_size`` is a run setting no tensor
records. The authors test with expand2square: zero padding, centred, to a square of side a multiple of 128.
"""

from __future__ import annotations

import math
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
    variants,
)

__all__ = ["ARCH", "PIPELINE", "UformerMethod", "make", "method", "record_name"]

#: the authors' test pipeline (recorded in config(), see docs/BASELINES.md)
PIPELINE: dict[str, Any] = {
    "pad": "zeros, centred, to a square of side ceil(max(h, w) / 128) * 128 (expand2square, in the method)",
    "output": "the image cut back out of the square", "crop": "back to the input size", "clip": "[0, 1]",
    "colour": "RGB", "range": "[0, 1]", "self_ensemble": False,
    "source": "ZhendongWang6/Uformer test/test_sidd.py, test/test_gopro_hide.py",
}

record_name = variant_record_name("uformer")

_LAYERS = tuple(f"encoderlayer_{i}" for i in range(4)) + ("conv",) + tuple(f"decoderlayer_{i}" for i in range(4))


def _infer(state_dict: Mapping[str, Any]) -> dict:
    cfg = ARCH.defaults()
    cfg["embed_dim"] = tensor_dim(state_dict, "input_proj.proj.0.weight", 0) or cfg["embed_dim"]
    cfg["dd_in"] = tensor_dim(state_dict, "input_proj.proj.0.weight", 1) or cfg["dd_in"]
    depths, heads = list(cfg["depths"]), list(cfg["num_heads"])
    for i, layer in enumerate(_LAYERS):
        depths[i] = seq_len(state_dict, f"{layer}.blocks") or depths[i]
        heads[i] = tensor_dim(state_dict, f"{layer}.blocks.0.attn.relative_position_bias_table", 1) or heads[i]
    cfg["depths"], cfg["num_heads"] = tuple(depths), tuple(heads)
    table = tensor_dim(state_dict, "encoderlayer_0.blocks.0.attn.relative_position_bias_table", 0)
    if table and math.isqrt(table) ** 2 == table and math.isqrt(table) % 2:
        cfg["win_size"] = (math.isqrt(table) + 1) // 2
    hidden = tensor_dim(state_dict, "encoderlayer_0.blocks.0.mlp.linear1.0.weight", 0)
    if hidden:
        cfg["mlp_ratio"] = hidden / cfg["embed_dim"]
    cfg["modulator"] = "decoderlayer_0.blocks.0.modulator.weight" in state_dict
    return cfg


ARCH = declared_arch("Uformer", _infer, f"{__package__}.arch:Uformer", f"{__package__}.arch:UFORMER_DEFAULTS")


class UformerMethod(CheckpointMethod):
    """Uformer with the authors' test padding: zeros, centred, to a square of side a multiple of 128."""

    def restore(self, batch, context: RestoreContext):
        import torch

        from .arch import crop_from_square, expand_to_square

        square, offsets = expand_to_square(batch, 16 * self.arch_config["win_size"])
        with torch.inference_mode():
            return crop_from_square(self.model(square), offsets, tuple(batch.shape[-2:]))


def make(variant: str = "", checkpoint: str | None = None, max_batch: int = 1, img_size: int = 128) -> UformerMethod:
    """``uformer`` / ``uformer:denoise|deblur`` from an official ``.pth`` (Uformer_B_SIDD.pth, Uformer_B_GoPro.pth).

    Both released files are Uformer-B: a variant refuses any other size. ``img_size`` is the size the
    network is built for (the authors' test scripts: 128, which leaves the 8x8 bottleneck unshifted).
    """
    if not isinstance(img_size, int) or isinstance(img_size, bool) or img_size < 16:
        raise UserError(f"uformer.img_size must be an integer of at least 16, got {img_size!r}")
    variant, name, path, max_batch = variant_start("uformer", variant, checkpoint, max_batch, "Uformer_B_SIDD.pth")
    return method(*load_architecture(ARCH, path, img_size=img_size), path, max_batch, variant)


def method(model, cfg: dict, path: Path | None, max_batch: int = 1, variant: str = "") -> UformerMethod:
    """The ``uformer[:variant]`` method around a loaded network (``path``: its file; None for random weights)."""
    from .arch import uformer_size

    name = f"uformer:{variant}" if variant else "uformer"
    check_rgb(path, "Uformer", cfg["dd_in"], 3)
    size = uformer_size(cfg)
    if variant and size != "Uformer-B":
        raise UserError(f"checkpoint {path} is {'a ' + size if size else 'not a named Uformer size'} but "
                        f"uformer:{variant} is the released Uformer-B ({variants('uformer')[variant].file}); "
                        "run it as --methods uformer")
    details = {**variant_details("uformer", variant, PIPELINE), "size": size}
    return UformerMethod(name, model, path, "Uformer", cfg, multiple_of=1, max_batch=max_batch, details=details)
