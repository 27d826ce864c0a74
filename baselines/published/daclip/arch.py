"""DA-CLIP's universal restoration network: the IR-SDE noise predictor conditioned on DA-CLIP embeddings.

A U-Net over the concatenation (x_t - mu, mu), where mu is the degraded image and x_t the current
state of the reverse process, predicting the noise of x_t (Luo et al., "Controlling
Vision-Language Models for Multi-Task Image Restoration", ICLR 2024; the network is
``ConditionalUNet`` of the authors' ``DenoisingUNet_arch.py``). Conditioning:

- time: a sinusoidal embedding of t through a two-layer MLP, which scales and shifts every residual
  block (FiLM);
- degradation embedding: ``softmax(text_mlp(e_d)) * prompt`` through ``prompt_mlp`` is added to the
  time embedding (a learned prompt weighted by the degradation);
- content embedding: cross-attention in the transformer blocks of the deepest level and the
  bottleneck (the shallower levels use linear attention and ignore it).

The input is reflect-padded on the bottom/right to a multiple of 2^depth and the output cropped
back, inside the forward pass, as the authors' ``check_image_size``. Module and parameter names
follow theirs so ``universal-ir.pth`` loads with strict key matching.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["IRSDE_UNET_DEFAULTS", "ConditionalUNet"]

#: the universal model as in the authors' ``options/test.yml`` (network_G.setting)
IRSDE_UNET_DEFAULTS = {"in_nc": 3, "out_nc": 3, "nf": 64, "ch_mult": (1, 2, 4, 8), "context_dim": 512,
                       "use_degra_context": True, "use_image_context": True}

HEAD_CHANNELS = 32  # channels per head of the transformer blocks
CROSS_ATTENTION_FROM = 3  # levels with index >= 3 use transformer blocks (when image context is used)


def _conv(c_in: int, c_out: int, k: int = 3, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=bias)


class _ChannelNorm(nn.Module):
    """Normalisation over channels at each pixel with a gain ``g`` and no bias (eps 1e-5 in float32)."""

    def __init__(self, dim: int):
        super().__init__()
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        eps = 1e-5 if x.dtype == torch.float32 else 1e-3
        var, mean = torch.var_mean(x, dim=1, unbiased=False, keepdim=True)
        return (x - mean) * (var + eps).rsqrt() * self.g


class _Residual(nn.Module):
    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x, context=None):
        return self.fn(x, context) + x


class _PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.fn = fn
        self.norm = _ChannelNorm(dim)

    def forward(self, x, context=None):
        return self.fn(self.norm(x), context)


class _TimeEmbedding(nn.Module):
    """Sinusoidal embedding of a (B,) time tensor: (B, dim) = [sin(t w), cos(t w)], w geometric 1 .. 1e-4."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half, device=t.device) * -(math.log(10000) / (half - 1)))
        angles = t[:, None] * freqs[None, :]
        return torch.cat((angles.sin(), angles.cos()), dim=-1)


class _ConvAct(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.proj = _conv(c_in, c_out)
        self.act = nn.SiLU()

    def forward(self, x, scale_shift=None):
        x = self.proj(x)
        if scale_shift is not None:
            scale, shift = scale_shift
            x = x * (scale + 1) + shift
        return self.act(x)


class _ResBlock(nn.Module):
    """Two 3x3 convolutions with SiLU, the first scaled and shifted by the time embedding; 1x1 skip."""

    def __init__(self, dim_in: int, dim_out: int, time_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, dim_out * 2))
        self.block1 = _ConvAct(dim_in, dim_out)
        self.block2 = _ConvAct(dim_out, dim_out)
        self.res_conv = _conv(dim_in, dim_out, 1) if dim_in != dim_out else nn.Identity()

    def forward(self, x, t):
        emb = self.mlp(t)[:, :, None, None]
        h = self.block1(x, scale_shift=emb.chunk(2, dim=1))
        return self.block2(h) + self.res_conv(x)


class _LinearAttention(nn.Module):
    """Linear attention (4 heads of 32): queries softmaxed over channels, keys over positions."""

    def __init__(self, dim: int, heads: int = 4, dim_head: int = 32):
        super().__init__()
        self.scale = dim_head ** -0.5
        self.heads = heads
        hidden = heads * dim_head
        self.to_qkv = nn.Conv2d(dim, hidden * 3, 1, bias=False)
        self.to_out = nn.Sequential(nn.Conv2d(hidden, dim, 1), _ChannelNorm(dim))

    def forward(self, x, context=None):
        b, _, h, w = x.shape
        q, k, v = (t.reshape(b, self.heads, -1, h * w) for t in self.to_qkv(x).chunk(3, dim=1))
        q = q.softmax(dim=-2) * self.scale
        k = k.softmax(dim=-1)
        v = v / (h * w)
        ctx = torch.einsum("bhdn,bhen->bhde", k, v)
        out = torch.einsum("bhde,bhdn->bhen", ctx, q)
        return self.to_out(out.reshape(b, -1, h, w))


class _Attention(nn.Module):
    """Multi-head (cross-)attention without input biases; the context defaults to the input itself."""

    def __init__(self, query_dim: int, context_dim: int | None, heads: int, dim_head: int):
        super().__init__()
        inner = heads * dim_head
        context_dim = query_dim if context_dim is None else context_dim
        self.heads = heads
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim), nn.Dropout(0.0))

    def forward(self, x, context=None):
        context = x if context is None else context
        b, n, _ = x.shape
        q, k, v = self.to_q(x), self.to_k(context), self.to_v(context)
        q, k, v = (t.reshape(b, t.shape[1], self.heads, -1).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class _GatedGELU(nn.Module):
    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x):
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class _FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        self.net = nn.Sequential(_GatedGELU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim))

    def forward(self, x):
        return self.net(x)


class _TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int, context_dim: int):
        super().__init__()
        self.attn1 = _Attention(dim, None, heads, dim_head)  # self-attention
        self.ff = _FeedForward(dim)
        self.attn2 = _Attention(dim, context_dim, heads, dim_head)  # cross-attention to the content embedding
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x, context=None):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class _SpatialTransformer(nn.Module):
    """GroupNorm(32), 1x1 in, transformer blocks over the pixels as tokens, 1x1 out, plus the input."""

    def __init__(self, channels: int, heads: int, dim_head: int, context_dim: int, depth: int = 1):
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, inner, 1)
        self.transformer_blocks = nn.ModuleList(_TransformerBlock(inner, heads, dim_head, context_dim)
                                                for _ in range(depth))
        self.proj_out = nn.Conv2d(inner, channels, 1)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x, context=None):
        b, c, h, w = x.shape
        y = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)
        for block in self.transformer_blocks:
            y = block(y, context)
        return self.proj_out(y.transpose(1, 2).reshape(b, -1, h, w)) + x


class ConditionalUNet(nn.Module):
    """The universal IR-SDE network. ``forward(x_t, mu, t, text_context=e_d, image_context=e_c)`` -> the
    predicted noise, (N, out_nc, H, W); ``t`` a number or a (1,) / (N,) tensor; e_d, e_c (N, context_dim)."""

    def __init__(self, in_nc: int = 3, out_nc: int = 3, nf: int = 64, ch_mult=(1, 2, 4, 8), context_dim: int = 512,
                 use_degra_context: bool = True, use_image_context: bool = True):
        super().__init__()
        ch_mult = tuple(ch_mult)
        self.depth = len(ch_mult)
        self.context_dim = -1 if context_dim is None else context_dim
        self.use_degra_context, self.use_image_context = use_degra_context, use_image_context
        time_dim = nf * 4
        cross = use_image_context and self.context_dim > 0

        self.init_conv = _conv(in_nc * 2, nf, 7)
        self.time_mlp = nn.Sequential(_TimeEmbedding(nf), nn.Linear(nf, time_dim), nn.GELU(),
                                      nn.Linear(time_dim, time_dim))
        if self.context_dim > 0 and use_degra_context:
            self.prompt = nn.Parameter(torch.rand(1, time_dim))
            self.text_mlp = nn.Sequential(nn.Linear(context_dim, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
            self.prompt_mlp = nn.Linear(time_dim, time_dim)

        def attention(dim: int, level: int) -> nn.Module:
            if cross and level >= CROSS_ATTENTION_FROM:
                inner = _SpatialTransformer(dim, dim // HEAD_CHANNELS, HEAD_CHANNELS, context_dim)
            else:
                inner = _LinearAttention(dim)
            return _Residual(_PreNorm(dim, inner))

        self.downs, self.ups = nn.ModuleList(), nn.ModuleList()
        widths = (1,) + ch_mult
        for i in range(self.depth):
            dim_in, dim_out = nf * widths[i], nf * widths[i + 1]
            last = i == self.depth - 1
            self.downs.append(nn.ModuleList([
                _ResBlock(dim_in, dim_in, time_dim), _ResBlock(dim_in, dim_in, time_dim), attention(dim_in, i),
                _conv(dim_in, dim_out) if last else nn.Conv2d(dim_in, dim_out, 4, 2, 1),
            ]))
            self.ups.insert(0, nn.ModuleList([
                _ResBlock(dim_out + dim_in, dim_out, time_dim), _ResBlock(dim_out + dim_in, dim_out, time_dim),
                attention(dim_out, i),
                _conv(dim_out, dim_in) if i == 0 else nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                                    nn.Conv2d(dim_out, dim_in, 3, 1, 1)),
            ]))
        mid = nf * widths[-1]
        self.mid_block1 = _ResBlock(mid, mid, time_dim)
        self.mid_attn = _Residual(_PreNorm(mid, _SpatialTransformer(mid, mid // HEAD_CHANNELS, HEAD_CHANNELS, context_dim)
                                           if cross else _LinearAttention(mid)))
        self.mid_block2 = _ResBlock(mid, mid, time_dim)
        self.final_res_block = _ResBlock(nf * 2, nf, time_dim)
        self.final_conv = nn.Conv2d(nf, out_nc, 3, 1, 1)

    @property
    def multiple(self) -> int:
        """The size the input is padded to a multiple of, inside the forward pass."""
        return 2 ** self.depth

    def forward(self, xt: torch.Tensor, cond: torch.Tensor, time, text_context=None, image_context=None):
        if not torch.is_tensor(time):
            time = torch.tensor([time], device=xt.device)
        h, w = xt.shape[-2:]
        m = self.multiple
        x = F.pad(torch.cat([xt - cond, cond], dim=1), (0, (-w) % m, 0, (-h) % m), mode="reflect")
        x = self.init_conv(x)
        first = x

        t = self.time_mlp(time)
        context = None
        if self.context_dim > 0:
            if self.use_degra_context and text_context is not None:
                weights = torch.softmax(self.text_mlp(text_context), dim=1) * self.prompt
                t = t + self.prompt_mlp(weights)
            if self.use_image_context and image_context is not None:
                context = image_context.unsqueeze(1)

        skips = []
        for block1, block2, attn, down in self.downs:
            x = block1(x, t)
            skips.append(x)
            x = attn(block2(x, t), context)
            skips.append(x)
            x = down(x)
        x = self.mid_block2(self.mid_attn(self.mid_block1(x, t), context), t)
        for block1, block2, attn, up in self.ups:
            x = block1(torch.cat([x, skips.pop()], dim=1), t)
            x = block2(torch.cat([x, skips.pop()], dim=1), t)
            x = up(attn(x, context))
        x = self.final_res_block(torch.cat([x, first], dim=1), t)
        return self.final_conv(x)[..., :h, :w].contiguous()
