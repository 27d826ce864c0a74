"""Restormer (Zamir et al., CVPR 2022), re-implemented so the authors' released weights load strictly.

The network is a 4-level U-shaped transformer whose blocks mix channels with *transposed* attention
(MDTA: attention between channels, not pixels, so its cost grows linearly with the image area) and a
gated depth-wise-convolution feed-forward network (GDFN). Attribute names and tensor shapes follow
the released ``.pth`` files exactly (``patch_embed.proj.weight``, ``encoder_level1.0.attn.qkv.weight``,
``down1_2.body.0.weight``, ...), which is why the modules below are named as they are.

Tensors: input and output are float NCHW images in [0, 1] (the output is *not* clipped); H and W must
be multiples of 8 (three 2x down-samplings), which the harness guarantees through ``multiple_of``.

The building blocks (:class:`ChannelNorm`, :class:`TransformerBlock`, :class:`Downsample`,
:class:`Upsample`) are shared with PromptIR, X-Restormer and IDR (each keeping its authors' parameter names).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ChannelNorm", "GatedDconvFFN", "TransposedAttention", "TransformerBlock", "Downsample", "Upsample",
    "Restormer", "RESTORMER_DEFAULTS", "ffn_hidden",
]

#: Hyper-parameters of the released checkpoints (motion deblurring, deraining, defocus); the
#: Gaussian/real denoising checkpoints differ only in ``layernorm="BiasFree"``.
RESTORMER_DEFAULTS: dict = {
    "in_channels": 3, "out_channels": 3, "dim": 48, "num_blocks": (4, 6, 6, 8),
    "num_refinement_blocks": 4, "heads": (1, 2, 4, 8), "ffn_expansion_factor": 2.66, "bias": False,
    "layernorm": "WithBias", "dual_pixel_task": False,
}


def ffn_hidden(dim: int, ffn_expansion_factor: float) -> int:
    """Hidden width of a GDFN at width ``dim`` (truncated, as in the released models: 48*2.66 -> 127)."""
    return int(dim * ffn_expansion_factor)


class _NormParams(nn.Module):
    """Holds the per-channel affine parameters; exists only to reproduce the ``.body.`` key level."""

    def __init__(self, channels: int, with_bias: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        if with_bias:
            self.bias = nn.Parameter(torch.zeros(channels))
        else:
            self.register_parameter("bias", None)


class ChannelNorm(nn.Module):
    """Layer normalisation across the channels of every pixel of an NCHW tensor.

    ``kind="WithBias"``: ``(x - mean) / sqrt(var + 1e-5) * weight + bias``.
    ``kind="BiasFree"``: ``x / sqrt(var + 1e-5) * weight`` (the variance is still taken about the
    mean, but the mean is not subtracted), as in the Restormer denoising models.
    """

    eps = 1e-5

    def __init__(self, channels: int, kind: str = "WithBias"):
        super().__init__()
        if kind not in ("WithBias", "BiasFree"):
            raise ValueError(f"layernorm must be 'WithBias' or 'BiasFree', got {kind!r}")
        self.kind = kind
        self.body = _NormParams(channels, with_bias=kind == "WithBias")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(x, dim=1, keepdim=True, unbiased=False)
        scale = torch.rsqrt(var + self.eps)
        weight = self.body.weight.view(1, -1, 1, 1)
        if self.body.bias is None:
            return x * scale * weight
        return (x - mean) * scale * weight + self.body.bias.view(1, -1, 1, 1)


class GatedDconvFFN(nn.Module):
    """GDFN: 1x1 expand to two branches, 3x3 depth-wise conv, GELU(branch 1) * branch 2, 1x1 project."""

    def __init__(self, dim: int, ffn_expansion_factor: float, bias: bool):
        super().__init__()
        hidden = ffn_hidden(dim, ffn_expansion_factor)
        self.project_in = nn.Conv2d(dim, 2 * hidden, 1, bias=bias)
        self.dwconv = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(gate) * value)


class TransposedAttention(nn.Module):
    """MDTA: per-head attention over the channel axis with L2-normalised queries/keys and a learned
    per-head temperature; queries, keys and values come from a 1x1 conv followed by a 3x3 depth-wise conv."""

    def __init__(self, dim: int, num_heads: int, bias: bool):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(3 * dim, 3 * dim, 3, padding=1, groups=3 * dim, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        heads = self.num_heads
        q, k, v = (t.reshape(n, heads, c // heads, h * w) for t in self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1))
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        weights = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.temperature, dim=-1)
        out = torch.matmul(weights, v).reshape(n, c, h, w)
        return self.project_out(out)


class TransformerBlock(nn.Module):
    """Pre-norm residual block: ``x + MDTA(norm1(x))`` then ``+ GDFN(norm2(.))``."""

    def __init__(self, dim: int, num_heads: int, ffn_expansion_factor: float, bias: bool, layernorm: str):
        super().__init__()
        self.norm1 = ChannelNorm(dim, layernorm)
        self.attn = TransposedAttention(dim, num_heads, bias)
        self.norm2 = ChannelNorm(dim, layernorm)
        self.ffn = GatedDconvFFN(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class _PatchEmbed(nn.Module):
    """3x3 convolution from the image to the first feature width (``patch_embed.proj``)."""

    def __init__(self, in_channels: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """Halve H and W, double the width: 3x3 conv to ``c/2`` channels then pixel-unshuffle by 2."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels // 2, 3, padding=1, bias=False), nn.PixelUnshuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """Double H and W, halve the width: 3x3 conv to ``2c`` channels then pixel-shuffle by 2."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels * 2, 3, padding=1, bias=False), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _stage(dim: int, n: int, heads: int, ffn: float, bias: bool, layernorm: str) -> nn.Sequential:
    return nn.Sequential(*(TransformerBlock(dim, heads, ffn, bias, layernorm) for _ in range(n)))


class Restormer(nn.Module):
    """The Restormer network; defaults are the released checkpoints' (:data:`RESTORMER_DEFAULTS`).

    ``forward(x)`` maps a float (N, in_channels, H, W) image in [0, 1], H and W multiples of 8, to a
    (N, out_channels, H, W) image: a predicted residual added to the input (or, for the dual-pixel
    model, the prediction itself).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        dim: int = 48,
        num_blocks: Sequence[int] = (4, 6, 6, 8),
        num_refinement_blocks: int = 4,
        heads: Sequence[int] = (1, 2, 4, 8),
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        layernorm: str = "WithBias",
        dual_pixel_task: bool = False,
    ):
        super().__init__()
        if len(num_blocks) != 4 or len(heads) != 4:
            raise ValueError("num_blocks and heads need one entry per level (4)")
        d1, d2, d3, d4 = dim, 2 * dim, 4 * dim, 8 * dim
        f, b, ln = ffn_expansion_factor, bias, layernorm
        self.dual_pixel_task = dual_pixel_task
        self.patch_embed = _PatchEmbed(in_channels, d1)
        self.encoder_level1 = _stage(d1, num_blocks[0], heads[0], f, b, ln)
        self.down1_2 = Downsample(d1)
        self.encoder_level2 = _stage(d2, num_blocks[1], heads[1], f, b, ln)
        self.down2_3 = Downsample(d2)
        self.encoder_level3 = _stage(d3, num_blocks[2], heads[2], f, b, ln)
        self.down3_4 = Downsample(d3)
        self.latent = _stage(d4, num_blocks[3], heads[3], f, b, ln)
        self.up4_3 = Upsample(d4)
        self.reduce_chan_level3 = nn.Conv2d(d4, d3, 1, bias=bias)
        self.decoder_level3 = _stage(d3, num_blocks[2], heads[2], f, b, ln)
        self.up3_2 = Upsample(d3)
        self.reduce_chan_level2 = nn.Conv2d(d3, d2, 1, bias=bias)
        self.decoder_level2 = _stage(d2, num_blocks[1], heads[1], f, b, ln)
        self.up2_1 = Upsample(d2)
        # level 1 of the decoder keeps the concatenated width 2*dim (no channel reduction)
        self.decoder_level1 = _stage(d2, num_blocks[0], heads[0], f, b, ln)
        self.refinement = _stage(d2, num_refinement_blocks, heads[0], f, b, ln)
        if dual_pixel_task:
            self.skip_conv = nn.Conv2d(d1, d2, 1, bias=bias)
        self.output = nn.Conv2d(d2, out_channels, 3, padding=1, bias=bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        feat1 = self.patch_embed(image)
        enc1 = self.encoder_level1(feat1)
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        lat = self.latent(self.down3_4(enc3))
        dec3 = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(lat), enc3], 1)))
        dec2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(dec3), enc2], 1)))
        dec1 = self.refinement(self.decoder_level1(torch.cat([self.up2_1(dec2), enc1], 1)))
        if self.dual_pixel_task:
            return self.output(dec1 + self.skip_conv(feat1))
        return self.output(dec1) + image
