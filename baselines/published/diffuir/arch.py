"""DiffUIR (Zheng et al., "Selective Hourglass Mapping for Universal Image Restoration Based on
Diffusion Model", CVPR 2024): the residual-prediction U-Net, its checkpoint and its sampler.

**Network.** The authors' ``UnetRes`` (``src/model.py`` of iSEE-Laboratory/DiffUIR) holds one
U-Net, ``unet0``. It sees the current state x_t concatenated with the degraded image (both in
[-1, 1], 6 channels) and a scalar time, and predicts the residual ``degraded - clean``:

- a 7x7 input convolution; a sinusoidal time embedding (width ``dim``) through Linear-GELU-Linear
  to ``4 dim``, which scales and shifts the first convolution of every residual block;
- residual blocks: weight-standardised 3x3 convolution, GroupNorm(8), FiLM from the time, SiLU,
  twice, with a 1x1 skip when the width changes;
- per level two residual blocks and pre-normalised linear attention (4 heads of 32), then a 4x4
  stride-2 convolution (the last level: a 3x3 one that only changes the width); a bottleneck of
  two residual blocks around softmax attention; the decoder mirrors it with nearest-neighbour
  upsampling and skip concatenations; a last residual block over (features, first features) and a
  1x1 output convolution;
- the input is reflect-padded bottom/right to a multiple of ``2 ** len(dim_mults)`` (16) inside
  the forward pass and the output cropped back (the authors' ``check_image_size``).

Module and parameter names follow the authors' so their checkpoints load with strict key matching.
Their four releases differ in ``dim`` and ``dim_mults`` only (:data:`DIFFUIR_SIZES`), read from the
tensor shapes by :func:`diffuir_config`.

**Checkpoint.** What the authors' ``Trainer.save`` writes (``model-<milestone>.pt``):
``{"step": int, "model": <ResidualDiffusion state dict>, "opt0": <Adam state>, "ema": <EMA state
dict>, "scaler": None}``. The diffusion wrapper's keys are ``model.unet0.*`` plus its schedule
buffers (``alphas``, ``delta``, ...); the EMA's (``ema_pytorch``) are ``initted``, ``step``,
``online_model.*`` and ``ema_model.*``. Their test script samples with ``trainer.ema.ema_model``,
so :func:`load_diffuir` reads ``ema_model.model.unet0.*`` by default (``weights="model"``: the
online weights ``model.model.unet0.*`` instead).

**Sampler.** :class:`ResidualSchedule` (the authors' ``ResidualDiffusion`` as their ``test.py``
configures it: 1000 training steps, linear betas 1e-4..0.02, ``delta_end`` 1.8e-3, ``sum_scale``
0.01, DDIM-style sampling with eta 0 over 3 steps, objective ``pred_res``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from abair.errors import UserError

__all__ = [
    "DIFFUIR_DEFAULTS", "DIFFUIR_SIZES", "DiffUIRNet", "ResidualUNet", "ResidualSchedule", "diffuir_config",
    "diffuir_size", "load_diffuir", "select_weights", "equalize_hist", "SCHEDULE_DEFAULTS",
]

#: the network the authors' test.py builds (dim 64, mults 1-2-4-8: the Large release)
DIFFUIR_DEFAULTS: dict[str, Any] = {"dim": 64, "dim_mults": (1, 2, 4, 8), "channels": 3, "condition": True,
                                    "resnet_block_groups": 8}
#: the released sizes (README "Model Zoo": "32-1111", "32-1224", "64-1224", "64-1248")
DIFFUIR_SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"dim": 32, "dim_mults": (1, 1, 1, 1)},
    "small": {"dim": 32, "dim_mults": (1, 2, 2, 4)},
    "base": {"dim": 64, "dim_mults": (1, 2, 2, 4)},
    "large": {"dim": 64, "dim_mults": (1, 2, 4, 8)},
}
#: the sampler as test.py configures ResidualDiffusion
SCHEDULE_DEFAULTS: dict[str, Any] = {"train_steps": 1000, "steps": 3, "beta_start": 1e-4, "beta_end": 0.02,
                                     "delta_start": 1e-6, "delta_end": 1.8e-3, "sum_scale": 0.01, "eta": 0.0,
                                     "objective": "pred_res"}

ATTN_HEADS, ATTN_DIM_HEAD = 4, 32


# ----------------------------------------------------------------------------------------- layers


def _stat_eps(x: torch.Tensor) -> float:
    return 1e-5 if x.dtype == torch.float32 else 1e-3


class _StandardizedConv(nn.Conv2d):
    """A convolution whose kernel is standardised per output channel (zero mean, unit variance) on use."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        mean = w.mean(dim=(1, 2, 3), keepdim=True)
        var = torch.var(w, dim=(1, 2, 3), unbiased=False, keepdim=True)
        w = (w - mean) * (var + _stat_eps(x)).rsqrt()
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class _ChannelNorm(nn.Module):
    """Per-pixel normalisation over the channels with a learned gain ``g`` (no bias)."""

    def __init__(self, dim: int):
        super().__init__()
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = torch.var(x, dim=1, unbiased=False, keepdim=True)
        mean = x.mean(dim=1, keepdim=True)
        return (x - mean) * (var + _stat_eps(x)).rsqrt() * self.g


class _Residual(nn.Module):
    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return x + self.fn(x)


class _PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.fn = fn
        self.norm = _ChannelNorm(dim)

    def forward(self, x):
        return self.fn(self.norm(x))


class _SinusoidalTime(nn.Module):
    """(B,) times -> (B, dim): sines then cosines of t at frequencies 10000^(-i / (dim/2 - 1))."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half, device=t.device) * -(math.log(10000) / (half - 1)))
        angles = t[:, None] * freqs[None, :]
        return torch.cat((angles.sin(), angles.cos()), dim=-1)


class _ConvNormAct(nn.Module):
    def __init__(self, c_in: int, c_out: int, groups: int):
        super().__init__()
        self.proj = _StandardizedConv(c_in, c_out, 3, padding=1)
        self.norm = nn.GroupNorm(groups, c_out)
        self.act = nn.SiLU()

    def forward(self, x, film=None):
        x = self.norm(self.proj(x))
        if film is not None:
            scale, shift = film
            x = x * (scale + 1) + shift
        return self.act(x)


class _ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, time_dim: int, groups: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, 2 * c_out))
        self.block1 = _ConvNormAct(c_in, c_out, groups)
        self.block2 = _ConvNormAct(c_out, c_out, groups)
        self.res_conv = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, t):
        film = self.mlp(t)[:, :, None, None].chunk(2, dim=1)
        return self.block2(self.block1(x, film)) + self.res_conv(x)


class _LinearAttention(nn.Module):
    """Attention linear in the pixel count: queries softmaxed over channels, keys over pixels."""

    def __init__(self, dim: int, heads: int = ATTN_HEADS, dim_head: int = ATTN_DIM_HEAD):
        super().__init__()
        self.heads, self.scale = heads, dim_head ** -0.5
        inner = heads * dim_head
        self.to_qkv = nn.Conv2d(dim, 3 * inner, 1, bias=False)
        self.to_out = nn.Sequential(nn.Conv2d(inner, dim, 1), _ChannelNorm(dim))

    def forward(self, x):
        b, _, h, w = x.shape
        q, k, v = (part.reshape(b, self.heads, -1, h * w) for part in self.to_qkv(x).chunk(3, dim=1))
        q = q.softmax(dim=-2) * self.scale
        k = k.softmax(dim=-1)
        v = v / (h * w)
        context = torch.einsum("bhdn,bhen->bhde", k, v)
        out = torch.einsum("bhde,bhdn->bhen", context, q)
        return self.to_out(out.reshape(b, -1, h, w))


class _Attention(nn.Module):
    """Softmax attention over all pixels (the bottleneck)."""

    def __init__(self, dim: int, heads: int = ATTN_HEADS, dim_head: int = ATTN_DIM_HEAD):
        super().__init__()
        self.heads, self.scale = heads, dim_head ** -0.5
        inner = heads * dim_head
        self.to_qkv = nn.Conv2d(dim, 3 * inner, 1, bias=False)
        self.to_out = nn.Conv2d(inner, dim, 1)

    def forward(self, x):
        b, _, h, w = x.shape
        q, k, v = (part.reshape(b, self.heads, -1, h * w) for part in self.to_qkv(x).chunk(3, dim=1))
        sim = torch.einsum("bhdi,bhdj->bhij", q * self.scale, k)
        out = torch.einsum("bhij,bhdj->bhid", sim.softmax(dim=-1), v)
        return self.to_out(out.permute(0, 1, 3, 2).reshape(b, -1, h, w))


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1))


# ----------------------------------------------------------------------------------------- network


class ResidualUNet(nn.Module):
    """The authors' ``Unet`` (``unet0``): (x_t, degraded) in [-1, 1], 6 channels, and a (B,) time ->
    the predicted residual, (B, 3, H, W), for any H, W of at least 2 ** len(dim_mults) / 2 + 1."""

    def __init__(self, dim: int = 64, dim_mults=(1, 2, 4, 8), channels: int = 3, condition: bool = True,
                 resnet_block_groups: int = 8):
        super().__init__()
        mults = tuple(dim_mults)
        self.depth = len(mults)
        self.channels = channels
        widths = [dim, *(dim * m for m in mults)]
        pairs = list(zip(widths[:-1], widths[1:], strict=True))
        time_dim = 4 * dim
        groups = resnet_block_groups

        self.init_conv = nn.Conv2d(channels * (2 if condition else 1), dim, 7, padding=3)
        self.time_mlp = nn.Sequential(_SinusoidalTime(dim), nn.Linear(dim, time_dim), nn.GELU(),
                                      nn.Linear(time_dim, time_dim))
        self.downs, self.ups = nn.ModuleList(), nn.ModuleList()
        for i, (c_in, c_out) in enumerate(pairs):
            last = i == len(pairs) - 1
            self.downs.append(nn.ModuleList([
                _ResBlock(c_in, c_in, time_dim, groups), _ResBlock(c_in, c_in, time_dim, groups),
                _Residual(_PreNorm(c_in, _LinearAttention(c_in))),
                nn.Conv2d(c_in, c_out, 3, padding=1) if last else nn.Conv2d(c_in, c_out, 4, 2, 1),
            ]))
        mid = widths[-1]
        self.mid_block1 = _ResBlock(mid, mid, time_dim, groups)
        self.mid_attn = _Residual(_PreNorm(mid, _Attention(mid)))
        self.mid_block2 = _ResBlock(mid, mid, time_dim, groups)
        for i, (c_in, c_out) in enumerate(reversed(pairs)):
            last = i == len(pairs) - 1
            self.ups.append(nn.ModuleList([
                _ResBlock(c_out + c_in, c_out, time_dim, groups), _ResBlock(c_out + c_in, c_out, time_dim, groups),
                _Residual(_PreNorm(c_out, _LinearAttention(c_out))),
                nn.Conv2d(c_out, c_in, 3, padding=1) if last else _up(c_out, c_in),
            ]))
        self.final_res_block = _ResBlock(2 * dim, dim, time_dim, groups)
        self.final_conv = nn.Conv2d(dim, channels, 1)

    @property
    def multiple(self) -> int:
        """The size the input is reflect-padded to a multiple of, inside the forward pass."""
        return 2 ** self.depth

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.multiple
        x = self.init_conv(F.pad(x, (0, (-w) % m, 0, (-h) % m), mode="reflect"))
        first = x
        t = self.time_mlp(time)
        skips = []
        for block1, block2, attn, down in self.downs:
            x = block1(x, t)
            skips.append(x)
            x = attn(block2(x, t))
            skips.append(x)
            x = down(x)
        x = self.mid_block2(self.mid_attn(self.mid_block1(x, t)), t)
        for block1, block2, attn, up in self.ups:
            x = block1(torch.cat((x, skips.pop()), dim=1), t)
            x = block2(torch.cat((x, skips.pop()), dim=1), t)
            x = up(attn(x))
        x = self.final_res_block(torch.cat((x, first), dim=1), t)
        return self.final_conv(x)[..., :h, :w].contiguous()


class DiffUIRNet(nn.Module):
    """The authors' ``UnetRes`` with one U-Net (``num_unet=1``, objective ``pred_res``): ``forward(x, t)``
    -> the predicted residual (the authors' returns it in a one-element list)."""

    def __init__(self, dim: int = 64, dim_mults=(1, 2, 4, 8), channels: int = 3, condition: bool = True,
                 resnet_block_groups: int = 8):
        super().__init__()
        self.channels = channels
        self.unet0 = ResidualUNet(dim, dim_mults, channels, condition, resnet_block_groups)

    @property
    def multiple(self) -> int:
        return self.unet0.multiple

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        return self.unet0(x, time)


# ----------------------------------------------------------------------------------------- sampler


class ResidualSchedule:
    """The residual diffusion of the authors' ``ResidualDiffusion`` (float32, as theirs) and its
    deterministic (eta 0) sampler over ``steps`` of the ``train_steps`` training times.

    With ``abar_t = cumprod(1 - beta)`` (betas linear 1e-4..0.02 over 1000 steps):
    ``alpha_cumsum_t = 1 - sqrt(abar_t)``, ``beta_cumsum_t = sqrt(1 - abar_t)``, and
    ``delta_cumsum_t = clip(cumsum(linspace(1e-6, delta_end)), 0, 1)``. Sampling (``ddim_sample``):

    - times: ``linspace(-1, T - 1, steps + 1)`` truncated to integers, from the last down
      (3 steps: 999 -> 665 -> 332 -> -1);
    - x = (1 - delta_cumsum_{T-1}) y + sqrt(sum_scale) z, y the degraded image in [-1, 1];
    - each step: the network sees cat(x, y) at time ``alpha_cumsum_t * T``; res = clip(out, -1, 1),
      x0 = clip(y - res, -1, 1); if the next time is -1 the result is x0, else
      ``x <- x - (alpha_cumsum_t - alpha_cumsum_next) res + (delta_cumsum_t - delta_cumsum_next) y``;
    - the output is (x + 1) / 2.
    """

    def __init__(self, steps: int = 3, delta_end: float = 1.8e-3, sum_scale: float = 0.01, train_steps: int = 1000,
                 beta_start: float = 1e-4, beta_end: float = 0.02, delta_start: float = 1e-6):
        if not 1 <= steps < train_steps:
            raise ValueError(f"steps must be 1..{train_steps - 1}, got {steps}")
        self.steps, self.train_steps = int(steps), int(train_steps)
        self.delta_end, self.sum_scale = float(delta_end), float(sum_scale)
        self.beta_start, self.beta_end, self.delta_start = beta_start, beta_end, delta_start
        betas = torch.linspace(beta_start, beta_end, train_steps, dtype=torch.float32)
        abar = torch.cumprod(1.0 - betas, dim=0)
        self.alphas_cumsum = 1 - abar ** 0.5
        self.betas_cumsum = torch.sqrt(1 - abar)
        delta = torch.linspace(delta_start, delta_end, train_steps, dtype=torch.float32)
        self.delta_cumsum = delta.cumsum(dim=0).clip(0, 1)
        times = torch.linspace(-1, train_steps - 1, steps=steps + 1).int().tolist()[::-1]
        #: (t, t_next) of each step, e.g. [(999, 665), (665, 332), (332, -1)]
        self.pairs: list[tuple[int, int]] = list(zip(times[:-1], times[1:], strict=True))

    def describe(self) -> dict[str, Any]:
        return {"kind": "residual diffusion (DiffUIR / RDDM), deterministic DDIM-style, eta 0",
                "train_steps": self.train_steps, "steps": self.steps, "times": [t for t, _ in self.pairs],
                "betas": f"linear {self.beta_start}..{self.beta_end}", "delta": f"linear {self.delta_start}..{self.delta_end}",
                "sum_scale": self.sum_scale, "initial_noise_std": math.sqrt(self.sum_scale),
                "objective": "pred_res (the network predicts degraded - clean)", "clip_denoised": True,
                "network_time": "alpha_cumsum_t * train_steps", "range": "[-1, 1] inside, (x + 1) / 2 out"}

    def to(self, device) -> ResidualSchedule:
        for name in ("alphas_cumsum", "betas_cumsum", "delta_cumsum"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def initial_state(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x_T = (1 - delta_cumsum_{T-1}) y + sqrt(sum_scale) z."""
        return (1 - self.delta_cumsum[-1]) * y + math.sqrt(self.sum_scale) * z

    def network_time(self, t: int, n: int) -> torch.Tensor:
        """The (n,) time the network is called with at training step t."""
        return self.alphas_cumsum[torch.full((n,), t, dtype=torch.long, device=self.alphas_cumsum.device)] \
            * self.train_steps

    @staticmethod
    def predictions(out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(residual, x0) from the network's output: both clipped to [-1, 1]."""
        res = torch.clamp(out, -1.0, 1.0)
        return res, torch.clamp(y - res, -1.0, 1.0)

    def step(self, x: torch.Tensor, y: torch.Tensor, res: torch.Tensor, t: int, t_next: int) -> torch.Tensor:
        alpha = self.alphas_cumsum[t] - self.alphas_cumsum[t_next]
        delta = self.delta_cumsum[t] - self.delta_cumsum[t_next]
        return x - alpha * res + delta * y

    def sample(self, net, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The restored batch in [0, 1] from the degraded batch y in [-1, 1] and the noise z (y's shape)."""
        x = self.initial_state(y, z)
        for t, t_next in self.pairs:
            out = net(torch.cat((x, y), dim=1), self.network_time(t, y.shape[0]))
            res, x0 = self.predictions(out, y)
            x = x0 if t_next < 0 else self.step(x, y, res, t, t_next)
        return (x + 1) * 0.5


# ----------------------------------------------------------------------------------------- checkpoint


_NET = "unet0."
#: where the network's keys sit in each part of the authors' file, by ``weights``
_WEIGHT_PREFIXES = {"ema": ("ema_model.model.",), "model": ("model.",)}


def diffuir_config(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor arguments of :class:`DiffUIRNet` that match ``state_dict`` (``unet0.*`` keys):
    ``dim`` from the input convolution, ``dim_mults`` from each level's last convolution, the input
    channels (6: conditioned) and output channels. GroupNorm's group count leaves no trace (8 assumed)."""
    cfg = dict(DIFFUIR_DEFAULTS)
    first = state_dict.get(_NET + "init_conv.weight")
    if first is None or first.ndim != 4:
        return cfg
    dim, c_in = int(first.shape[0]), int(first.shape[1])
    from baselines.archs.loading import seq_len

    levels = seq_len(state_dict, _NET + "downs")
    mults = []
    for i in range(levels):
        t = state_dict.get(f"{_NET}downs.{i}.3.weight")
        if t is None or t.ndim != 4 or t.shape[0] % dim:
            return {**cfg, "dim": dim}
        mults.append(int(t.shape[0]) // dim)
    out = state_dict.get(_NET + "final_conv.weight")
    channels = int(out.shape[0]) if out is not None and out.ndim == 4 else cfg["channels"]
    cfg.update(dim=dim, dim_mults=tuple(mults) or cfg["dim_mults"], channels=channels, condition=c_in == 2 * channels)
    return cfg


def diffuir_size(cfg: Mapping[str, Any]) -> str | None:
    """The released size (``tiny`` .. ``large``) a configuration is, or None."""
    for name, size in DIFFUIR_SIZES.items():
        if cfg["dim"] == size["dim"] and tuple(cfg["dim_mults"]) == size["dim_mults"]:
            return name
    return None


def _tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def select_weights(obj: Any, path: str | Path, weights: str = "ema") -> tuple[dict[str, Any], str]:
    """``(unet0.* state dict, where it came from)`` in a loaded checkpoint.

    The authors' trainer file: ``obj["ema"]`` (keys ``ema_model.model.unet0.*``) for ``weights="ema"``,
    ``obj["model"]`` (``model.unet0.*``) for ``weights="model"``. Also accepted: a bare state dict of
    the network (``unet0.*``, possibly under ``module.``), or of the diffusion wrapper / EMA.
    """
    from baselines.archs.loading import find_state_dict, strip_common_prefix

    if isinstance(obj, Mapping) and ("ema" in obj or "model" in obj) and not _tensor_dict(obj):
        key = "ema" if weights == "ema" else "model"
        if not _tensor_dict(obj.get(key)):
            other = "model" if key == "ema" else "ema"
            hint = f" (it has '{other}': pass weights={other})" if _tensor_dict(obj.get(other)) else ""
            raise UserError(f"checkpoint {path} has no '{key}' state dict{hint}")
        state, source = dict(obj[key]), f"'{key}'"
    else:
        state, source = find_state_dict(obj, path), "the file's state dict"
    for prefix in _WEIGHT_PREFIXES[weights] + ("ema_model.model.", "model.", ""):
        sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix + _NET)}
        if sub:
            return sub, f"{source}, keys {prefix}{_NET}*"
    return strip_common_prefix(state, ("module.", "net.")), source


def load_diffuir(path: str | Path, weights: str = "ema") -> tuple[DiffUIRNet, dict[str, Any], dict[str, Any]]:
    """``(network in eval mode, constructor config, facts about the file)`` from a checkpoint of the
    authors' trainer. The facts: which weights were read, the training step and the ``delta_end`` the
    file's schedule buffer holds (None when absent)."""
    from baselines.archs.loading import build_checked, read_checkpoint

    if weights not in _WEIGHT_PREFIXES:
        raise UserError(f"diffuir.weights must be one of {', '.join(_WEIGHT_PREFIXES)}, got {weights!r}")
    obj = read_checkpoint(path)
    state, source = select_weights(obj, path, weights)
    model, cfg = build_checked(DiffUIRNet, diffuir_config(state), DIFFUIR_DEFAULTS, state, "DiffUIR", path)
    facts: dict[str, Any] = {"weights": source}
    if isinstance(obj, Mapping):
        step = obj.get("step")
        facts["step"] = int(step) if isinstance(step, int | torch.Tensor) and not isinstance(step, bool) else None
        wrapper = obj.get("ema" if weights == "ema" else "model")
        delta = wrapper.get("ema_model.delta" if weights == "ema" else "delta") if isinstance(wrapper, Mapping) else None
        facts["delta_end"] = float(delta[-1]) if isinstance(delta, torch.Tensor) and delta.ndim == 1 else None
    return model.eval(), cfg, facts


# ----------------------------------------------------------------------------------------- input


def equalize_hist(batch: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of each channel of each image, as OpenCV's ``equalizeHist`` on 8-bit
    images (the authors' loader applies it to the low-light inputs). ``batch``: float (N, C, H, W) in
    [0, 1] holding 8-bit levels; returns the same, equalised.

    Per channel: the histogram h of the levels, i the lowest level present; a constant channel stays
    as it is; otherwise level j maps to round-half-even(float32(sum_{i<k<=j} h_k) * float32(255 /
    (count - h_i))), level i to 0.
    """
    import numpy as np

    levels = torch.round(batch.detach().float().clamp(0, 1) * 255).to(torch.uint8).cpu().numpy()
    out = np.empty_like(levels)
    for n in range(levels.shape[0]):
        for c in range(levels.shape[1]):
            plane = levels[n, c]
            hist = np.bincount(plane.ravel(), minlength=256)
            low = int(np.flatnonzero(hist)[0])
            total = plane.size
            if hist[low] == total:
                out[n, c] = plane
                continue
            scale = np.float32(255.0) / np.float32(total - hist[low])
            cums = np.cumsum(hist).astype(np.int64) - hist[: low + 1].sum()
            lut = np.rint(cums.astype(np.float32) * scale)
            lut[: low + 1] = 0
            out[n, c] = np.clip(lut, 0, 255).astype(np.uint8)[plane]
    return torch.from_numpy(out).to(device=batch.device, dtype=batch.dtype) / 255
