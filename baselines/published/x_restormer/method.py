"""X-Restormer's checkpoint configuration, the authors' test pipeline and the ``x-restormer[:variant]`` method.

Released files: BasicSR ``.pth``, ``{"params": state_dict}`` as Restormer's, read strictly by
:func:`baselines.archs.loading.load_architecture`. Width, blocks, channel and spatial heads, window and
overlap ratio are read from the tensor shapes; the released files share one configuration, so a variant
names the run and the file expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from baselines.archs.loading import declared_arch, load_architecture, seq_len, tensor_dim
from baselines.published import (
    CheckpointMethod,
    check_rgb,
    variant_details,
    variant_record_name,
    variant_start,
)

__all__ = ["ARCH", "PIPELINE", "make", "method", "record_name"]

#: the authors' test pipeline (recorded in config(), see docs/BASELINES.md)
PIPELINE: dict[str, Any] = {
    "pad": "reflect, bottom/right, to a multiple of 64 (the harness; padding_size: 64)", "output": "the network's",
    "crop": "back to the input size", "clip": "[0, 1]", "colour": "RGB", "range": "[0, 1]",
    "self_ensemble": False, "source": "Andrew0613/X-Restormer xrestormer/models/xrestormer_model.py, "
                                      "options/test/00*.yml",
}

record_name = variant_record_name("x-restormer")


def _infer(state_dict: Mapping[str, Any]) -> dict:
    cfg = ARCH.defaults()
    dim = tensor_dim(state_dict, "patch_embed.proj.weight", 0)
    if dim:
        cfg["dim"], cfg["in_channels"] = dim, tensor_dim(state_dict, "patch_embed.proj.weight", 1)
    cfg["out_channels"] = tensor_dim(state_dict, "output.weight", 0) or cfg["out_channels"]
    blocks, cheads = list(cfg["num_blocks"]), list(cfg["channel_heads"])
    sheads, ratios = list(cfg["spatial_heads"]), list(cfg["overlap_ratio"])
    dim_head = tensor_dim(state_dict, "encoder_level1.0.spatial_attn.rel_pos_emb.rel_height", 1)
    # the tables give the overlapping window ow = win + int(win * ratio) only; every release has ratio
    # 0.5, so the window is the one that gives ow at 0.5 (ow = 12 -> 8), else the default with ratio fitted
    first = tensor_dim(state_dict, "encoder_level1.0.spatial_attn.rel_pos_emb.rel_height", 0)
    win = cfg["window_size"]
    if first:
        half = (first + 1) // 2 * 2 // 3
        if half and half + int(half * 0.5) == (first + 1) // 2:
            win = cfg["window_size"] = half
    if dim_head:
        cfg["spatial_dim_head"] = dim_head
    for i, stage in enumerate(("encoder_level1", "encoder_level2", "encoder_level3", "latent")):
        blocks[i] = seq_len(state_dict, stage) or blocks[i]
        cheads[i] = tensor_dim(state_dict, f"{stage}.0.channel_attn.temperature", 0) or cheads[i]
        inner = tensor_dim(state_dict, f"{stage}.0.spatial_attn.project_out.weight", 1)
        if inner and dim_head:
            sheads[i] = inner // dim_head
        table = tensor_dim(state_dict, f"{stage}.0.spatial_attn.rel_pos_emb.rel_height", 0)
        if table:  # rows: 2 * ow - 1
            ratios[i] = 0.5 if win + int(win * 0.5) == (table + 1) // 2 else ((table + 1) // 2 - win) / win
    cfg["num_blocks"], cfg["channel_heads"] = tuple(blocks), tuple(cheads)
    cfg["spatial_heads"], cfg["overlap_ratio"] = tuple(sheads), tuple(ratios)
    cfg["num_refinement_blocks"] = seq_len(state_dict, "refinement") or cfg["num_refinement_blocks"]
    hidden = tensor_dim(state_dict, "encoder_level1.0.channel_ffn.project_out.weight", 1)
    if hidden and dim and hidden != int(cfg["dim"] * cfg["ffn_expansion_factor"]):
        cfg["ffn_expansion_factor"] = hidden / cfg["dim"]
    if "encoder_level1.0.channel_attn.qkv.weight" in state_dict:
        cfg["bias"] = "encoder_level1.0.channel_attn.qkv.bias" in state_dict
    if "encoder_level1.0.norm1.body.weight" in state_dict:
        cfg["layernorm"] = "WithBias" if "encoder_level1.0.norm1.body.bias" in state_dict else "BiasFree"
    return cfg


ARCH = declared_arch("X-Restormer", _infer, f"{__package__}.arch:XRestormer", f"{__package__}.arch:XRESTORMER_DEFAULTS")


def make(variant: str = "", checkpoint: str | None = None, max_batch: int = 1) -> CheckpointMethod:
    """``x-restormer`` / ``x-restormer:denoise|deblur|derain|dehaze`` from an official BasicSR ``.pth``.

    The released files share one configuration, so the variant names the run and the file expected
    (it cannot be checked from the tensors). ``sr_300k.pth`` (x4 super-resolution) is no 1x restorer.
    """
    variant, name, path, max_batch = variant_start("x-restormer", variant, checkpoint, max_batch, "deblur_300k.pth")
    return method(*load_architecture(ARCH, path), path, max_batch, variant)


def method(model, cfg: dict, path: Path | None, max_batch: int = 1, variant: str = "") -> CheckpointMethod:
    """The ``x-restormer[:variant]`` method around a loaded network (``path``: its file; None for random weights)."""
    name = f"x-restormer:{variant}" if variant else "x-restormer"
    check_rgb(path, "X-Restormer", cfg["in_channels"], cfg["out_channels"])
    return CheckpointMethod(name, model, path, "X-Restormer", cfg, multiple_of=8 * cfg["window_size"],
                            max_batch=max_batch, details=variant_details("x-restormer", variant, PIPELINE))
