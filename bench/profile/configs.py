"""The configurations ``abair-bench profile`` can time, as a registry (name -> :class:`ProfileConfig`).

A configuration turns a :class:`ModelPool` (one ABAIR preset on one device and dtype, models built
on demand and shared) into a :class:`Prepared` call: ``fn(x)`` maps a float (N, 3, H, W) batch in
[0, 1] to what that configuration computes (a restored batch of the same shape, or for
``estimator`` the (N, K) blending weights). ``enter``/``exit`` bracket every timed block (e.g. merge
an adapter before, unmerge after), so configurations sharing a model can be interleaved.

Every ABAIR configuration uses five adapters (rain, haze, noise, blur, lowlight) whose tensors are
filled with seeded random values (a fresh LoRA has B = 0, which would make merged and unmerged
outputs trivially equal); the values do not change the cost. The fixed adapter is ``rain``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from abair.errors import unknown_name
from baselines.ports import ports

FIXED_ADAPTER = "rain"
ADAPTER_SEED = 0


def _noop() -> None:
    return None


@dataclass
class Prepared:
    """A ready-to-time call. ``fn``: float (N, 3, H, W) in [0, 1] -> output. ``params``: parameters of the
    module the call runs (ABAIR: the whole model, all five adapters and the estimator included, whatever
    the configuration uses; ``estimator``: the estimator alone; baselines: the network)."""

    fn: Callable[[Any], Any]
    params: int
    enter: Callable[[], None] = _noop
    exit: Callable[[], None] = _noop


@dataclass(frozen=True)
class ProfileConfig:
    """One profiled configuration. ``family``: ``abair``, ``estimator`` or ``baseline``."""

    name: str
    summary: str
    family: str
    prepare: Callable[[ModelPool], Prepared]
    adapter_type: str | None = None
    rank: int | None = None
    mode: str | None = None  # the ABAIR forward mode it corresponds to (for the output and the tests)


@dataclass
class ModelPool:
    """Models of one preset on one device and dtype, built once and shared by the configurations."""

    preset: str
    device: str = "cpu"
    dtype: str = "fp32"
    checkpoint: str | None = None  # a trained model: its adapters and estimator replace the random ones
    _models: dict = field(default_factory=dict)

    @property
    def torch_dtype(self):
        return torch_dtype(self.dtype)

    def abair(self, adapter_type: str = "lora", rank: int = 4):
        """ABAIR of :attr:`preset` with five adapters of one type and rank (random seeded values), eval
        mode. With :attr:`checkpoint`, the default configurations (LoRA rank 4) time the trained model
        itself, whatever its adapters are (e.g. the shipped tiny model's Conv-LoRA blur adapter)."""
        key = ("abair", adapter_type, rank)
        if key not in self._models:
            import torch

            from abair.model.presets import build

            if self.checkpoint and (adapter_type, rank) == ("lora", 4):
                from abair.model.checkpoint import load

                model = load(self.checkpoint).eval()
            else:
                torch.manual_seed(ADAPTER_SEED)
                model = build(self.preset, adapters=5, adapter_type=adapter_type, rank=rank).eval()
                randomise_adapters(model, ADAPTER_SEED)
            self._models[key] = model.to(device=self.device, dtype=self.torch_dtype)
        return self._models[key]

    def baseline(self, name: str):
        """The registered method of a published baseline at its main release's size, with seeded random weights
        (the cost does not depend on them): :func:`baselines.published.profile_method`, moved to the pool's
        device and dtype."""
        key = ("baseline", name)
        if key not in self._models:
            import torch

            from baselines.published import profile_method

            torch.manual_seed(ADAPTER_SEED)
            method = profile_method(name)
            network(method).to(dtype=self.torch_dtype)
            self._models[key] = method.to(self.device)
        return self._models[key]


DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def torch_dtype(name: str):
    import torch

    if name not in DTYPES:
        raise unknown_name("dtype", name, DTYPES)
    return getattr(torch, DTYPES[name])


def randomise_adapters(model, seed: int = 0) -> None:
    """Fill every adapter tensor with seeded random values (LoRA/Conv-LoRA 0.02 N(0,1); VeRA 0.5 N(0,1))."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in model.adapter_names:
            scale = 0.5 if model.adapter_specs[name].type == "vera" else 0.02
            for p in model.adapter_parameters(name):
                p.copy_(torch.randn(p.shape, generator=g) * scale)


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def network(method):
    """The torch module a baseline method runs (``model``, ``net`` or ``pipeline``): its parameters are counted."""
    for attr in ("model", "net", "pipeline"):
        if hasattr(method, attr):
            return getattr(method, attr)
    raise TypeError(f"{type(method).__name__} has no network to profile")


def method_call(method) -> Callable[[Any], Any]:
    """``x -> restored`` as ``abair-bench run`` restores a batch: the harness pads to the method's multiple,
    calls its ``restore`` (its own pipeline: expand2square, sampling, output selection) and crops back. The
    context names the images ``profile/0``, ``profile/1``, ... (the per-image seeds of sampling methods)."""
    from baselines.base import RestoreContext
    from bench.padding import restore_padded

    def call(x):
        context = RestoreContext("profile", "profile", tuple(f"profile/{i}" for i in range(x.shape[0])))
        return restore_padded(method, x, context)

    return call


def sw_merged_forward(model, x):
    """SW with merging per image (the model's CPU inference default, here on any device): estimate the
    weights, then for each image fold ``sum_k w_k dW_k`` of the mergeable adapters into the 1x1 weights,
    run the backbone on that image alone (adapters that cannot merge, such as Conv-LoRA, as weighted side
    branches) and unmerge. Equals ``model(x, "sw")`` up to rounding. x: float (N, 3, H, W) in [0, 1]."""
    model.check_input(x)
    return model._forward_merged_per_image(x, model.estimate(x))


def _mode(mode: str, adapter_type: str = "lora", rank: int = 4, merged: bool | None = None
          ) -> Callable[[ModelPool], Prepared]:
    def prepare(pool: ModelPool) -> Prepared:
        model = pool.abair(adapter_type, rank)
        # unmerged low-rank branches unless asked (CPU inference would merge a blend per image by default)
        how = merged if merged is not None or mode == "oh" else False
        return Prepared(lambda x: model(x, mode=mode, merged=how), _count(model))

    return prepare


def _merged_fixed(pool: ModelPool) -> Prepared:
    model = pool.abair()
    return Prepared(lambda x: model(x, mode=f"fixed:{FIXED_ADAPTER}"), _count(model),
                    enter=lambda: model.merge(FIXED_ADAPTER), exit=model.unmerge)


def _sw_merged(pool: ModelPool) -> Prepared:
    model = pool.abair()
    return Prepared(lambda x: sw_merged_forward(model, x), _count(model))


def _estimator(pool: ModelPool) -> Prepared:
    model = pool.abair()
    return Prepared(model.estimate, _count(model.estimator))


def _baseline(name: str) -> Callable[[ModelPool], Prepared]:
    def prepare(pool: ModelPool) -> Prepared:
        method = pool.baseline(name)
        return Prepared(method_call(method), _count(network(method)))

    return prepare




FIXED = f"fixed:{FIXED_ADAPTER}"

#: name -> configuration, in the order the output lists them
CONFIGS: dict[str, ProfileConfig] = {c.name: c for c in (
    ProfileConfig("none", "backbone alone (mode none): the reference for every ratio", "abair",
                  _mode("none"), mode="none"),
    ProfileConfig("fixed", "one LoRA r4 adapter, unmerged (mode fixed:rain)", "abair",
                  _mode(FIXED), "lora", 4, FIXED),
    ProfileConfig("oh-merged", "one LoRA r4 adapter merged beforehand (the OH fast path; merge not timed)", "abair",
                  _merged_fixed, "lora", 4, FIXED),
    ProfileConfig("oh", "OH end to end: estimator + merge arg-max adapter + forward + unmerge (mode oh)", "abair",
                  _mode("oh"), "lora", 4, "oh"),
    ProfileConfig("sw", "SW over 5 LoRA r4 adapters, unmerged (mode sw)", "abair",
                  _mode("sw"), "lora", 4, "sw"),
    ProfileConfig("sw-merged", "SW merged per image: estimator + merge the blend + forward + unmerge", "abair",
                  _sw_merged, "lora", 4, "sw"),
    ProfileConfig("sw-merged-batched", "SW merged per image in one pass: each projection builds the (N, out, in) "
                  "stack W + sum_k w_nk dW_k and applies it with one batched matmul (mode sw, merged=True)",
                  "abair", _mode("sw", merged=True), "lora", 4, "sw"),
    ProfileConfig("sw-r8", "SW over 5 LoRA r8 adapters, unmerged", "abair", _mode("sw", "lora", 8), "lora", 8, "sw"),
    ProfileConfig("sw-r16", "SW over 5 LoRA r16 adapters, unmerged", "abair", _mode("sw", "lora", 16), "lora", 16,
                  "sw"),
    ProfileConfig("fixed-r16", "one LoRA r16 adapter, unmerged", "abair", _mode(FIXED, "lora", 16), "lora", 16,
                  FIXED),
    ProfileConfig("fixed-vera", "one VeRA r4 adapter, unmerged", "abair", _mode(FIXED, "vera"), "vera", 4, FIXED),
    ProfileConfig("sw-vera", "SW over 5 VeRA r4 adapters, unmerged", "abair", _mode("sw", "vera"), "vera", 4, "sw"),
    ProfileConfig("fixed-conv-lora", "one Conv-LoRA r4 adapter (never mergeable)", "abair",
                  _mode(FIXED, "conv-lora"), "conv-lora", 4, FIXED),
    ProfileConfig("sw-conv-lora", "SW over 5 Conv-LoRA r4 adapters", "abair", _mode("sw", "conv-lora"),
                  "conv-lora", 4, "sw"),
    ProfileConfig("estimator", "the degradation estimator alone (native-scale windows + CNN + softmax)", "estimator",
                  _estimator, "lora", 4),
    # the published baselines, in their registry's order (baselines.ports: each port's profile summary)
    *(ProfileConfig(p.name, p.profile, "baseline", _baseline(p.name)) for p in ports() if p.profile),
)}


def get_config(name: str) -> ProfileConfig:
    if name not in CONFIGS:
        raise unknown_name("profile configuration", name, CONFIGS, "abair-bench profile --list")
    return CONFIGS[name]


def select(names: list[str] | None) -> list[ProfileConfig]:
    """Configurations by name (``None``: all, in registry order); unknown names raise a UserError."""
    if not names:
        return list(CONFIGS.values())
    return [get_config(n) for n in dict.fromkeys(names)]
