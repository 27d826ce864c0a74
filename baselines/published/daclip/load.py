"""DA-CLIP's two released files, read safely and strictly, and the encoder's input preprocessing.

- ``daclip_ViT-B-32.pt``: the DA-CLIP model as the authors' open_clip training saves it: the state
  dict of their ``DaCLIP`` module, bare or under ``state_dict`` (next to ``epoch``, ``optimizer``,
  ...), keys with DistributedDataParallel's ``module.`` when so trained. Only the image side is
  kept (:func:`baselines.published.daclip.encoder.select_image_side`: the frozen tower ``visual.*`` and
  the controller ``visual_control.*``); the text tower, the duplicate ``clip.visual.*`` and the
  logit scales are left out. The kept tensors must then match exactly.
- ``universal-ir.pth``: the bare ``state_dict`` of ``ConditionalUNet`` (the authors'
  ``save_network``), ``module.`` removed if present.

Structural settings are read from tensor shapes: the ViT width, patch, layers, image size, MLP
ratio and output size; the U-Net's width, channel multipliers, context size and which
conditionings it has. Heads are ``width / 64`` (open_clip's ``head_width``; no tensor records it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from abair.errors import UserError

__all__ = ["daclip_part", "encoder_config", "unet_config", "load_daclip_encoder", "load_irsde_unet",
           "clip_preprocess", "ENCODER_FILE", "UNET_FILE"]

ENCODER_FILE = "daclip_ViT-B-32.pt"
UNET_FILE = "universal-ir.pth"

_ENCODER_SIGNATURE = "visual_control.transformer.zero_modules.0.weight"
_UNET_SIGNATURE = "init_conv.weight"
_UNET_SIGNATURE_2 = "downs.0.0.block1.proj.weight"


def daclip_part(state_dict: Mapping[str, Any]) -> str | None:
    """``"encoder"`` for a DA-CLIP model file, ``"unet"`` for the restoration network's, else None."""
    if _ENCODER_SIGNATURE in state_dict:
        return "encoder"
    if _UNET_SIGNATURE in state_dict and _UNET_SIGNATURE_2 in state_dict and "time_mlp.1.weight" in state_dict:
        return "unet"
    return None


def _count(state_dict, pattern: str) -> int:
    rx = re.compile(pattern)
    found = {int(m.group(1)) for m in map(rx.match, state_dict) if m}
    return max(found) + 1 if found else 0


def _shape(state_dict, key: str) -> tuple[int, ...] | None:
    t = state_dict.get(key)
    return tuple(t.shape) if t is not None else None


def encoder_config(state_dict: Mapping[str, Any]) -> dict:
    """DaCLIPImageEncoder arguments from the image-side tensors (defaults where a tensor is missing)."""
    from .encoder import DACLIP_ENCODER_DEFAULTS, grid_from_positions

    cfg = dict(DACLIP_ENCODER_DEFAULTS)
    conv = _shape(state_dict, "visual.conv1.weight")
    if conv and len(conv) == 4:
        cfg["width"], cfg["patch_size"] = conv[0], conv[2]
    pos = _shape(state_dict, "visual.positional_embedding")
    if pos and len(pos) == 2:
        grid = grid_from_positions(pos[0])
        if grid:
            cfg["image_size"] = grid * cfg["patch_size"]
    cfg["layers"] = _count(state_dict, r"visual\.transformer\.resblocks\.(\d+)\.") or cfg["layers"]
    proj = _shape(state_dict, "visual.proj")
    if proj and len(proj) == 2:
        cfg["output_dim"] = proj[1]
    hidden = _shape(state_dict, "visual.transformer.resblocks.0.mlp.c_fc.weight")
    if hidden and cfg["width"]:
        cfg["mlp_ratio"] = hidden[0] / cfg["width"]
    if cfg["width"] % cfg["head_width"]:
        cfg["head_width"] = cfg["width"]  # a width open_clip would not build: one head, so the keys still compare
    return cfg


def unet_config(state_dict: Mapping[str, Any]) -> dict:
    """ConditionalUNet arguments from its tensors (defaults where a tensor is missing)."""
    from .arch import IRSDE_UNET_DEFAULTS

    cfg = dict(IRSDE_UNET_DEFAULTS)
    init = _shape(state_dict, "init_conv.weight")
    if init and len(init) == 4:
        cfg["nf"], cfg["in_nc"] = init[0], init[1] // 2
    out = _shape(state_dict, "final_conv.weight")
    if out:
        cfg["out_nc"] = out[0]
    depth = _count(state_dict, r"downs\.(\d+)\.")
    mults = []
    for i in range(depth):
        down = _shape(state_dict, f"downs.{i}.3.weight")
        if not down or down[0] % cfg["nf"]:
            mults = []
            break
        mults.append(down[0] // cfg["nf"])
    if mults:
        cfg["ch_mult"] = tuple(mults)
    cfg["use_degra_context"] = "prompt" in state_dict
    cross = [k for k in state_dict if k.endswith("attn2.to_k.weight")]
    cfg["use_image_context"] = bool(cross)
    ctx = _shape(state_dict, "text_mlp.0.weight") or (_shape(state_dict, cross[0]) if cross else None)
    if ctx:
        cfg["context_dim"] = ctx[1]
    return cfg


def _state_dict(path: Path) -> dict:
    from baselines.archs.loading import find_state_dict, read_checkpoint, strip_common_prefix

    return strip_common_prefix(find_state_dict(read_checkpoint(path), path), ("module.",))


def _wrong_part(path: Path, state_dict, want: str) -> None:
    """One line when ``path`` is DA-CLIP's other file (the two options swapped)."""
    part = daclip_part(state_dict)
    if part and part != want:
        other = {"encoder": f"the DA-CLIP encoder ({ENCODER_FILE}): pass it as daclip.clip=PATH",
                 "unet": f"the restoration network ({UNET_FILE}): pass it as daclip.checkpoint=PATH"}[part]
        raise UserError(f"checkpoint {path} is not DA-CLIP's "
                        f"{'restoration network' if want == 'unet' else 'encoder'} but {other}")


def _naming_option(option: str):
    """Prefix every one-line error with the method option that named the file; drop the hint to use
    ``--methods daclip`` (the file is already read by it, for its other part)."""
    import contextlib

    @contextlib.contextmanager
    def wrap():
        try:
            yield
        except UserError as exc:
            text = str(exc).removesuffix(" (it looks like a DA-CLIP checkpoint: use --methods daclip)")
            raise UserError(f"daclip.{option}: {text}") from None

    return wrap()


def load_daclip_encoder(path: str | Path) -> tuple[Any, dict]:
    """(DaCLIPImageEncoder in eval mode, its config) from ``daclip_ViT-B-32.pt``; the config also lists
    how many keys of the file were left out (text tower, duplicate tower, logit scales). Errors are one
    line starting ``daclip.clip:``."""
    from baselines.archs.loading import build_checked

    from .encoder import DACLIP_ENCODER_DEFAULTS, DaCLIPImageEncoder, select_image_side

    path = Path(path)
    with _naming_option("clip"):
        full = _state_dict(path)
        _wrong_part(path, full, "encoder")
        kept, dropped = select_image_side(full)
        model, cfg = build_checked(DaCLIPImageEncoder, encoder_config(kept), DACLIP_ENCODER_DEFAULTS, kept,
                                   "DA-CLIP encoder", path)
    return model, {**cfg, "keys_left_out": len(dropped)}


def load_irsde_unet(path: str | Path) -> tuple[Any, dict]:
    """(ConditionalUNet in eval mode, its config) from ``universal-ir.pth``; errors are one line starting
    ``daclip.checkpoint:``."""
    from baselines.archs.loading import build_checked

    from .arch import IRSDE_UNET_DEFAULTS, ConditionalUNet

    path = Path(path)
    with _naming_option("checkpoint"):
        state_dict = _state_dict(path)
        _wrong_part(path, state_dict, "unet")
        return build_checked(ConditionalUNet, unet_config(state_dict), IRSDE_UNET_DEFAULTS, state_dict,
                             "DA-CLIP restoration network", path)


# -------------------------------------------------------------------------------------- encoder input


def clip_preprocess(batch, size: int = 224):
    """The encoder's input, as ``clip_transform`` of the authors' ``data/util.py`` does it per image.

    float (N, 3, H, W) in [0, 1] -> (N, 3, size, size) on the batch's device: ``(x * 255)`` truncated
    to uint8 (``astype(np.uint8)``, as the authors convert their float32 image), Pillow bicubic resize
    of the shorter side to ``size`` (the longer ``int(size * long / short)``, torchvision's rule),
    centre crop to ``size`` (offsets ``round((h - size) / 2)``), /255, then CLIP's mean and std.
    """
    import numpy as np
    import torch
    from PIL import Image

    from .encoder import CLIP_MEAN, CLIP_STD

    arrays = (batch.detach().to("cpu", torch.float32) * 255).numpy().astype(np.uint8).transpose(0, 2, 3, 1)
    out = []
    for array in arrays:
        image = Image.fromarray(np.ascontiguousarray(array))
        w, h = image.size
        short, long = min(w, h), max(w, h)
        new_long = int(size * long / short)
        new = (size, new_long) if w <= h else (new_long, size)
        if new != (w, h):
            image = image.resize(new, Image.BICUBIC)
        w, h = image.size
        top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
        image = image.crop((left, top, left + size, top + size))
        out.append(torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1))
    x = torch.stack(out).to(torch.float32).div(255)
    mean = torch.tensor(CLIP_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - mean) / std).to(batch.device)
