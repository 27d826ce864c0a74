"""The restoration backbone: a 4-level Restormer-style encoder-decoder with PromptIR-style prompt
blocks in the decoder and refinement blocks at full resolution.

Input and output: float NCHW in [0, 1] (the output is not clipped), H and W multiples of 8 (three
2x downsamplings). The network predicts a residual: ``restored = x + net(x)``.

Layout for width ``C`` (``blocks = (b1, b2, b3, b4)``):

    embed 3x3 (3 -> C)
    enc1: b1 blocks @ C        -> down -> enc2: b2 @ 2C -> down -> enc3: b3 @ 4C -> down
    latent: b4 blocks @ 8C
    [prompt3 @ 8C] -> up -> cat enc3 -> fuse 1x1 (8C -> 4C) -> dec3: b3 @ 4C
    [prompt2 @ 4C] -> up -> cat enc2 -> fuse 1x1 (4C -> 2C) -> dec2: b2 @ 2C
    [prompt1 @ 2C] -> up -> cat enc1 (2C, no fuse)          -> dec1: b1 @ 2C
    refinement: r blocks @ 2C -> output 3x3 (2C -> 3) -> + x

The decoder's full-resolution features (after refinement, 2C channels) are what the Phase-I
segmentation head reads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .adapters import Projection
from .blocks import Downsample, Upsample, blocks
from .prompt import PromptBlock


@dataclass(frozen=True)
class BackboneConfig:
    """Hyper-parameters of :class:`Backbone` (stored in every checkpoint).

    ``prompt_dims``/``prompt_sizes`` are per decoder level, deepest first (levels 3, 2, 1); an empty
    ``prompt_dims`` disables the prompt blocks (a plain Restormer).
    """

    dim: int = 48
    blocks: tuple[int, int, int, int] = (4, 6, 6, 8)
    refinement: int = 4
    heads: tuple[int, int, int, int] = (1, 2, 4, 8)
    ffn_expansion: float = 2.66
    bias: bool = False
    norm_bias: bool = True
    prompt_dims: tuple[int, ...] = (320, 128, 64)
    prompt_sizes: tuple[int, ...] = (16, 32, 64)
    prompt_length: int = 5
    prompt_heads: tuple[int, ...] = (8, 4, 2)

    def to_json(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict) -> BackboneConfig:
        fields = cls.__dataclass_fields__
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise ValueError(f"unknown backbone setting(s) {unknown}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})

    @property
    def feature_dim(self) -> int:
        """Channels of the full-resolution decoder features (input of the segmentation head)."""
        return self.dim * 2


class Backbone(nn.Module):
    """Restormer-style encoder-decoder with prompt blocks; see the module docstring for the layout."""

    def __init__(self, cfg: BackboneConfig):
        super().__init__()
        self.cfg = cfg
        c, (b1, b2, b3, b4), h = cfg.dim, cfg.blocks, cfg.heads
        e, bias, nb = cfg.ffn_expansion, cfg.bias, cfg.norm_bias
        self.embed = nn.Conv2d(3, c, 3, padding=1, bias=bias)
        self.enc1 = blocks(b1, c, h[0], e, bias, nb)
        self.down1 = Downsample(c)
        self.enc2 = blocks(b2, 2 * c, h[1], e, bias, nb)
        self.down2 = Downsample(2 * c)
        self.enc3 = blocks(b3, 4 * c, h[2], e, bias, nb)
        self.down3 = Downsample(4 * c)
        self.latent = blocks(b4, 8 * c, h[3], e, bias, nb)

        widths = (8 * c, 4 * c, 2 * c)
        if cfg.prompt_dims:
            if not (len(cfg.prompt_dims) == len(cfg.prompt_sizes) == len(cfg.prompt_heads) == 3):
                raise ValueError("prompt_dims, prompt_sizes and prompt_heads need one entry per decoder level (3)")
            self.prompts = nn.ModuleList(
                PromptBlock(w, p, cfg.prompt_length, s, ph, e, bias, nb)
                for w, p, s, ph in zip(widths, cfg.prompt_dims, cfg.prompt_sizes, cfg.prompt_heads, strict=True)
            )
        else:
            self.prompts = None

        self.up3 = Upsample(8 * c)
        self.fuse3 = Projection(8 * c, 4 * c, bias, "fuse")
        self.dec3 = blocks(b3, 4 * c, h[2], e, bias, nb)
        self.up2 = Upsample(4 * c)
        self.fuse2 = Projection(4 * c, 2 * c, bias, "fuse")
        self.dec2 = blocks(b2, 2 * c, h[1], e, bias, nb)
        self.up1 = Upsample(2 * c)
        self.dec1 = blocks(b1, 2 * c, h[0], e, bias, nb)
        self.refine = blocks(cfg.refinement, 2 * c, h[0], e, bias, nb)
        self.output = nn.Conv2d(2 * c, 3, 3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        """x: float (N, 3, H, W), H and W multiples of 8 -> restored (N, 3, H, W) [, features (N, 2C, H, W)].

        CPU inference (gradients disabled) runs in channels-last memory, where oneDNN's depth-wise and
        1x1 kernels are fastest; the restored image comes back contiguous (docs/MODEL.md, "CPU inference").
        """
        channels_last = not torch.is_grad_enabled() and x.device.type == "cpu"
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        e1 = self.enc1(self.embed(x))
        e2 = self.enc2(self.down1(e1))
        e3 = self.enc3(self.down2(e2))
        d = self.latent(self.down3(e3))
        p = self.prompts
        if p is not None:
            d = p[0](d)
        d = self.dec3(self.fuse3(torch.cat([self.up3(d), e3], dim=1)))
        if p is not None:
            d = p[1](d)
        d = self.dec2(self.fuse2(torch.cat([self.up2(d), e2], dim=1)))
        if p is not None:
            d = p[2](d)
        d = self.dec1(torch.cat([self.up1(d), e1], dim=1))
        feats = self.refine(d)
        out = x + self.output(feats)
        if channels_last:
            out = out.contiguous()
        return (out, feats) if return_features else out
