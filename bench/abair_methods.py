"""The ABAIR variants as benchmark methods: ``abair-oh``, ``abair-sw``, ``abair-oracle``, ``abair-sum``,
``abair-avg`` and ``abair-backbone``.

Each factory takes ``checkpoint`` (a model file written by :func:`abair.model.checkpoint.save`) and,
optionally, ``preset`` (the file must then hold that preset). Without a checkpoint the embedded
default ``abair/weights/abair-tiny.safetensors`` is used when the package ships it.

The harness pads every batch (reflect) to a multiple of 8 before :meth:`ABAIRMethod.restore` and crops
back; the oracle reads ``context.degradations`` (e.g. ``("rain",)`` or ``("blur", "noise")``, blended
equally) to pick the adapters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from abair.errors import UserError
from baselines.base import Method, RestoreContext

EMBEDDED_DEFAULT = "weights/abair-tiny.safetensors"  # inside the ``abair`` package

#: method name -> (ABAIR blending mode, one-line summary)
VARIANTS: dict[str, tuple[str, str]] = {
    "abair-oh": ("oh", "ABAIR, one-hot: the estimator's arg-max adapter per image (merged fast path)"),
    "abair-sw": ("sw", "ABAIR, soft weights: adapters blended with the estimator's probabilities"),
    "abair-oracle": ("oracle", "ABAIR with the known task's adapter(s): the paper's upper bound"),
    "abair-sum": ("sum", "ABAIR, all adapters summed (Table 8 ablation)"),
    "abair-avg": ("avg", "ABAIR, all adapters averaged (Table 8 ablation)"),
    "abair-backbone": ("none", "the pre-trained ABAIR backbone alone, no adapter"),
}


def embedded_default() -> Path | None:
    """Path of the embedded default checkpoint, or None when the package does not ship one."""
    from importlib import resources

    try:
        ref = resources.files("abair").joinpath(EMBEDDED_DEFAULT)
    except (ModuleNotFoundError, TypeError):  # pragma: no cover
        return None
    return Path(str(ref)) if ref.is_file() else None


def checkpoint_label(path: str | Path) -> str:
    """How a checkpoint is named in method configs and outputs: ``embedded:abair-tiny.safetensors``
    for a file the package ships (wherever it is installed; the config's SHA-256 pins its content),
    the path as given otherwise."""
    default = embedded_default()
    try:
        if default is not None and Path(path).resolve().parent == default.resolve().parent:
            return f"embedded:{Path(path).name}"
    except OSError:
        pass
    return str(path)


def _training_card(checkpoint: Path) -> dict[str, Any]:
    """``training_seconds``, ``training_scale`` and ``ablation`` (``{table id: variant}``: the ablation
    tables 6a/6b/7 the checkpoint is a row of) from the JSON card beside a checkpoint, if any.

    The embedded default ships ``abair-tiny.json`` (commands, steps and seconds per phase); reports
    show its scale and training time in their banner. A card without ``training_seconds`` but with
    ``phase_seconds`` (seconds per phase) gives their sum, as the shipped cards sum them.
    """
    import json

    card = checkpoint.with_suffix(".json")
    if not card.is_file():
        return {}
    try:
        info = json.loads(card.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    if not isinstance(info, dict):
        return {}
    out = {k: info[v] for k, v in (("training_seconds", "training_seconds"), ("training_scale", "scale"),
                                   ("ablation", "ablation")) if v in info}
    phases = info.get("phase_seconds")
    if "training_seconds" not in out and isinstance(phases, dict) and phases:
        values = [v for v in phases.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(values) == len(phases):
            out["training_seconds"] = round(float(sum(values)), 1)
    return out


class ABAIRMethod(Method):
    """One ABAIR blending mode behind the :class:`~baselines.base.Method` interface.

    ``restore`` takes a float (N, 3, H, W) batch in [0, 1], H and W multiples of 8 (the harness pads),
    and returns the restored batch (not clipped; the harness clips).
    """

    multiple_of = 8
    max_batch = 4

    def __init__(self, name: str, mode: str, model, checkpoint: Path):
        self.name = name
        self.mode = mode
        self.model = model.eval()
        self.checkpoint = checkpoint
        self.device = "cpu"

    def config(self) -> dict[str, Any]:
        from baselines.published import file_sha256

        m = self.model
        counts = m.param_counts()
        return {
            "name": self.name,
            "mode": self.mode,
            "checkpoint": checkpoint_label(self.checkpoint),
            "checkpoint_sha256": file_sha256(self.checkpoint),
            "preset": m.config.preset,
            "adapters": {n: f"{s.type}-r{s.rank}" for n, s in m.adapter_specs.items()},
            "estimator": list(m.estimator_names) if m.estimator is not None else None,
            "params": counts["total_params"],  # as 'abair-bench model info' prints it: the report's Param.
            "adapter_params": counts["adapter_params"],
            **_training_card(self.checkpoint),
        }

    def to(self, device: str) -> ABAIRMethod:
        self.model.to(device)
        self.device = device
        return self

    def skip_reason(self, dataset) -> str | None:
        if self.mode != "oracle":
            return None
        if not dataset.degradations:
            return f"dataset '{dataset.name}' declares no degradations, so the oracle cannot pick an adapter"
        missing = [d for d in dataset.degradations if d not in self.model.adapter_specs]
        if missing:
            return (f"the checkpoint has no adapter for {', '.join(missing)} "
                    f"(its adapters: {', '.join(self.model.adapter_names)})")
        return None

    def restore(self, batch, context: RestoreContext):
        import torch

        task_adapters = None
        if self.mode == "oracle":
            if not context.degradations:
                raise UserError(
                    f"{self.name}: dataset '{context.dataset}' (task '{context.task}') declares no degradations, "
                    "so the oracle cannot pick an adapter; use abair-sw or abair-oh"
                )
            missing = [d for d in context.degradations if d not in self.model.adapter_specs]
            if missing:
                raise UserError(
                    f"{self.name}: checkpoint '{self.checkpoint}' has no adapter for {', '.join(missing)} "
                    f"(dataset '{context.dataset}'); its adapters: {', '.join(self.model.adapter_names)}"
                )
            task_adapters = tuple(context.degradations)
        with torch.inference_mode():
            return self.model(batch.to(self.device), mode=self.mode, task_adapters=task_adapters)


def _make(name: str, checkpoint: str | None, preset: str | None) -> ABAIRMethod:
    from abair.model.checkpoint import load

    if checkpoint is None:
        path = embedded_default()
        if path is None:
            raise UserError(
                f"{name}: no checkpoint given and no embedded default checkpoint is installed; "
                "pass --checkpoint PATH (train one with 'abair-bench train')"
            )
    else:
        path = Path(checkpoint).expanduser()
    model = load(path, preset=preset, device="cpu")
    mode = VARIANTS[name][0]
    if mode in ("sw", "oh"):
        if model.estimator is None or model.estimator_names != model.adapter_names:
            raise UserError(
                f"{name}: checkpoint '{path}' has no trained degradation estimator over its adapters "
                f"({', '.join(model.adapter_names) or 'none'}); use abair-oracle or train Phase III"
            )
    if mode != "none" and not model.adapter_names:
        raise UserError(f"{name}: checkpoint '{path}' holds no adapters; use abair-backbone")
    return ABAIRMethod(name, mode, model, path)


def make_oh(checkpoint: str | None = None, preset: str | None = None) -> ABAIRMethod:
    return _make("abair-oh", checkpoint, preset)


def make_sw(checkpoint: str | None = None, preset: str | None = None) -> ABAIRMethod:
    return _make("abair-sw", checkpoint, preset)


def make_oracle(checkpoint: str | None = None, preset: str | None = None) -> ABAIRMethod:
    return _make("abair-oracle", checkpoint, preset)


def make_sum(checkpoint: str | None = None, preset: str | None = None) -> ABAIRMethod:
    return _make("abair-sum", checkpoint, preset)


def make_avg(checkpoint: str | None = None, preset: str | None = None) -> ABAIRMethod:
    return _make("abair-avg", checkpoint, preset)


def make_backbone(checkpoint: str | None = None, preset: str | None = None) -> ABAIRMethod:
    return _make("abair-backbone", checkpoint, preset)
