"""PromptIR-style prompt blocks used between decoder levels (NCHW float tensors).

A :class:`PromptBlock` turns decoder features ``F`` (N, C, H, W) into features of the same shape:

1. *generation*: ``L`` learnable prompt components (each ``P x S x S``) are mixed with per-image
   weights ``softmax(Linear(GAP(F)))`` (N, L); the mixed prompt is resized bilinearly to ``H x W``
   and passed through a 3x3 conv (P channels);
2. *interaction*: ``[F, prompt]`` (C + P channels) goes through one transformer block, then a
   1x1 projection (kind ``fuse``) maps it back to C channels.

The prompt carries degradation-dependent context learned end to end; the 1x1 projections of the
interaction block are adapter hosts like every other transformer block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .adapters import Projection
from .blocks import TransformerBlock, channels_last_like


class PromptGen(nn.Module):
    """(N, C, H, W) features -> (N, P, H, W) prompt from ``length`` components of ``P x size x size``."""

    def __init__(self, feat_dim: int, prompt_dim: int, length: int, size: int):
        super().__init__()
        self.components = nn.Parameter(torch.rand(1, length, prompt_dim, size, size))
        self.weights = nn.Linear(feat_dim, length)
        self.conv = nn.Conv2d(prompt_dim, prompt_dim, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        mix = torch.softmax(self.weights(x.mean(dim=(2, 3))), dim=1)  # (N, L)
        prompt = torch.einsum("nl,lpij->npij", mix, self.components[0])
        prompt = F.interpolate(prompt, size=(h, w), mode="bilinear", align_corners=False)
        return self.conv(prompt)


class PromptBlock(nn.Module):
    """Prompt generation + interaction: (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, feat_dim: int, prompt_dim: int, length: int, size: int, heads: int,
                 expansion: float, bias: bool = False, norm_bias: bool = True):
        super().__init__()
        self.gen = PromptGen(feat_dim, prompt_dim, length, size)
        self.interact = TransformerBlock(feat_dim + prompt_dim, heads, expansion, bias, norm_bias)
        self.reduce = Projection(feat_dim + prompt_dim, feat_dim, bias, "fuse")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduce(self.interact(torch.cat([x, channels_last_like(self.gen(x), x)], dim=1)))
