"""The image side of DA-CLIP (Luo et al., ICLR 2024): a CLIP ViT image tower and its "visual control" copy.

DA-CLIP keeps a frozen CLIP model and trains a copy of its image tower, the controller, whose
transformer adds a zero-initialised linear layer after every block. The controller's pooled output
is the *degradation* embedding; the outputs of its per-block linear layers are added to the frozen
tower's residual stream, whose pooled output is then the *content* embedding. The universal
restoration model is conditioned on both (``encode_image(image, control=True)`` in the authors'
code). The text tower is used only in training, so it is not built here.

Attribute names follow the authors' ``DaCLIP`` module (``visual``, ``visual_control``) and the
open_clip ``VisionTransformer`` inside them, so the image-side tensors of the released
``daclip_ViT-B-32.pt`` load with strict key matching (see :func:`select_image_side`).

Shapes: images (N, 3, S, S) normalised with CLIP's mean and standard deviation, S the tower's
``image_size`` (224 for ViT-B/32); embeddings (N, ``output_dim``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DACLIP_ENCODER_DEFAULTS", "CLIP_MEAN", "CLIP_STD", "VisionTower", "DaCLIPImageEncoder",
           "select_image_side", "TEXT_SIDE_PREFIXES", "grid_from_positions"]

#: ViT-B/32 as in the authors' ``model_configs/daclip_ViT-B-32.json`` (vision_cfg, embed_dim)
DACLIP_ENCODER_DEFAULTS = {"image_size": 224, "patch_size": 32, "width": 768, "layers": 12, "head_width": 64,
                           "mlp_ratio": 4.0, "output_dim": 512}
#: OpenAI CLIP's normalisation, as ``clip_transform`` in the authors' ``data/util.py``
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class _MultiHeadSelfAttention(nn.Module):
    """Self-attention with a fused input projection (parameter names of ``torch.nn.MultiheadAttention``)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, L, D)
        n, length, width = x.shape
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.reshape(n, length, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(out.transpose(1, 2).reshape(n, length, width))


class _Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)) (exact GELU)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float):
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.ln_1 = nn.LayerNorm(width)
        self.attn = _MultiHeadSelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, hidden))
        self.mlp.add_module("gelu", nn.GELU())
        self.mlp.add_module("c_proj", nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class _Blocks(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.resblocks = nn.ModuleList(_Block(width, heads, mlp_ratio) for _ in range(layers))


class _ControlBlocks(nn.Module):
    """The controller's transformer: the blocks (under ``transformer``) and one linear layer per block."""

    def __init__(self, width: int, layers: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.transformer = _Blocks(width, layers, heads, mlp_ratio)
        self.zero_modules = nn.ModuleList(nn.Linear(width, width) for _ in range(layers))
        for linear in self.zero_modules:  # zero at initialisation, as trained from
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)

    @property
    def resblocks(self) -> nn.ModuleList:
        return self.transformer.resblocks


class VisionTower(nn.Module):
    """A CLIP ViT image tower (class token pooling, final projection). ``control=True`` builds the
    controller variant, whose blocks sit under ``transformer.transformer`` next to ``transformer.zero_modules``."""

    def __init__(self, image_size: int = 224, patch_size: int = 32, width: int = 768, layers: int = 12,
                 head_width: int = 64, mlp_ratio: float = 4.0, output_dim: int = 512, control: bool = False):
        super().__init__()
        if width % head_width:
            raise ValueError(f"width {width} is not a multiple of head_width {head_width}")
        self.image_size, self.patch_size = image_size, patch_size
        grid = image_size // patch_size
        scale = width ** -0.5
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        blocks = _ControlBlocks if control else _Blocks
        self.transformer = blocks(width, layers, width // head_width, mlp_ratio)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def tokens(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) -> (N, 1 + grid^2, width): patch embedding, class token, positions, ln_pre."""
        x = self.conv1(image).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        return self.ln_pre(x)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """The class token, normalised and projected: (N, output_dim)."""
        return self.ln_post(x[:, 0]) @ self.proj


class DaCLIPImageEncoder(nn.Module):
    """DA-CLIP's ``encode_image(image, control=True)``: returns (content embedding, degradation embedding).

    The controller runs first; after its block ``i`` its linear layer ``zero_modules[i]`` gives a
    residual ``h_i``. The frozen tower then adds these to its own stream in reverse order: after
    block ``i`` it adds ``h_{L-1-i}`` (the authors' code pops the list from its end).
    """

    def __init__(self, image_size: int = 224, patch_size: int = 32, width: int = 768, layers: int = 12,
                 head_width: int = 64, mlp_ratio: float = 4.0, output_dim: int = 512):
        super().__init__()
        cfg = dict(image_size=image_size, patch_size=patch_size, width=width, layers=layers, head_width=head_width,
                   mlp_ratio=mlp_ratio, output_dim=output_dim)
        self.visual = VisionTower(**cfg)
        self.visual_control = VisionTower(**cfg, control=True)
        self.image_size = image_size

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ctrl = self.visual_control
        x = ctrl.tokens(image)
        residuals = []
        for block, linear in zip(ctrl.transformer.resblocks, ctrl.transformer.zero_modules, strict=True):
            x = block(x)
            residuals.append(linear(x))
        degradation = ctrl.pool(x)

        x = self.visual.tokens(image)
        for i, block in enumerate(self.visual.transformer.resblocks):
            x = block(x) + residuals[len(residuals) - 1 - i]
        return self.visual.pool(x), degradation


# -------------------------------------------------------------------------------------- the released file

#: keys of the released file that belong to what inference does not use: the text tower (and the
#: frozen image tower again, which the authors' module also registers as ``clip.visual``), the logit scales
TEXT_SIDE_PREFIXES = ("clip.transformer.", "clip.token_embedding.", "clip.ln_final.")
TEXT_SIDE_KEYS = ("clip.positional_embedding", "clip.text_projection", "clip.logit_scale", "logit_scale",
                  "clip.attn_mask")


def select_image_side(state_dict: dict) -> tuple[dict, list[str]]:
    """The image-side tensors of a full DA-CLIP state dict, and the keys left out.

    The authors' ``DaCLIP`` module holds the frozen CLIP model as ``clip`` and registers its image
    tower a second time as ``visual``, so a saved state dict has every frozen-tower tensor twice
    (``visual.*`` and ``clip.visual.*``, the same tensor). Kept: ``visual.*`` (or ``clip.visual.*``
    when a file has only that copy) and ``visual_control.*``. Left out: the duplicate copy, the text
    tower (``clip.transformer.*``, ``clip.token_embedding.*``, ...) and the logit scales. Every other
    key is kept, so that strict matching reports it as unexpected.
    """
    have_visual = any(k.startswith("visual.") for k in state_dict)
    kept, dropped = {}, []
    for key, value in state_dict.items():
        if key.startswith("clip.visual."):
            if have_visual:
                dropped.append(key)
            else:
                kept[key[len("clip."):]] = value
        elif key.startswith(TEXT_SIDE_PREFIXES) or key in TEXT_SIDE_KEYS:
            dropped.append(key)
        else:
            kept[key] = value
    return kept, dropped


def grid_from_positions(rows: int) -> int | None:
    """``rows = grid^2 + 1`` -> grid (None when no integer grid fits)."""
    grid = math.isqrt(max(rows - 1, 0))
    return grid if grid * grid + 1 == rows else None
