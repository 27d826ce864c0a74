"""Restormer's checkpoint configuration, the authors' test pipeline and the ``restormer`` method.

Released files: BasicSR ``.pth``, a dict ``{"params": state_dict}`` (``params_ema`` also accepted),
read strictly by :func:`baselines.archs.loading.load_architecture`. The widths, block counts, heads,
LayerNorm kind and dual-pixel input are read from the tensor shapes (:func:`restormer_like` also
reads PromptIR's and IDR's U-nets, which are Restormer's).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from abair.errors import UserError
from baselines.archs.loading import declared_arch, load_architecture, seq_len, tensor_dim
from baselines.published import CheckpointMethod, check_max_batch, need_checkpoint, pipeline_details

__all__ = ["ARCH", "PIPELINE", "restormer_like", "make", "method"]

#: the authors' test pipeline (recorded in config(), see docs/BASELINES.md)
PIPELINE: dict[str, Any] = {
    "pad": "reflect, bottom/right, to a multiple of 8 (the harness)", "output": "the network's",
    "crop": "back to the input size", "clip": "[0, 1]", "colour": "RGB", "range": "[0, 1]",
    "self_ensemble": False, "source": "swz30/Restormer Motion_Deblurring/test.py and the other task scripts",
}


def restormer_like(state_dict: Mapping[str, Any], defaults: dict) -> dict:
    """``defaults`` with the widths, blocks, heads, FFN ratio, bias and LayerNorm kind of a Restormer U-net's
    tensors (Restormer's own keys; PromptIR and IDR keep them)."""
    cfg = dict(defaults)
    dim = tensor_dim(state_dict, "patch_embed.proj.weight", 0)
    if dim:
        cfg["dim"] = dim
        cfg["in_channels"] = tensor_dim(state_dict, "patch_embed.proj.weight", 1)
    cfg["out_channels"] = tensor_dim(state_dict, "output.weight", 0) or cfg["out_channels"]
    blocks, heads = list(cfg["num_blocks"]), list(cfg["heads"])
    for i, stage in enumerate(("encoder_level1", "encoder_level2", "encoder_level3", "latent")):
        blocks[i] = seq_len(state_dict, stage) or blocks[i]
        heads[i] = tensor_dim(state_dict, f"{stage}.0.attn.temperature", 0) or heads[i]
    cfg["num_blocks"], cfg["heads"] = tuple(blocks), tuple(heads)
    cfg["num_refinement_blocks"] = seq_len(state_dict, "refinement") or cfg["num_refinement_blocks"]
    hidden = tensor_dim(state_dict, "encoder_level1.0.ffn.project_out.weight", 1)
    if hidden and hidden != int(cfg["dim"] * cfg["ffn_expansion_factor"]):
        cfg["ffn_expansion_factor"] = hidden / cfg["dim"]
    if "encoder_level1.0.attn.qkv.weight" in state_dict:
        cfg["bias"] = "encoder_level1.0.attn.qkv.bias" in state_dict
    if "encoder_level1.0.norm1.body.weight" in state_dict:
        cfg["layernorm"] = "WithBias" if "encoder_level1.0.norm1.body.bias" in state_dict else "BiasFree"
    return cfg


def _infer(state_dict: Mapping[str, Any]) -> dict:
    cfg = restormer_like(state_dict, ARCH.defaults())
    cfg["dual_pixel_task"] = "skip_conv.weight" in state_dict
    return cfg


ARCH = declared_arch("Restormer", _infer, f"{__package__}.arch:Restormer", f"{__package__}.arch:RESTORMER_DEFAULTS")


def make(checkpoint: str | None = None, max_batch: int = 1) -> CheckpointMethod:
    """Restormer from an official ``.pth`` (``{"params": ...}``); colour 3-channel models only."""
    path = need_checkpoint("restormer", checkpoint, "e.g. motion_deblurring.pth or deraining.pth")
    max_batch = check_max_batch(max_batch)
    return method(*load_architecture(ARCH, path), path, max_batch)


def method(model, cfg: dict, path: Path | None, max_batch: int = 1) -> CheckpointMethod:
    """The ``restormer`` method around a loaded network (``path``: its file; None for random weights)."""
    if cfg["in_channels"] != 3 or cfg["out_channels"] != 3 or cfg["dual_pixel_task"]:
        kind = "dual-pixel" if cfg["dual_pixel_task"] else f"{cfg['in_channels']}-channel"
        raise UserError(
            f"checkpoint {path} is a {kind} Restormer; the benchmark restores RGB images, so use one of the "
            "colour checkpoints (motion_deblurring, single_image_defocus_deblurring, deraining, real_denoising, "
            "gaussian_color_denoising_*)"
        )
    return CheckpointMethod("restormer", model, path, "Restormer", cfg, multiple_of=8, max_batch=max_batch,
                            details=pipeline_details(PIPELINE))
