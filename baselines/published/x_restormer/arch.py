"""X-Restormer (Chen et al., "A Comparative Study of Image Restoration Networks for General Backbone
Network Design", ECCV 2024), re-implemented so the authors' released ``.pth`` files load strictly.

X-Restormer is Restormer's 4-level U-net in which every transformer block has *two* attention
stages, each followed by its own gated depth-wise-conv feed-forward network (GDFN):

1. ``x + channel_attn(norm1(x))``, ``+ channel_ffn(norm2(.))``: Restormer's transposed (channel)
   attention, unchanged;
2. ``+ spatial_attn(norm3(.))``, ``+ spatial_ffn(norm4(.))``: *overlapping cross-attention* (OCA).
   Queries come from non-overlapping ``win x win`` windows; keys and values from the co-centred,
   larger ``ow x ow`` window (``ow = win + int(win * overlap_ratio)``, zero beyond the image), so
   neighbouring windows exchange information. Heads have ``spatial_dim_head`` channels; the
   logits get a decomposed relative-position term ``q . rel_height[i - y + ow - 1] + q . rel_width[j - x + ow - 1]``
   for a query at (y, x) in its window and a key at (i, j) in the larger one (key offsets counted
   from the larger window's top-left corner, which lies ``(ow - win) / 2`` pixels outside the query window).

The building blocks shared with Restormer (channel LayerNorm, GDFN, transposed attention,
down/up-sampling, patch embedding) are :mod:`baselines.published.restormer.arch`'s; only the OCA is new here.
Attribute names follow the released files (``encoder_level1.0.spatial_attn.rel_pos_emb.rel_height``,
``latent.3.channel_attn.temperature``, ...).

Tensors: float NCHW in [0, 1] in and out (not clipped), a predicted residual added to the input.
H and W must be multiples of ``8 * win`` (64): every level is cut into whole windows. The authors'
test pipeline reflect-pads the bottom and right to a multiple of 64 (``padding_size: 64``) and crops
back, which is what the harness does with ``multiple_of = 64``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from baselines.published.restormer.arch import (
    ChannelNorm,
    Downsample,
    GatedDconvFFN,
    TransposedAttention,
    Upsample,
    _PatchEmbed,
)

__all__ = ["XRestormer", "XRESTORMER_DEFAULTS", "OverlappingCrossAttention"]

#: the configuration of every released checkpoint (the ``network_g`` of ``options/test/00*.yml``)
XRESTORMER_DEFAULTS: dict = {
    "in_channels": 3, "out_channels": 3, "dim": 48, "num_blocks": (2, 4, 4, 4), "num_refinement_blocks": 4,
    "channel_heads": (1, 2, 4, 8), "spatial_heads": (1, 2, 4, 8), "overlap_ratio": (0.5, 0.5, 0.5, 0.5),
    "window_size": 8, "spatial_dim_head": 16, "ffn_expansion_factor": 2.66, "bias": False, "layernorm": "WithBias",
}


class _RelPosEmb(nn.Module):
    """The two relative-position tables (``rel_height``, ``rel_width``): (2 * ow - 1, dim_head) each."""

    def __init__(self, overlap_win: int, dim_head: int):
        super().__init__()
        self.rel_height = nn.Parameter(torch.zeros(2 * overlap_win - 1, dim_head))
        self.rel_width = nn.Parameter(torch.zeros(2 * overlap_win - 1, dim_head))


def _relative_index(win: int, overlap_win: int, device) -> torch.Tensor:
    """(win, overlap_win) table index ``key - query + overlap_win - 1`` along one axis."""
    query = torch.arange(win, device=device)[:, None]
    key = torch.arange(overlap_win, device=device)[None, :]
    return key - query + overlap_win - 1


class OverlappingCrossAttention(nn.Module):
    """OCA: window queries attend to the keys/values of the enclosing overlapping window."""

    def __init__(self, dim: int, window_size: int, overlap_ratio: float, heads: int, dim_head: int, bias: bool):
        super().__init__()
        self.win = window_size
        self.overlap_win = int(window_size * overlap_ratio) + window_size
        if (self.overlap_win - window_size) % 2:
            raise ValueError(f"overlapping window {self.overlap_win} does not centre on window {window_size}")
        self.heads, self.dim_head = heads, dim_head
        inner = heads * dim_head
        self.qkv = nn.Conv2d(dim, 3 * inner, 1, bias=bias)
        self.project_out = nn.Conv2d(inner, dim, 1, bias=bias)
        self.rel_pos_emb = _RelPosEmb(self.overlap_win, dim_head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        win, ow, heads, d = self.win, self.overlap_win, self.heads, self.dim_head
        nh, nw = h // win, w // win
        q, k, v = self.qkv(x).chunk(3, dim=1)
        # queries: (b * windows * heads, win*win, d), windows row-major, heads split off the channels
        q = q.reshape(b, heads, d, nh, win, nw, win).permute(0, 3, 5, 1, 4, 6, 2).reshape(-1, win * win, d)
        # keys/values: the ow x ow neighbourhood of each window (zeros outside the map), same ordering
        pad = (ow - win) // 2

        def neighbourhoods(t: torch.Tensor) -> torch.Tensor:
            cols = F.unfold(t, kernel_size=ow, stride=win, padding=pad)  # b, inner * ow*ow, windows
            cols = cols.view(b, heads, d, ow * ow, nh * nw).permute(0, 4, 1, 3, 2)
            return cols.reshape(-1, ow * ow, d)

        k, v = neighbourhoods(k), neighbourhoods(v)
        q = q * d**-0.5
        logits = q @ k.transpose(-2, -1)  # (B', win*win, ow*ow)
        # decomposed relative positions: q . rel_height[row offset] + q . rel_width[column offset]
        index = _relative_index(win, ow, x.device)
        qs = q.view(-1, win, win, d)  # (B', y, x, d)
        rel_h = torch.einsum("byxd,ykd->byxk", qs, self.rel_pos_emb.rel_height[index])  # key row k
        rel_w = torch.einsum("byxd,xkd->byxk", qs, self.rel_pos_emb.rel_width[index])  # key column k
        logits = logits + (rel_h[..., :, None] + rel_w[..., None, :]).reshape(-1, win * win, ow * ow)
        out = logits.softmax(dim=-1) @ v  # (B', win*win, d)
        out = out.view(b, nh, nw, heads, win, win, d).permute(0, 3, 6, 1, 4, 2, 5).reshape(b, heads * d, h, w)
        return self.project_out(out)


class XRestormerBlock(nn.Module):
    """Channel attention + GDFN, then overlapping cross-attention + GDFN, each pre-normed and residual."""

    def __init__(self, dim: int, window_size: int, overlap_ratio: float, channel_heads: int, spatial_heads: int,
                 spatial_dim_head: int, ffn_expansion_factor: float, bias: bool, layernorm: str):
        super().__init__()
        self.spatial_attn = OverlappingCrossAttention(dim, window_size, overlap_ratio, spatial_heads,
                                                      spatial_dim_head, bias)
        self.channel_attn = TransposedAttention(dim, channel_heads, bias)
        self.norm1 = ChannelNorm(dim, layernorm)
        self.norm2 = ChannelNorm(dim, layernorm)
        self.norm3 = ChannelNorm(dim, layernorm)
        self.norm4 = ChannelNorm(dim, layernorm)
        self.channel_ffn = GatedDconvFFN(dim, ffn_expansion_factor, bias)
        self.spatial_ffn = GatedDconvFFN(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.channel_attn(self.norm1(x))
        x = x + self.channel_ffn(self.norm2(x))
        x = x + self.spatial_attn(self.norm3(x))
        return x + self.spatial_ffn(self.norm4(x))


class XRestormer(nn.Module):
    """The X-Restormer network; defaults are the released checkpoints' (:data:`XRESTORMER_DEFAULTS`).

    ``forward(x)``: float (N, in_channels, H, W), H and W multiples of ``8 * window_size`` ->
    (N, out_channels, H, W), a predicted residual added to the input.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        dim: int = 48,
        num_blocks: Sequence[int] = (2, 4, 4, 4),
        num_refinement_blocks: int = 4,
        channel_heads: Sequence[int] = (1, 2, 4, 8),
        spatial_heads: Sequence[int] = (1, 2, 4, 8),
        overlap_ratio: Sequence[float] = (0.5, 0.5, 0.5, 0.5),
        window_size: int = 8,
        spatial_dim_head: int = 16,
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        layernorm: str = "WithBias",
    ):
        super().__init__()
        if not (len(num_blocks) == len(channel_heads) == len(spatial_heads) == len(overlap_ratio) == 4):
            raise ValueError("num_blocks, channel_heads, spatial_heads and overlap_ratio need one entry per level (4)")
        self.window_size = window_size

        def stage(level: int, width: int, n: int) -> nn.Sequential:
            return nn.Sequential(*(
                XRestormerBlock(width, window_size, overlap_ratio[level], channel_heads[level], spatial_heads[level],
                                spatial_dim_head, ffn_expansion_factor, bias, layernorm)
                for _ in range(n)
            ))

        d1, d2, d3, d4 = dim, 2 * dim, 4 * dim, 8 * dim
        self.patch_embed = _PatchEmbed(in_channels, d1)
        self.encoder_level1 = stage(0, d1, num_blocks[0])
        self.down1_2 = Downsample(d1)
        self.encoder_level2 = stage(1, d2, num_blocks[1])
        self.down2_3 = Downsample(d2)
        self.encoder_level3 = stage(2, d3, num_blocks[2])
        self.down3_4 = Downsample(d3)
        self.latent = stage(3, d4, num_blocks[3])
        self.up4_3 = Upsample(d4)
        self.reduce_chan_level3 = nn.Conv2d(d4, d3, 1, bias=bias)
        self.decoder_level3 = stage(2, d3, num_blocks[2])
        self.up3_2 = Upsample(d3)
        self.reduce_chan_level2 = nn.Conv2d(d3, d2, 1, bias=bias)
        self.decoder_level2 = stage(1, d2, num_blocks[1])
        self.up2_1 = Upsample(d2)
        self.decoder_level1 = stage(0, d2, num_blocks[0])
        self.refinement = stage(0, d2, num_refinement_blocks)
        self.output = nn.Conv2d(d2, out_channels, 3, padding=1, bias=bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        enc1 = self.encoder_level1(self.patch_embed(image))
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        lat = self.latent(self.down3_4(enc3))
        dec3 = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(lat), enc3], 1)))
        dec2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(dec3), enc2], 1)))
        dec1 = self.refinement(self.decoder_level1(torch.cat([self.up2_1(dec2), enc1], 1)))
        return self.output(dec1) + image
