"""Restormer-style building blocks, all channels-first (NCHW float tensors).

- :class:`LayerNorm2d`: layer normalisation over the channel axis of each pixel.
- :class:`ChannelAttention`: multi-Dconv head transposed attention (MDTA): attention between
  channels (a ``C/h x C/h`` map per head) rather than between pixels, so its cost is linear in the
  number of pixels.
- :class:`GatedFFN`: gated-Dconv feed-forward network (GDFN).
- :class:`TransformerBlock`: ``x + MDTA(LN(x))`` then ``x + GDFN(LN(x))``.
- :class:`Downsample` / :class:`Upsample`: 3x3 conv + pixel-unshuffle / pixel-shuffle (x2 / /2).

The four 1x1 convolutions of a block are :class:`~abair.model.adapters.Projection` layers of kinds
``qkv``, ``attn_out``, ``ffn_in`` and ``ffn_out``; they are where adapters attach.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import cpu_kernels
from .adapters import Projection


def channels_last_like(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``t`` in channels-last memory when ``like`` is (inference only: the backbone's CPU inference
    keeps every feature map channels-last; one NCHW operand, e.g. a prompt or a pixel-shuffled map,
    would otherwise turn every later op NCHW). A no-op with gradients enabled or on NCHW features."""
    if torch.is_grad_enabled() or like.is_contiguous() or not like.is_contiguous(memory_format=torch.channels_last):
        return t
    return t.contiguous(memory_format=torch.channels_last)


def depthwise(channels: int, bias: bool) -> nn.Conv2d:
    """A 3x3 depth-wise convolution whose weight (C, 1, 3, 3) is stored with channels-last strides.

    The bytes are those of the default layout (the size-1 axis makes the two orders the same memory);
    only the strides differ: (9, 1, 3, 1) are the strides its gradient arrives with in training, where
    every depth-wise convolution reads channels-last activations (a block's 1x1 projection of the
    :class:`LayerNorm2d` output, an NHWC view). With the default (9, 9, 3, 1), DDP's gradient buckets,
    laid out like the parameters, did not match the gradients ("Grad strides do not match bucket view
    strides"). Values, initialisation and every result are unchanged."""
    conv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=bias)
    conv.weight = nn.Parameter(conv.weight.detach().to(memory_format=torch.channels_last))
    return conv


class LayerNorm2d(nn.Module):
    """LayerNorm over channels of an NCHW tensor (each pixel normalised across its C values).

    Implementation: the fused ``F.layer_norm`` kernel applied to the NHWC *view* (``permute``, no
    explicit copy); the output is a permuted view, logically NCHW. On CPU (forward + backward, the
    tiny preset's shapes) it is as fast as a hand-written mean/variance over dim 1 and faster than
    ``var_mean`` or a permute + ``contiguous`` round trip; see docs/MODEL.md.
    """

    def __init__(self, channels: int, bias: bool = True, eps: float = 1e-5):
        super().__init__()
        self.channels, self.eps = channels, eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.permute(0, 2, 3, 1), (self.channels,), self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


class ChannelAttention(nn.Module):
    """MDTA: 1x1 qkv projection, 3x3 depth-wise conv, per-head channel attention, 1x1 output projection.

    Q and K are L2-normalised along the pixel axis; the ``C/h x C/h`` logits are scaled by a learned
    per-head temperature before the softmax.
    """

    def __init__(self, dim: int, heads: int, bias: bool = False):
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = Projection(dim, dim * 3, bias, "qkv")
        self.qkv_dw = depthwise(dim * 3, bias)
        self.proj = Projection(dim, dim, bias, "attn_out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qkv = self.qkv_dw(self.qkv(x))
        # inference on channels-last memory stays there; training keeps the original kernels
        if torch.is_grad_enabled() or qkv.is_contiguous() or not qkv.is_contiguous(memory_format=torch.channels_last):
            return self.proj(self._attend_nchw(qkv))
        return self.proj(self._attend_nhwc(qkv))

    def _attend_nchw(self, qkv: torch.Tensor) -> torch.Tensor:
        n, c3, h, w = qkv.shape
        # (N, 3C, H, W) -> three (N, heads, C/heads, H*W) views, no copy
        q, k, v = qkv.flatten(2).unflatten(1, (3, self.heads, c3 // 3 // self.heads)).unbind(1)
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = torch.softmax((q @ k.transpose(-2, -1)) * self.temperature, dim=-1)
        return (attn @ v).reshape(n, c3 // 3, h, w)

    def _attend_nhwc(self, qkv: torch.Tensor) -> torch.Tensor:
        """The same function on a channels-last ``qkv`` without leaving channels-last memory.

        The L2 normalisation of q and k is applied to the small ``C/h x C/h`` logits (divided by the
        outer product of the norms, each clamped at ``F.normalize``'s eps) instead of to the two
        full-size tensors, and ``attn @ v`` is computed as ``v^T attn^T`` on the pixels' channel rows,
        so the output is channels-last too.
        """
        n, c3, h, w = qkv.shape
        c, d = c3 // 3, c3 // 3 // self.heads
        rows = qkv.permute(0, 2, 3, 1).reshape(n, h * w, 3, self.heads, d)  # a view of NHWC memory
        q, k, v = rows.unbind(2)  # (N, HW, heads, d)
        eps = 1e-12
        # L2 norms over the pixels as sums of squares down the rows (N, heads, d): a reduction over
        # the outer axis of NHWC memory runs vectorised across channels (2.7x vector_norm on the view)
        qn = (q * q).sum(dim=1).sqrt_().clamp_min_(eps)
        kn = (k * k).sum(dim=1).sqrt_().clamp_min_(eps)
        q, k = q.permute(0, 2, 3, 1), k.permute(0, 2, 3, 1)  # (N, heads, d, HW) views
        logits = (q @ k.transpose(-2, -1)) / (qn[..., :, None] * kn[..., None, :])
        attn = torch.softmax(logits * self.temperature, dim=-1)  # (N, heads, d, d)
        maps = attn.transpose(-2, -1)  # out[p, i] = sum_j v[p, j] attn[i, j]
        if self.heads == 1:
            out = torch.bmm(v.reshape(n, h * w, c), maps[:, 0])  # (N, HW, C), contiguous
        else:
            out = (v.transpose(1, 2) @ maps).transpose(1, 2).reshape(n, h * w, c)  # one copy of (HW, C)
        return out.view(n, h, w, c).permute(0, 3, 1, 2)


class GatedFFN(nn.Module):
    """GDFN: 1x1 to ``2 * hidden``, 3x3 depth-wise, ``gelu(x1) * x2``, 1x1 back to ``dim``."""

    def __init__(self, dim: int, expansion: float, bias: bool = False):
        super().__init__()
        hidden = int(dim * expansion)
        self.proj_in = Projection(dim, hidden * 2, bias, "ffn_in")
        self.dw = depthwise(hidden * 2, bias)
        self.proj_out = Projection(hidden, dim, bias, "ffn_out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or x.device.type != "cpu":
            x1, x2 = self.dw(self.proj_in(x)).chunk(2, dim=1)
            return self.proj_out(F.gelu(x1) * x2)
        # CPU inference: each half computed as its own tensor (the 1x1 rows and the depth-wise
        # filters of that half), so nothing reads every other half-pixel of a strided slice, and the
        # GELU and the product ride on the depth-wise convolutions as oneDNN post-ops, so each
        # full-size map is written once (docs/MODEL.md, "CPU inference")
        h1, h2 = self.proj_in(x, parts=2)
        hidden = h1.shape[1]
        w, b = self.dw.weight, self.dw.bias
        w1, w2 = w[:hidden], w[hidden:]
        b1, b2 = (None, None) if b is None else (b[:hidden], b[hidden:])
        gated = cpu_kernels.conv_gelu(h1, w1, b1, groups=hidden)
        return self.proj_out(cpu_kernels.conv_mul(h2, gated, w2, b2, groups=hidden))


class TransformerBlock(nn.Module):
    """Restormer block at width ``dim``: pre-norm MDTA and GDFN, each with a residual connection.

    ``checkpointing`` (off by default; :func:`set_checkpointing`): with gradients enabled, the block
    keeps only its input for the backward pass and runs its forward again there
    (``torch.utils.checkpoint``, non-reentrant), under the adapter blend that was active in the
    forward pass. The same values and gradients; activation memory of one block at a time."""

    checkpointing = False

    def __init__(self, dim: int, heads: int, expansion: float, bias: bool = False, norm_bias: bool = True):
        super().__init__()
        self.norm1 = LayerNorm2d(dim, norm_bias)
        self.attn = ChannelAttention(dim, heads, bias)
        self.norm2 = LayerNorm2d(dim, norm_bias)
        self.ffn = GatedFFN(dim, expansion, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.checkpointing and torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint

            state = self.attn.qkv.state  # the model's shared blend, reset when its context exits
            blend = (state.names, state.weights, state.per_image_merge)
            return checkpoint(self._blended, x, blend, use_reentrant=False)
        return self._body(x)

    def _blended(self, x: torch.Tensor, blend: tuple) -> torch.Tensor:
        """``_body`` under ``blend`` (names, weights, per-image merge), the previous blend restored after."""
        state = self.attn.qkv.state
        previous = (state.names, state.weights, state.per_image_merge)
        state.names, state.weights, state.per_image_merge = blend
        try:
            return self._body(x)
        finally:
            state.names, state.weights, state.per_image_merge = previous

    def _body(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


def set_checkpointing(module: nn.Module, on: bool = True) -> int:
    """Turn activation checkpointing of every :class:`TransformerBlock` inside ``module`` on or off;
    returns how many blocks were set."""
    found = [m for m in module.modules() if isinstance(m, TransformerBlock)]
    for block in found:
        block.checkpointing = bool(on)
    return len(found)


def blocks(n: int, dim: int, heads: int, expansion: float, bias: bool, norm_bias: bool) -> nn.Sequential:
    return nn.Sequential(*(TransformerBlock(dim, heads, expansion, bias, norm_bias) for _ in range(n)))


class Downsample(nn.Module):
    """(N, C, H, W) -> (N, 2C, H/2, W/2): 3x3 conv to C/2 channels, then pixel-unshuffle by 2."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim // 2, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(self.conv(x), 2)


class Upsample(nn.Module):
    """(N, C, H, W) -> (N, C/2, 2H, 2W): 3x3 conv to 2C channels, then pixel-shuffle by 2."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim * 2, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), 2)
