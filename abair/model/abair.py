"""ABAIR: backbone + named low-rank adapters + degradation estimator (+ Phase-I segmentation head).

``ABAIR.forward(x, mode)`` restores a float (N, 3, H, W) batch in [0, 1]; H and W must be multiples
of 8 (three 2x downsamplings): pad (reflect) before and crop after; the benchmark harness does this
for every method with ``multiple_of = 8``. The output is not clipped.

Blending modes (paper: Tables 1 and 8):

- ``sw``: soft weights, the estimator's probabilities per image;
- ``oh``: one-hot, the estimator's arg-max per image; images are grouped by their adapter and each
  group runs with that adapter *merged* into the 1x1 weights (fast path) when gradients are off,
  or, for an adapter that cannot merge (Conv-LoRA), with that adapter as the only side branch;
- ``oracle``: the known degradation(s): ``task_adapters`` names them (blended equally if several);
- ``sum``: every adapter with weight 1; ``avg``: every adapter with weight 1/K;
- ``fixed:<adapter>``: one adapter for every image; ``none``: the backbone alone.

``task_adapters`` (oracle): a name (``"rain"``), a tuple of names for every image
(``("blur", "noise")``), or a list with one name or tuple per image.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from abair.errors import UserError, did_you_mean, unknown_name

from .adapters import AdapterSpec, BlendState, Projection
from .backbone import Backbone, BackboneConfig
from .estimator import DegradationEstimator, EstimatorConfig
from .seghead import SegmentationHead

#: Degradation classes, in the project-wide class order (adapters are named after them).
DEGRADATION_CLASSES = ("rain", "haze", "noise", "blur", "lowlight", "jpeg", "bitdepth", "snow")
MODES = ("sw", "oh", "oracle", "sum", "avg", "fixed:<adapter>", "none")
MULTIPLE_OF = 8


@dataclass(frozen=True)
class ABAIRConfig:
    """Everything needed to rebuild the network (adapters are listed separately, see checkpoint.py)."""

    preset: str = "custom"
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    estimator: EstimatorConfig | None = field(default_factory=EstimatorConfig)
    class_order: tuple[str, ...] = DEGRADATION_CLASSES
    seghead: bool = False

    @property
    def seg_labels(self) -> tuple[str, ...]:
        return ("clean",) + tuple(self.class_order)

    def to_json(self) -> dict:
        return {
            "preset": self.preset,
            "backbone": self.backbone.to_json(),
            "estimator": None if self.estimator is None else self.estimator.to_json(),
            "class_order": list(self.class_order),
            "seghead": self.seghead,
        }

    @classmethod
    def from_json(cls, d: dict) -> ABAIRConfig:
        return cls(
            preset=d["preset"],
            backbone=BackboneConfig.from_json(d["backbone"]),
            estimator=None if d.get("estimator") is None else EstimatorConfig.from_json(d["estimator"]),
            class_order=tuple(d["class_order"]),
            seghead=bool(d.get("seghead", False)),
        )


def is_adapter_key(key: str) -> bool:
    """True for state-dict keys of adapter tensors (``...<projection>.adapters.<name>.<tensor>``)."""
    return ".adapters." in key


def adapter_of_key(key: str) -> str:
    return key.split(".adapters.", 1)[1].split(".", 1)[0]


class ABAIR(nn.Module):
    """The ABAIR model. See the module docstring for modes; :mod:`abair.model.presets` builds it."""

    def __init__(self, config: ABAIRConfig, adapters: Sequence[AdapterSpec] = ()):
        super().__init__()
        self.config = config
        self.backbone = Backbone(config.backbone)
        self._state = BlendState()
        self._hosts: dict[str, Projection] = {}
        for path, module in self.backbone.named_modules():
            if isinstance(module, Projection):
                module.state = self._state
                self._hosts[f"backbone.{path}"] = module
        self.adapter_specs: dict[str, AdapterSpec] = {}
        for spec in adapters:
            self.add_adapter(spec)
        self.estimator: DegradationEstimator | None = None
        self.estimator_names: tuple[str, ...] = ()
        if config.estimator is not None and self.adapter_specs:
            self.reset_estimator()
        self.seghead = (
            SegmentationHead(config.backbone.feature_dim, len(config.seg_labels)) if config.seghead else None
        )

    # -- adapters -------------------------------------------------------------------------------
    @property
    def adapter_names(self) -> tuple[str, ...]:
        return tuple(self.adapter_specs)

    def add_adapter(self, name: str | AdapterSpec, type: str = "lora", rank: int = 4, **options) -> AdapterSpec:
        """Add a named adapter to every targeted projection; returns its spec. Other tensors are untouched."""
        spec = name if isinstance(name, AdapterSpec) else AdapterSpec(name=name, type=type, rank=rank, **options)
        if spec.name in self.adapter_specs:
            raise ValueError(f"adapter '{spec.name}' already exists (adapters: {', '.join(self.adapter_names)})")
        if self._state.merged:
            raise ValueError("unmerge() before adding an adapter")
        for path, host in self._hosts.items():
            host.add_adapter(spec, path)
        self.adapter_specs[spec.name] = spec
        return spec

    def order_adapters(self, names: Sequence[str]) -> None:
        """Put the adapters in the order ``names`` (the same set): the order the estimator scores them."""
        if sorted(names) != sorted(self.adapter_specs):
            raise ValueError(f"order_adapters needs exactly the model's adapters ({', '.join(self.adapter_names)}), "
                             f"got {', '.join(names)}")
        self.adapter_specs = {name: self.adapter_specs[name] for name in names}

    def remove_adapter(self, name: str) -> None:
        """Delete an adapter's tensors everywhere; the backbone and other adapters are untouched."""
        self._require_adapter(name)
        if self._state.merged:
            raise ValueError("unmerge() before removing an adapter")
        for host in self._hosts.values():
            host.remove_adapter(name)
        del self.adapter_specs[name]

    def adapter_parameters(self, name: str) -> list[nn.Parameter]:
        """The trainable tensors of one adapter (for its optimiser)."""
        self._require_adapter(name)
        return [p for h in self._hosts.values() if name in h.adapters for p in h.adapters[name].parameters()]

    def adapter_state_dict(self, name: str) -> dict[str, torch.Tensor]:
        """One adapter's tensors (parameters and VeRA's frozen buffers), keyed as in :meth:`state_dict`."""
        self._require_adapter(name)
        return {k: v for k, v in self.state_dict().items() if is_adapter_key(k) and adapter_of_key(k) == name}

    def backbone_state_dict(self) -> dict[str, torch.Tensor]:
        """Backbone tensors (prompt blocks included), without any adapter."""
        return {k: v for k, v in self.backbone.state_dict(prefix="backbone.").items() if not is_adapter_key(k)}

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        for key, p in self.backbone.named_parameters():
            if not is_adapter_key("." + key):
                yield p

    def freeze_backbone(self) -> None:
        """Stop gradients to the backbone (prompt blocks included) and the segmentation head.

        Adapters stay trainable; the estimator is left as it is (Phase III trains it alone).
        """
        for p in self.backbone_parameters():
            p.requires_grad_(False)
        if self.seghead is not None:
            self.seghead.requires_grad_(False)
        for name in self.adapter_names:
            for p in self.adapter_parameters(name):
                p.requires_grad_(True)

    def reset_estimator(self, config: EstimatorConfig | None = None) -> None:
        """(Re)build the estimator with one output per current adapter (fresh weights: retrain it)."""
        cfg = config or self.config.estimator or EstimatorConfig()
        if config is not None or self.config.estimator is None:
            self.config = ABAIRConfig(self.config.preset, self.config.backbone, cfg, self.config.class_order,
                                      self.config.seghead)
        device = next(self.backbone.parameters()).device
        self.estimator = DegradationEstimator(cfg, len(self.adapter_specs)).to(device)
        self.estimator_names = self.adapter_names

    def _require_adapter(self, name: str) -> None:
        if name not in self.adapter_specs:
            raise unknown_name("adapter", name, self.adapter_specs)

    # -- merging and blending ------------------------------------------------------------------
    def merge(self, adapters: str | dict[str, float]) -> None:
        """Fold ``sum_k c_k dW_k`` into the 1x1 weights (cached; the base tensors are never modified).

        ``adapters``: one name (coefficient 1) or ``{name: coefficient}``. Only LoRA and VeRA merge.
        """
        coeffs = {adapters: 1.0} if isinstance(adapters, str) else dict(adapters)
        for name in coeffs:
            self._require_adapter(name)
            if not self.adapter_specs[name].mergeable:
                raise ValueError(f"adapter '{name}' is {self.adapter_specs[name].type} and cannot be merged")
        for host in self._hosts.values():
            host.merge(coeffs)
        self._state.merged = coeffs

    def unmerge(self) -> None:
        """Back to the base weights, exactly (the merged copy is dropped)."""
        for host in self._hosts.values():
            host.unmerge()
        self._state.merged = {}

    @property
    def merged(self) -> dict[str, float]:
        return dict(self._state.merged)

    @contextlib.contextmanager
    def set_blend(self, weights: torch.Tensor | None, names: Sequence[str] | None = None,
                  per_image_merge: bool = False):
        """Within the block, every projection adds ``sum_k weights[n, k] * dW_k x`` for image n.

        ``weights``: float (N, K) with K = len(names) (default: all adapters in order); ``None`` turns
        adapters off. ``per_image_merge``: apply ``W + sum_k weights[n, k] dW_k`` as one weight per
        image (batched matrix product) instead of adding low-rank branches; the same function up to
        rounding. Nothing is stored; the previous blend is restored on exit.
        """
        names = tuple(self.adapter_names if names is None else names)
        for name in names:
            self._require_adapter(name)
        if weights is not None and (weights.ndim != 2 or weights.shape[1] != len(names)):
            raise ValueError(f"blend weights must be (N, {len(names)}), got {tuple(weights.shape)}")
        st = self._state
        previous = (st.names, st.weights, st.per_image_merge)
        st.names, st.weights, st.per_image_merge = names, weights, per_image_merge
        try:
            yield
        finally:
            st.names, st.weights, st.per_image_merge = previous

    # -- estimation -----------------------------------------------------------------------------
    def estimate(self, x: torch.Tensor) -> torch.Tensor:
        """Blending probabilities (N, K) from the estimator, in :attr:`adapter_names` order."""
        if self.estimator is None:
            raise UserError("this ABAIR model has no degradation estimator; use mode 'oracle', 'fixed:NAME', "
                            "'sum', 'avg' or 'none', or train one (Phase III)")
        if self.estimator_names != self.adapter_names:
            raise UserError(
                f"the estimator scores adapters ({', '.join(self.estimator_names)}) but the model has "
                f"({', '.join(self.adapter_names)}); retrain the estimator (Phase III)"
            )
        if x.shape[0] > 1 and x.device.type == "cpu" and not torch.is_grad_enabled():
            # CPU inference scores each image alone, so its weights do not depend on its batch
            return torch.cat([self.estimator.probabilities(self.estimator(x[n:n + 1])) for n in range(x.shape[0])])
        return self.estimator.probabilities(self.estimator(x))

    def blend_weights(self, x: torch.Tensor, mode: str, task_adapters=None) -> torch.Tensor | None:
        """The (N, K) weights a mode gives for batch ``x`` (None for ``none``)."""
        n, k = x.shape[0], len(self.adapter_specs)
        if mode == "none":
            return None
        if k == 0:
            raise UserError(f"mode '{mode}' needs adapters but this ABAIR model has none")
        if mode == "sw":
            return self.estimate(x)
        if mode == "oh":
            probs = self.estimate(x)
            return torch.nn.functional.one_hot(probs.argmax(dim=1), k).to(x.dtype)
        if mode == "sum":
            return x.new_ones(n, k)
        if mode == "avg":
            return x.new_full((n, k), 1.0 / k)
        if mode.startswith("fixed:"):
            return self._weights_for([(mode[6:],)] * n, x)
        if mode == "oracle":
            return self._weights_for(self._per_image(task_adapters, n), x)
        raise unknown_name("blending mode", mode, [m for m in MODES if not m.startswith("fixed")] + [
            f"fixed:{a}" for a in self.adapter_names])

    @staticmethod
    def _per_image(task_adapters, n: int) -> list[tuple[str, ...]]:
        if task_adapters is None or len(task_adapters) == 0:
            raise UserError("mode 'oracle' needs the degradation(s) of the input (task_adapters), got none")
        if isinstance(task_adapters, str):
            return [(task_adapters,)] * n
        if all(isinstance(t, str) for t in task_adapters):
            return [tuple(task_adapters)] * n
        per = [(t,) if isinstance(t, str) else tuple(t) for t in task_adapters]
        if len(per) != n:
            raise ValueError(f"task_adapters has {len(per)} entries for a batch of {n}")
        return per

    def _weights_for(self, per_image: list[tuple[str, ...]], x: torch.Tensor) -> torch.Tensor:
        names = self.adapter_names
        w = x.new_zeros(len(per_image), len(names))
        for i, chosen in enumerate(per_image):
            for name in chosen:
                if name not in self.adapter_specs:
                    raise UserError(
                        f"no adapter for degradation '{name}' in this model{did_you_mean(name, names)}; "
                        f"its adapters: {', '.join(names)}"
                    )
                w[i, names.index(name)] = 1.0 / len(chosen)
        return w

    # -- forward --------------------------------------------------------------------------------
    def check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3:
            raise UserError(f"ABAIR expects a float (N, 3, H, W) batch, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % MULTIPLE_OF or w % MULTIPLE_OF:
            raise UserError(
                f"ABAIR needs H and W to be multiples of {MULTIPLE_OF} (three 2x downsamplings), got {h}x{w}; "
                "pad the input (reflect) and crop the output"
            )

    def forward(self, x: torch.Tensor, mode: str = "sw", task_adapters=None, merged: bool | None = None):
        """Restore float (N, 3, H, W) in [0, 1] -> (N, 3, H, W) (not clipped). See the module docstring.

        ``merged``: mode ``oh``: merge each group's arg-max adapter into the base weights (the fast
        path; default: when gradients are disabled). Other modes: ``True`` folds each image's blend into
        its own 1x1 weights, applied with one batched matrix product per projection (SW merged per
        image; pays off on GPUs); ``False``: low-rank branches beside the base convolution; default:
        ``False``, except for CPU inference (gradients disabled), where each image's blend of the
        mergeable adapters is merged into the weights and the image runs alone through the backbone,
        with unmergeable adapters (Conv-LoRA) as its only side branches (:meth:`_forward_merged_per_image`).
        If the model holds merged weights (:meth:`merge`), only ``fixed:<that adapter>`` is allowed.
        """
        self.check_input(x)
        if self._state.merged:
            if mode.startswith("fixed:") and self._state.merged == {mode[6:]: 1.0}:
                with self.set_blend(None):
                    return self.backbone(x)
            raise ValueError(f"adapters {self.merged} are merged; call unmerge() before mode '{mode}'")
        weights = self.blend_weights(x, mode, task_adapters)
        if mode == "oh":
            use_merged = (not torch.is_grad_enabled()) if merged is None else merged
            if use_merged:
                return self._forward_merged_one_hot(x, weights.argmax(dim=1))
        if merged is None and weights is not None and not torch.is_grad_enabled() and x.device.type == "cpu":
            return self._forward_merged_per_image(x, weights)
        names = self.adapter_names
        if weights is not None:
            # adapters with weight 0 for every image are left out: no compute, no (zero) gradients
            keep = (weights != 0).any(dim=0).tolist()
            if not all(keep):
                names = tuple(n for n, k in zip(names, keep, strict=True) if k)
                weights = weights[:, torch.tensor(keep, device=weights.device)]
        with self.set_blend(weights, names, per_image_merge=bool(merged) and weights is not None):
            return self.backbone(x)

    def _forward_merged_one_hot(self, x: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
        """OH fast path: each group of images sharing an arg-max adapter runs once; a mergeable adapter
        (LoRA, VeRA) is merged into the 1x1 weights (the backbone's cost), an unmergeable one
        (Conv-LoRA) runs as the only side branch, so the other adapters never cost anything."""
        out = torch.empty_like(x)
        names = self.adapter_names
        # on CPU each image runs alone (batching does not pay there, and an image's output then does
        # not depend on the batch it came in: bit-identical records whatever --batch)
        alone = x.device.type == "cpu"
        for j in torch.unique(choice).tolist():
            idx = (choice == j).nonzero(as_tuple=True)[0]
            groups = [idx[i:i + 1] for i in range(len(idx))] if alone else [idx]
            self._run_group_one_hot(x, out, names[j], groups)
        return out

    def _run_group_one_hot(self, x: torch.Tensor, out: torch.Tensor, name: str, groups: list) -> None:
        """Images ``groups`` (index tensors) of ``x`` through the backbone with adapter ``name`` alone:
        merged once for all groups when it can merge, else as the only side branch."""
        if not self.adapter_specs[name].mergeable:
            for idx in groups:
                only = torch.ones(len(idx), 1, dtype=x.dtype, device=x.device)
                with self.set_blend(only, (name,)):
                    out[idx] = self.backbone(x[idx])
            return
        self.merge(name)
        try:
            with self.set_blend(None):
                for idx in groups:
                    out[idx] = self.backbone(x[idx])
        finally:
            self.unmerge()

    def _forward_merged_per_image(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Blend fast path (CPU inference): for each image, ``W + sum_k w_k dW_k`` over the mergeable
        adapters with non-zero weight is folded into the 1x1 weights (one product per projection),
        the image runs through the backbone alone, and the unmergeable adapters with non-zero weight
        run as weighted side branches. The same function as the unmerged blend up to rounding."""
        out = torch.empty_like(x)
        names = self.adapter_names
        rows = weights.detach().float().cpu().tolist()
        for n, row in enumerate(rows):
            merge = {name: w for name, w in zip(names, row, strict=True) if w != 0 and self.adapter_specs[name].mergeable}
            side = [(k, name) for k, (name, w) in enumerate(zip(names, row, strict=True))
                    if w != 0 and not self.adapter_specs[name].mergeable]
            if merge:
                self.merge(merge)
            try:
                side_weights = weights[n:n + 1, [k for k, _ in side]] if side else None
                with self.set_blend(side_weights, tuple(name for _, name in side) if side else None):
                    out[n:n + 1] = self.backbone(x[n:n + 1])
            finally:
                if merge:
                    self.unmerge()
        return out

    def pretrain_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Phase I: backbone alone -> (restored (N, 3, H, W), segmentation logits (N, 1 + classes, H, W))."""
        if self.seghead is None:
            raise ValueError("this model was built without a segmentation head (config.seghead=False)")
        self.check_input(x)
        with self.set_blend(None):
            restored, feats = self.backbone(x, return_features=True)
        return restored, self.seghead(feats)

    # -- counting -------------------------------------------------------------------------------
    def param_counts(self) -> dict:
        """Trainable-parameter counts by part. ``total_params`` = backbone + adapters + estimator
        (the segmentation head is reported apart: it is not part of the inference model)."""
        backbone = sum(p.numel() for p in self.backbone_parameters())
        per_adapter = {n: sum(p.numel() for p in self.adapter_parameters(n)) for n in self.adapter_names}
        frozen = sum(b.numel() for h in self._hosts.values() for a in h.adapters.values() for b in a.buffers())
        estimator = sum(p.numel() for p in self.estimator.parameters()) if self.estimator is not None else 0
        seghead = sum(p.numel() for p in self.seghead.parameters()) if self.seghead is not None else 0
        adapters = sum(per_adapter.values())
        return {
            "total_params": backbone + adapters + estimator,
            "backbone_params": backbone,
            "adapter_params": adapters,
            "per_adapter_params": per_adapter,
            "adapter_frozen_buffers": frozen,
            "estimator_params": estimator,
            "seghead_params": seghead,
        }
