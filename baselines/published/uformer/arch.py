"""Uformer (Wang et al., CVPR 2022), re-implemented so the authors' released checkpoints load strictly.

Uformer is a 4-level U-net of *LeWin* transformer blocks working on tokens (one per pixel):

- a block is ``x + W-MSA(LN(x))`` then ``+ LeFF(LN(.))``. W-MSA is multi-head self-attention inside
  non-overlapping ``win x win`` windows, with a learned relative-position bias per head; every second
  block of a level cyclically shifts the map by ``win // 2`` first (Swin-style, with the -100 mask
  between regions that the shift brought together). LeFF is linear -> GELU -> 3x3 depth-wise conv
  -> GELU -> linear;
- decoder blocks add a learned *modulator* (one ``win*win x dim`` tensor) to the window tokens before
  attention (queries, keys and values alike);
- a 3x3 conv + LeakyReLU embeds the image, 4x4 stride-2 convs halve the map (doubling the width),
  2x2 stride-2 transposed convs double it; the decoder concatenates the skip (width doubles), and a
  3x3 conv maps ``2 * embed_dim`` channels to the residual added to the input.

Where a level's map is no larger than the window *at the size the network was built for*
(``img_size``, 128 in the authors' test scripts), that level uses no shift and a window of the
map's size: with ``img_size=128`` and ``win=8`` this is the bottleneck (128/16 = 8). This is fixed
at construction, as in the authors' code, whatever the size of the image later restored.

Attribute names follow the released files (``encoderlayer_0.blocks.0.attn.qkv.to_q.weight``,
``dowsample_0.conv.0.weight`` (sic), ``conv.blocks.1.mlp.dwconv.0.weight``, ``upsample_3.deconv.0.weight``,
``decoderlayer_2.blocks.0.modulator.weight``, ...), including the persistent
``relative_position_index`` buffers.

Tensors: float NCHW in [0, 1] in and out (not clipped). H and W must be multiples of
``16 * win`` (128). The authors' test scripts make any image so by zero-padding it, centred, to a
square whose side is the next multiple of 128 (``expand2square``); :func:`expand_to_square` does the
same and :func:`crop_from_square` undoes it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Uformer", "UFORMER_DEFAULTS", "UFORMER_SIZES", "uformer_size", "expand_to_square", "crop_from_square",
]

#: Uformer-B, the configuration of both released checkpoints (SIDD denoising, GoPro deblurring),
#: built as the authors' test scripts build it (``img_size=128``).
UFORMER_DEFAULTS: dict = {
    "embed_dim": 32, "depths": (1, 2, 8, 8, 2, 8, 8, 2, 1), "num_heads": (1, 2, 4, 8, 16, 16, 8, 4, 2),
    "win_size": 8, "mlp_ratio": 4.0, "img_size": 128, "modulator": True, "dd_in": 3,
}

#: the named sizes of the paper (``get_arch`` in the authors' ``utils/model_utils.py``)
UFORMER_SIZES: dict[str, dict] = {
    "Uformer-T": {"embed_dim": 16, "depths": (2,) * 9},
    "Uformer-S": {"embed_dim": 32, "depths": (2,) * 9},
    "Uformer-B": {"embed_dim": 32, "depths": (1, 2, 8, 8, 2, 8, 8, 2, 1)},
}

_LEVELS = 9  # encoder 0..3, bottleneck, decoder 0..3


def uformer_size(cfg: dict) -> str | None:
    """``"Uformer-B"`` (or ``-S``, ``-T``) when ``cfg`` has that size's width and depths, else None."""
    for name, size in UFORMER_SIZES.items():
        if cfg.get("embed_dim") == size["embed_dim"] and tuple(cfg.get("depths", ())) == size["depths"]:
            return name
    return None


def expand_to_square(x: torch.Tensor, factor: int = 128) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad (N, C, h, w) to (N, C, X, X), X = the next multiple of ``factor`` >= max(h, w), with the
    image centred (top/left offset ``(X - h) // 2``, ``(X - w) // 2``); returns the padded batch and
    the offsets (the authors' ``expand2square``)."""
    h, w = x.shape[-2:]
    side = int(math.ceil(max(h, w) / factor) * factor)
    top, left = (side - h) // 2, (side - w) // 2
    return F.pad(x, (left, side - w - left, top, side - h - top)), (top, left)


def crop_from_square(y: torch.Tensor, offsets: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """The (h, w) image at ``offsets`` in a batch produced from :func:`expand_to_square`'s output."""
    top, left = offsets
    return y[..., top:top + size[0], left:left + size[1]]


def _relative_position_index(win: int) -> torch.Tensor:
    """(win^2, win^2) index into the (2*win-1)^2 bias table for every (query, key) pair of a window."""
    rows, cols = torch.meshgrid(torch.arange(win), torch.arange(win), indexing="ij")
    coords = torch.stack((rows.flatten(), cols.flatten()))  # 2, N
    rel = coords[:, :, None] - coords[:, None, :] + (win - 1)  # 2, N, N in [0, 2 win - 2]
    return rel[0] * (2 * win - 1) + rel[1]


def _to_windows(x: torch.Tensor, win: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * H/win * W/win, win*win, C), windows in row-major order per image."""
    b, h, w, c = x.shape
    x = x.view(b, h // win, win, w // win, win, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, win * win, c)


def _from_windows(windows: torch.Tensor, win: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`_to_windows`: -> (B, H, W, C)."""
    c = windows.shape[-1]
    x = windows.view(-1, h // win, w // win, win, win, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def _shift_mask(h: int, w: int, win: int, shift: int, device) -> torch.Tensor:
    """(nW, N, N) additive mask: -100 between tokens of a shifted window that came from different regions."""
    label = torch.zeros(1, h, w, 1, device=device)
    bands = (slice(0, -win), slice(-win, -shift), slice(-shift, None))
    region = 0
    for hs in bands:
        for ws in bands:
            label[:, hs, ws, :] = region
            region += 1
    ids = _to_windows(label, win).squeeze(-1)  # nW, N
    diff = ids[:, None, :] - ids[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class _QKV(nn.Module):
    """Linear projections: ``to_q`` (dim -> dim) and ``to_kv`` (dim -> 2 dim), both with bias."""

    def __init__(self, dim: int):
        super().__init__()
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)


class WindowAttention(nn.Module):
    """Multi-head attention inside each window, plus the relative-position bias of its head."""

    def __init__(self, dim: int, win: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * win - 1) ** 2, heads))
        self.register_buffer("relative_position_index", _relative_position_index(win))
        self.qkv = _QKV(dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        n_win, n, c = x.shape
        heads = self.heads
        q = self.qkv.to_q(x).reshape(n_win, n, heads, c // heads).transpose(1, 2)
        k, v = self.qkv.to_kv(x).reshape(n_win, n, 2, heads, c // heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        attn = attn + bias.view(n, n, heads).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            groups = mask.shape[0]
            attn = (attn.view(n_win // groups, groups, heads, n, n) + mask[None, :, None]).view(n_win, heads, n, n)
        out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(n_win, n, c)
        return self.proj(out)


class LeFF(nn.Module):
    """Locally-enhanced feed-forward: linear -> GELU -> 3x3 depth-wise conv -> GELU -> linear."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.linear1 = nn.Sequential(nn.Linear(dim, hidden), nn.GELU())
        self.dwconv = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden), nn.GELU())
        self.linear2 = nn.Sequential(nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b = x.shape[0]
        x = self.linear1(x)
        x = self.dwconv(x.transpose(1, 2).reshape(b, -1, h, w))
        return self.linear2(x.flatten(2).transpose(1, 2))


class LeWinBlock(nn.Module):
    """``x + W-MSA(LN(x))`` (windows shifted by ``shift`` when > 0, modulator added when given), then ``+ LeFF(LN(.))``."""

    def __init__(self, dim: int, heads: int, win: int, shift: int, mlp_ratio: float, modulator_win: int | None):
        super().__init__()
        self.win, self.shift = win, shift
        if modulator_win is not None:
            self.modulator = nn.Embedding(modulator_win * modulator_win, dim)
        else:
            self.modulator = None
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, win, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = LeFF(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, _, c = x.shape
        win, shift = self.win, self.shift
        y = self.norm1(x).view(b, h, w, c)
        mask = None
        if shift:
            y = torch.roll(y, shifts=(-shift, -shift), dims=(1, 2))
            mask = _shift_mask(h, w, win, shift, x.device).to(x.dtype)
        windows = _to_windows(y, win)
        if self.modulator is not None:
            windows = windows + self.modulator.weight
        y = _from_windows(self.attn(windows, mask), win, h, w)
        if shift:
            y = torch.roll(y, shifts=(shift, shift), dims=(1, 2))
        x = x + y.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x), h, w)


class UformerLayer(nn.Module):
    """``depth`` LeWin blocks of one level (``blocks.{i}``); blocks 1, 3, ... shifted when ``shifted``."""

    def __init__(self, dim: int, depth: int, heads: int, win: int, shifted: bool, mlp_ratio: float,
                 modulator_win: int | None):
        super().__init__()
        self.blocks = nn.ModuleList(
            LeWinBlock(dim, heads, win, win // 2 if shifted and i % 2 else 0, mlp_ratio, modulator_win)
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, h, w)
        return x


class _Down(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1))

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, _, c = x.shape
        return self.conv(x.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2)


class _Up(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.deconv = nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 2, stride=2))

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, _, c = x.shape
        return self.deconv(x.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2)


class _Proj(nn.Module):
    """3x3 conv (``proj.0``), optionally followed by LeakyReLU (the input projection)."""

    def __init__(self, c_in: int, c_out: int, act: bool):
        super().__init__()
        layers = [nn.Conv2d(c_in, c_out, 3, padding=1)] + ([nn.LeakyReLU()] if act else [])
        self.proj = nn.Sequential(*layers)


class Uformer(nn.Module):
    """The Uformer network; defaults are Uformer-B as the authors test it (:data:`UFORMER_DEFAULTS`).

    ``forward(x)``: float (N, dd_in, H, W), H and W multiples of ``16 * win_size`` -> (N, 3, H, W),
    a predicted residual added to the input when ``dd_in == 3``.
    """

    def __init__(
        self,
        embed_dim: int = 32,
        depths: Sequence[int] = (1, 2, 8, 8, 2, 8, 8, 2, 1),
        num_heads: Sequence[int] = (1, 2, 4, 8, 16, 16, 8, 4, 2),
        win_size: int = 8,
        mlp_ratio: float = 4.0,
        img_size: int = 128,
        modulator: bool = True,
        dd_in: int = 3,
    ):
        super().__init__()
        if len(depths) != _LEVELS or len(num_heads) != _LEVELS:
            raise ValueError(f"depths and num_heads need {_LEVELS} entries (4 encoder levels, bottleneck, 4 decoder levels)")
        self.win_size, self.dd_in = win_size, dd_in
        scales = (0, 1, 2, 3, 4, 3, 2, 1, 0)
        widths = [embed_dim * 2**s for s in scales[:5]] + [2 * embed_dim * 2**s for s in scales[5:]]

        def layer(i: int) -> UformerLayer:
            resolution = img_size // 2 ** scales[i]
            small = resolution <= win_size
            win = resolution if small else win_size
            mod = win_size if modulator and i > 4 else None
            return UformerLayer(widths[i], depths[i], num_heads[i], win, not small, mlp_ratio, mod)

        self.input_proj = _Proj(dd_in, embed_dim, act=True)
        self.output_proj = _Proj(2 * embed_dim, 3, act=False)
        for i in range(4):
            setattr(self, f"encoderlayer_{i}", layer(i))
            setattr(self, f"dowsample_{i}", _Down(widths[i], 2 * widths[i]))
        self.conv = layer(4)
        for i in range(4):
            c_in = widths[4] if i == 0 else widths[4 + i]
            setattr(self, f"upsample_{i}", _Up(c_in, widths[4] // 2 ** (i + 1)))
            setattr(self, f"decoderlayer_{i}", layer(5 + i))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        x = self.input_proj.proj(image).flatten(2).transpose(1, 2)
        skips = []
        for i in range(4):
            x = getattr(self, f"encoderlayer_{i}")(x, h, w)
            skips.append((x, h, w))
            x = getattr(self, f"dowsample_{i}")(x, h, w)
            h, w = h // 2, w // 2
        x = self.conv(x, h, w)
        for i in range(4):
            x = getattr(self, f"upsample_{i}")(x, h, w)
            skip, h, w = skips[3 - i]
            x = getattr(self, f"decoderlayer_{i}")(torch.cat([x, skip], -1), h, w)
        b, _, c = x.shape
        out = self.output_proj.proj(x.transpose(1, 2).reshape(b, c, h, w))
        return image + out if self.dd_in == 3 else out
