"""Low-rank adapters (LoRA, VeRA, Conv-LoRA) hosted by the backbone's 1x1 projections.

Every 1x1 convolution of the backbone that may carry adapters is a :class:`Projection`. A
projection owns its frozen-able base weight ``(out, in, 1, 1)`` and a ``ModuleDict`` of named
adapters; adding or removing an adapter never touches the base weight nor the other adapters.

Adapter types (Table 7 of the paper), for a projection ``W`` of shape ``out x in``:

- ``lora``: ``dW = (alpha / r) * B @ A`` with trainable ``A (r x in)`` (Kaiming-uniform init) and
  ``B (out x r)`` (zero init, so a fresh adapter leaves the output unchanged).
  Trainable parameters: ``r * (in + out)``.
- ``vera``: ``dW = diag(b) @ B @ diag(d) @ A`` with ``A (r x in)`` and ``B (out x r)`` frozen random
  (Kaiming-uniform, regenerated from ``seed`` and the layer's path, stored as buffers so a round
  trip is exact) and trainable vectors ``d (r)`` (init 0.1) and ``b (out)`` (init 0).
  Trainable parameters: ``r + out``.
- ``conv-lora``: LoRA whose ``r``-channel bottleneck goes through a soft-gated mixture of small
  3x3 convolution experts, each working at its own scale (``scales``, default 1 and 2: the
  bottleneck is average-pooled by the scale, convolved, and upsampled back). A router (linear on the
  globally pooled bottleneck) gives the gate. Because the bottleneck is spatial, a Conv-LoRA
  adapter cannot be merged into a 1x1 weight; it always runs unmerged. Trainable parameters:
  ``r * (in + out) + E * (9 r^2 + r) + (r * E + E)``.

Blending: a shared :class:`BlendState` holds the active adapter names and per-image weights
``(N, K)``. Linear adapters (LoRA, VeRA) are evaluated for the whole batch with *one* pair of 1x1
convolutions: the down factors of all K adapters are stacked (``sum r_k x in``), the bottleneck is
scaled per image by its weights, and the stacked up factors (``out x sum r_k``) bring it back.
This is exactly ``sum_k w[n, k] * dW_k x`` for every image ``n`` without merging anything.

Merging: :meth:`Projection.merge` computes ``W + sum_k c_k dW_k`` into a separate cached tensor used
by ``forward``; the base parameter itself is never modified, so :meth:`Projection.unmerge` is exact
by construction (it drops the cache).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from . import cpu_kernels

ADAPTER_TYPES = ("lora", "vera", "conv-lora")

# which projections of the backbone exist; see backbone.py and docs/MODEL.md
PROJECTION_KINDS = ("qkv", "attn_out", "ffn_in", "ffn_out", "fuse")
DEFAULT_TARGETS = ("qkv", "attn_out", "ffn_in", "ffn_out")


@dataclass(frozen=True)
class AdapterSpec:
    """What an adapter is, independently of the layers it lives in (stored in checkpoints).

    ``alpha``: LoRA/Conv-LoRA scaling numerator (scale = alpha / rank); ``None`` means alpha = rank.
    ``targets``: the projection kinds that receive this adapter (see :data:`PROJECTION_KINDS`).
    ``seed``: VeRA's seed for the frozen random factors. ``scales``: Conv-LoRA expert scales.
    """

    name: str
    type: str = "lora"
    rank: int = 4
    alpha: float | None = None
    targets: tuple[str, ...] = DEFAULT_TARGETS
    seed: int = 0
    scales: tuple[int, ...] = (1, 2)

    def __post_init__(self):
        if self.type not in ADAPTER_TYPES:
            raise ValueError(f"unknown adapter type '{self.type}'; valid: {', '.join(ADAPTER_TYPES)}")
        if int(self.rank) < 1:
            raise ValueError(f"adapter rank must be >= 1, got {self.rank}")
        bad = [t for t in self.targets if t not in PROJECTION_KINDS]
        if bad:
            raise ValueError(f"unknown adapter target(s) {bad}; valid: {', '.join(PROJECTION_KINDS)}")
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"adapter names must be non-empty letters/digits/-/_, got '{self.name}'")

    @property
    def scale(self) -> float:
        return (self.rank if self.alpha is None else float(self.alpha)) / self.rank

    @property
    def mergeable(self) -> bool:
        return self.type in ("lora", "vera")

    def to_json(self) -> dict:
        d = asdict(self)
        d["targets"] = list(self.targets)
        d["scales"] = list(self.scales)
        return d

    @classmethod
    def from_json(cls, d: dict) -> AdapterSpec:
        d = dict(d)
        d["targets"] = tuple(d.get("targets", DEFAULT_TARGETS))
        d["scales"] = tuple(d.get("scales", (1, 2)))
        return cls(**d)


@dataclass
class BlendState:
    """Which adapters are active and with which per-image weights; shared by all projections.

    ``names``: adapter names (length K). ``weights``: float tensor (N, K) or None (no adapter active).
    ``per_image_merge``: fold the blend into one 1x1 weight per image (``W + sum_k w_nk dW_k``, an
    (N, out, in) stack) and apply it with one batched matrix product, instead of adding the low-rank
    branches to the base convolution; linear adapters only (others stay unmerged).
    """

    names: tuple[str, ...] = ()
    weights: torch.Tensor | None = None
    per_image_merge: bool = False
    merged: dict[str, float] = field(default_factory=dict)


def _seed_for(seed: int, path: str, rank: int) -> int:
    digest = hashlib.sha256(f"vera|{seed}|{path}|{rank}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _kaiming_uniform(shape: tuple[int, int], fan_in: int, generator: torch.Generator | None) -> torch.Tensor:
    bound = 1.0 / math.sqrt(fan_in)  # kaiming_uniform with a=sqrt(5), as nn.Linear does
    return (torch.rand(shape, generator=generator, device="cpu") * 2.0 - 1.0) * bound


def pointwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """A 1x1 convolution of NCHW ``x`` with ``weight`` (out, in, 1, 1) or (out, in).

    ``F.conv2d``, except for CPU inference (gradients disabled, float32, oneDNN available), where
    it calls oneDNN's convolution directly: PyTorch sends a 1x1 kernel at batch < 16 with one thread
    to its im2col + BLAS path, 5x slower on channels-last inputs here (docs/MODEL.md, "CPU
    inference"). Where PyTorch itself picks oneDNN the two are the same kernel, bit for bit; training
    never takes this branch, so recipes reproduce their weights exactly.
    """
    return cpu_kernels.conv(x, weight if weight.ndim == 4 else weight[:, :, None, None], bias)


class LoRA(nn.Module):
    """``dW = scale * B @ A``; ``A`` (rank, in), ``B`` (out, rank)."""

    linear = True

    def __init__(self, spec: AdapterSpec, in_ch: int, out_ch: int, path: str = "", device=None):
        super().__init__()
        self.scale = spec.scale
        self.A = nn.Parameter(torch.empty(spec.rank, in_ch, device=device))
        self.B = nn.Parameter(torch.zeros(out_ch, spec.rank, device=device))
        if self.A.device.type != "meta":
            with torch.no_grad():
                self.A.copy_(_kaiming_uniform((spec.rank, in_ch), in_ch, None))

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(down (r, in), up (out, r)) with ``up @ down == dW``."""
        return self.A, self.B * self.scale


class VeRA(nn.Module):
    """``dW = diag(b) @ B @ diag(d) @ A`` with frozen random ``A``, ``B`` (buffers) and trainable ``d``, ``b``."""

    linear = True

    def __init__(self, spec: AdapterSpec, in_ch: int, out_ch: int, path: str = "", device=None):
        super().__init__()
        r = spec.rank
        self.register_buffer("A", torch.empty(r, in_ch, device=device))
        self.register_buffer("B", torch.empty(out_ch, r, device=device))
        self.d = nn.Parameter(torch.full((r,), 0.1, device=device))
        self.b = nn.Parameter(torch.zeros(out_ch, device=device))
        if self.A.device.type != "meta":
            g = torch.Generator().manual_seed(_seed_for(spec.seed, path, r))
            self.A.copy_(_kaiming_uniform((r, in_ch), in_ch, g))
            self.B.copy_(_kaiming_uniform((out_ch, r), r, g))

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.A, self.b[:, None] * self.B * self.d[None, :]


class ConvLoRA(nn.Module):
    """LoRA with a soft-gated mixture of multi-scale 3x3 conv experts in its bottleneck (not mergeable)."""

    linear = False

    def __init__(self, spec: AdapterSpec, in_ch: int, out_ch: int, path: str = "", device=None):
        super().__init__()
        r = spec.rank
        self.scale = spec.scale
        self.scales = tuple(int(s) for s in spec.scales)
        self.A = nn.Parameter(torch.empty(r, in_ch, device=device))
        self.B = nn.Parameter(torch.zeros(out_ch, r, device=device))
        self.experts = nn.ModuleList(
            nn.Conv2d(r, r, 3, padding=1, padding_mode="zeros", device=device) for _ in self.scales
        )
        self.router = nn.Linear(r, len(self.scales), device=device)
        if self.A.device.type != "meta":
            with torch.no_grad():
                self.A.copy_(_kaiming_uniform((r, in_ch), in_ch, None))

    def delta(self, x: torch.Tensor) -> torch.Tensor:
        """The adapter's additive output for input x (N, in, H, W) -> (N, out, H, W)."""
        return self.expand(self.bottleneck(x))

    def bottleneck(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, in, H, W) -> the gated expert mixture in the rank-r bottleneck (N, r, H, W)."""
        z = pointwise(x, self.A)
        gate = torch.softmax(self.router(z.mean(dim=(2, 3))), dim=1)  # (N, E)
        if not torch.is_grad_enabled() and z.shape[0] == 1:
            return self._mix_one(z, gate[0].tolist())
        mixed = z
        for e, (s, conv) in enumerate(zip(self.scales, self.experts, strict=True)):
            if s > 1:
                small = conv(F.avg_pool2d(z, s, ceil_mode=True))
                y = F.interpolate(small, size=z.shape[-2:], mode="nearest")
            else:
                y = conv(z)
            mixed = mixed + gate[:, e, None, None, None] * F.gelu(y)
        return mixed

    def _mix_one(self, z: torch.Tensor, gate: list[float]) -> torch.Tensor:
        """Inference on one image: the same mixture with the GELU of a pooled expert taken before the
        nearest upsampling (they commute: s^2 times fewer GELUs) and fused into its convolution
        (:func:`~abair.model.cpu_kernels.conv_gelu`), each gated term accumulated in place, the first
        full-resolution one written over its activation (no copy of z). Bit-identical to the plain
        sequence of ops: each element gets the same operations in the same order."""
        mixed = None
        for g, s, conv in zip(gate, self.scales, self.experts, strict=True):
            src = F.avg_pool2d(z, s, ceil_mode=True) if s > 1 else z
            act = cpu_kernels.conv_gelu(src, conv.weight, conv.bias)
            if mixed is None and s == 1:
                mixed = torch.add(z, act, alpha=g, out=act)  # z + g act, written over act: no copy of z
                continue
            if mixed is None:
                mixed = z.clone()
            if s > 1:
                act = F.interpolate(act, size=z.shape[-2:], mode="nearest")
            mixed.add_(act, alpha=g)
        return mixed if mixed is not None else z.clone()

    def expand(self, mixed: torch.Tensor, rows: slice = slice(None), weight: float = 1.0) -> torch.Tensor:
        """The bottleneck (N, r, H, W) back to the output channels ``rows`` of (N, out, H, W), times ``weight``."""
        return pointwise(mixed, (self.B * (self.scale * weight))[rows])

    def expand_into(self, out: torch.Tensor, mixed: torch.Tensor, rows: slice = slice(None),
                    weight: float = 1.0) -> torch.Tensor:
        """``out += expand(mixed, rows, weight)`` in place (one fused oneDNN call at CPU inference)."""
        return cpu_kernels.conv_add_(out, mixed, (self.B * (self.scale * weight))[rows][:, :, None, None])


ADAPTER_CLASSES: dict[str, type[nn.Module]] = {"lora": LoRA, "vera": VeRA, "conv-lora": ConvLoRA}


class Projection(nn.Module):
    """A 1x1 convolution (channels-first, NCHW) that can host named adapters.

    ``weight``: (out, in, 1, 1); ``bias``: (out,) or None. ``kind`` is one of
    :data:`PROJECTION_KINDS` and decides which adapters it receives (``AdapterSpec.targets``).
    """

    def __init__(self, in_ch: int, out_ch: int, bias: bool, kind: str):
        super().__init__()
        if kind not in PROJECTION_KINDS:
            raise ValueError(f"unknown projection kind '{kind}'")
        self.in_ch, self.out_ch, self.kind = in_ch, out_ch, kind
        conv = nn.Conv2d(in_ch, out_ch, 1, bias=bias)  # borrow PyTorch's default initialisation
        self.weight = conv.weight
        self.bias = conv.bias
        self.adapters = nn.ModuleDict()
        self.state = BlendState()  # replaced by the model's shared state
        self._merged_weight: torch.Tensor | None = None
        self._merge_cache: tuple | None = None  # (key, merged weight) of the last single-adapter merge

    def extra_repr(self) -> str:
        return f"{self.in_ch}, {self.out_ch}, kind={self.kind}, bias={self.bias is not None}"

    # -- adapters -------------------------------------------------------------------------------
    def add_adapter(self, spec: AdapterSpec, path: str) -> None:
        if self.kind not in spec.targets:
            return
        if spec.name in self.adapters:
            raise ValueError(f"adapter '{spec.name}' already exists in {path}")
        cls = ADAPTER_CLASSES[spec.type]
        self.adapters[spec.name] = cls(spec, self.in_ch, self.out_ch, path=path, device=self.weight.device)
        self._merge_cache = None

    def remove_adapter(self, name: str) -> None:
        if name in self.adapters:
            del self.adapters[name]
        self._merge_cache = None

    # -- merging --------------------------------------------------------------------------------
    @torch.no_grad()
    def merge(self, coefficients: dict[str, float]) -> None:
        """Cache ``W + sum_k c_k dW_k`` (linear adapters only) and use it in :meth:`forward`.

        One matrix product per projection whatever the number of adapters: the factors are stacked,
        ``[c_1 up_1 | ... | c_K up_K] @ [down_1; ...; down_K]`` (a handful of kernel launches, which
        matters when SW merges per image on a GPU). Zero coefficients are skipped.

        OH and the oracle merge the same adapter image after image, so the last single-adapter merge
        is kept and reused while every tensor it was made from is unchanged (storage, version counter,
        dtype and device: any in-place update, ``load_state_dict`` or move invalidates it); the values
        are those of a fresh merge, bit for bit.
        """
        names, coeffs = [], []
        for name, c in coefficients.items():
            if name not in self.adapters:
                continue
            if not self.adapters[name].linear:
                raise ValueError(f"adapter '{name}' ({type(self.adapters[name]).__name__}) cannot be merged")
            if c != 0:
                names.append(name)
                coeffs.append(c)
        if not names:
            self._merged_weight = self.weight.detach().clone()
            return
        key = None
        stamp = self._stamp(names[0]) if len(names) == 1 else None
        if stamp is not None:
            key = (names[0], float(coeffs[0]), stamp)
            if self._merge_cache is not None and self._merge_cache[0] == key:
                self._merged_weight = self._merge_cache[1]
                return
        factors = [self.adapters[name].factors() for name in names]
        base = self.weight[:, :, 0, 0]
        down = torch.cat([d for d, _ in factors], 0) if len(names) > 1 else factors[0][0]
        ups = [u * c for (_, u), c in zip(factors, coeffs, strict=True)]
        up = torch.cat(ups, 1) if len(names) > 1 else ups[0]
        self._merged_weight = torch.addmm(base, up.to(base.dtype), down.to(base.dtype))[:, :, None, None]
        if key is not None:
            self._merge_cache = (key, self._merged_weight)

    def _stamp(self, name: str) -> tuple | None:
        """Identity and version of every tensor a merge of adapter ``name`` reads; None when one is an
        inference tensor (made under ``torch.inference_mode``: it has no version counter, so an in-place
        change could not be seen, and the merge is not kept)."""
        adapter = self.adapters[name]  # linear adapters hold their tensors directly (no submodules)
        tensors = (self.weight, *adapter._parameters.values(), *adapter._buffers.values())
        if any(t.is_inference() for t in tensors):
            return None
        return tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)

    def unmerge(self) -> None:
        self._merged_weight = None

    @property
    def merged(self) -> bool:
        return self._merged_weight is not None

    # -- forward --------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, parts: int = 1):
        """x: (N, in, H, W) -> (N, out, H, W): the base 1x1 convolution plus the active blend.

        ``parts`` > 1: the output channels in that many equal consecutive groups, each computed as
        its own tensor (a tuple; GDFN's two halves at inference, so neither is a strided slice of the
        other). The same values as slicing the whole output; shared work (an adapter's bottleneck)
        is done once.
        """
        weight = self.weight if self._merged_weight is None else self._merged_weight
        step = self.out_ch // parts
        rows = [slice(i * step, (i + 1) * step) for i in range(parts)] if parts > 1 else [slice(None)]
        bias = [None if self.bias is None else self.bias[r] for r in rows]
        st = self.state
        if st.weights is None or not self.adapters:
            return _one_or_all([pointwise(x, weight[r], b) for r, b in zip(rows, bias, strict=True)])
        downs, ups, reps, cols, others = [], [], [], [], []
        for k, name in enumerate(st.names):
            adapter = self.adapters[name] if name in self.adapters else None
            if adapter is None:
                continue
            if adapter.linear:
                down, up = adapter.factors()
                downs.append(down)
                ups.append(up)
                reps.append(down.shape[0])
                cols.append(k)
            else:
                others.append((k, adapter))
        w = None
        if downs:
            w = st.weights[:, cols].to(x.dtype)  # (N, K')
            if len(set(reps)) == 1:
                w = torch.repeat_interleave(w, reps[0], dim=1)
            else:
                w = torch.repeat_interleave(w, torch.tensor(reps, device=w.device), dim=1, output_size=sum(reps))
            down = torch.cat(downs, 0).to(x.dtype)  # (R, in)
            up = torch.cat(ups, 1).to(x.dtype)  # (out, R)
        if w is not None and st.per_image_merge:
            n, _, h, wd = x.shape
            base = weight[:, :, 0, 0].to(x.dtype)
            per_image = torch.baddbmm(base.expand(n, -1, -1), up * w[:, None, :], down.expand(n, -1, -1))
            flat = x.flatten(2)
            ys = [torch.bmm(per_image[:, r], flat).view(n, -1, h, wd) for r in rows]
            ys = [y if b is None else y + b.to(y.dtype)[:, None, None] for y, b in zip(ys, bias, strict=True)]
        else:
            ys = [pointwise(x, weight[r], b) for r, b in zip(rows, bias, strict=True)]
            if w is not None:
                z = pointwise(x, down) * w[:, :, None, None]
                ys = [y + pointwise(z, up[r]) for y, r in zip(ys, rows, strict=True)]
        for k, adapter in others:
            mixed = adapter.bottleneck(x)
            if not torch.is_grad_enabled() and x.shape[0] == 1:  # inference on one image: the weight in B
                w_k = float(st.weights[0, k])
                ys = [adapter.expand_into(y, mixed, r, w_k) for y, r in zip(ys, rows, strict=True)]
                continue
            gate = st.weights[:, k, None, None, None]
            ys = [y + gate.to(y.dtype) * adapter.expand(mixed, r) for y, r in zip(ys, rows, strict=True)]
        return _one_or_all(ys)


def _one_or_all(outputs: list[torch.Tensor]):
    return outputs[0] if len(outputs) == 1 else tuple(outputs)
