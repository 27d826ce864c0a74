"""ABAIR checkpoints: one safetensors file whose header carries the JSON config. Never pickled.

Two kinds of file:

- a *model* file (:func:`save` / :func:`load`): backbone, every adapter, the estimator (if any) and,
  only when asked, the Phase-I segmentation head;
- an *adapter* file (:func:`save_adapter` / :func:`load_adapter`): one adapter's tensors alone, to be
  shipped and loaded into any model with the same backbone.

The config lives in the safetensors metadata under the key ``"abair"`` as JSON::

    {"format": "abair-checkpoint", "format_version": 1, "kind": "model" | "adapter",
     "model": {"preset", "backbone": {...}, "estimator": {...} | null, "class_order": [...], "seghead"},
     "adapters": [{"name", "type", "rank", "alpha", "targets", "seed", "scales"}, ...],
     "estimator_names": [...] | null, "seghead_included": bool,
     "backbone_sha256": "...", "abair_version": "...", "extra": {...}}

``backbone_sha256`` fingerprints the backbone tensors: an adapter is only meaningful on the backbone
it was trained on, so :func:`load_adapter` refuses another one unless told otherwise.

Every user-fixable problem (missing file, truncated or corrupt file, not an ABAIR file, wrong
format version, wrong preset, missing/unexpected tensors, shape mismatch) raises
:class:`abair.errors.UserError` with a one-line message naming the file and the mismatch.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from abair.errors import UserError
from abair.filekind import file_kind

from .abair import ABAIR, ABAIRConfig, adapter_of_key, is_adapter_key
from .adapters import AdapterSpec
from .estimator import DegradationEstimator

FORMAT = "abair-checkpoint"
FORMAT_VERSION = 1
META_KEY = "abair"


def backbone_fingerprint(model: ABAIR) -> str:
    """SHA-256 over the backbone tensors (names, shapes, dtypes, bytes), adapters excluded."""
    h = hashlib.sha256()
    for key, t in sorted(model.backbone_state_dict().items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{key}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.view(torch.uint8).numpy() if t.numel() else b"")
    return h.hexdigest()


def _short(names, n: int = 3) -> str:
    names = sorted(names)
    more = f" (+{len(names) - n} more)" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def _write(tensors: dict[str, torch.Tensor], config: dict, path: str | Path) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(config, sort_keys=True)})
    tmp.replace(path)  # atomic: a crash never leaves a half-written checkpoint under the final name
    return path


def read_config(path: str | Path) -> dict[str, Any]:
    """The JSON config of an ABAIR checkpoint, read from the header only (no tensor is loaded)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint '{path}' does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
    except Exception as exc:  # safetensors raises its own error types for bad headers
        kind = file_kind(path)
        if kind != "a safetensors file":
            raise UserError(f"'{path}' is not an ABAIR checkpoint: it is {kind}, and ABAIR checkpoints are "
                            "safetensors files; pass a file written by abair-bench") from None
        raise UserError(
            f"checkpoint '{path}' is truncated or corrupt (unreadable safetensors header: {_one_line(exc)}); "
            "re-save or re-download it"
        ) from None
    if not meta or META_KEY not in meta:
        raise UserError(
            f"'{path}' is not an ABAIR checkpoint (its safetensors header has no '{META_KEY}' config); "
            "pass a file written by abair-bench"
        )
    try:
        config = json.loads(meta[META_KEY])
    except json.JSONDecodeError as exc:
        raise UserError(f"checkpoint '{path}' has a corrupt config ({exc}); re-save or re-download it") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise UserError(f"'{path}' is not an ABAIR checkpoint (format {config.get('format')!r}, "
                        f"expected '{FORMAT}')")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise UserError(
            f"checkpoint '{path}' has format version {version}, this abair-bench reads version {FORMAT_VERSION}; "
            "use the abair-bench version that wrote it or re-save it"
        )
    return config


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _read_tensors(path: Path, device: str | torch.device) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device=str(device))
    except Exception as exc:
        raise UserError(
            f"checkpoint '{path}' is truncated or corrupt (cannot read its tensors: {_one_line(exc)}); "
            "re-save or re-download it"
        ) from None


def _check_tensors(path: Path, found: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], what: str):
    missing = set(expected) - set(found)
    unexpected = set(found) - set(expected)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s) ({_short(missing)})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensor(s) ({_short(unexpected)})")
        raise UserError(f"checkpoint '{path}' does not match {what}: {'; '.join(parts)}")
    for key, t in expected.items():
        if tuple(found[key].shape) != tuple(t.shape):
            raise UserError(
                f"checkpoint '{path}': tensor '{key}' has shape {list(found[key].shape)} but {what} "
                f"expects {list(t.shape)}"
            )


def _expected_model_keys(model: ABAIR, include_seghead: bool) -> dict[str, torch.Tensor]:
    sd = model.state_dict()
    return {k: v for k, v in sd.items() if include_seghead or not k.startswith("seghead.")}


# -- whole models ---------------------------------------------------------------------------------
def save(model: ABAIR, path: str | Path, include_seghead: bool = False, extra: dict | None = None) -> Path:
    """Write the whole model (backbone, adapters, estimator; the segmentation head only if asked)."""
    import abair

    if model.merged:
        raise ValueError("unmerge() before saving: merged weights are a cache, not part of the model")
    include_seghead = include_seghead and model.seghead is not None
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": "model",
        "model": model.config.to_json(),
        "adapters": [s.to_json() for s in model.adapter_specs.values()],
        "estimator_names": list(model.estimator_names) if model.estimator is not None else None,
        "seghead_included": include_seghead,
        "backbone_sha256": backbone_fingerprint(model),
        "abair_version": abair.__version__,
        "extra": extra or {},
    }
    return _write(_expected_model_keys(model, include_seghead), config, path)


def load(path: str | Path, preset: str | None = None, device: str | torch.device = "cpu",
         with_seghead: bool = False) -> ABAIR:
    """Rebuild a model from a model file and load its tensors (validated; see the module docstring).

    ``preset``: if given, the file must hold that preset. ``with_seghead``: build the segmentation
    head too (its tensors are loaded when the file has them, else it is freshly initialised).
    """
    path = Path(path)
    config = read_config(path)
    if config.get("kind") != "model":
        names = ", ".join(a["name"] for a in config.get("adapters", []))
        raise UserError(f"checkpoint '{path}' holds a single adapter ({names}), not a model; "
                        "load it into a model with load_adapter")
    try:
        mcfg = ABAIRConfig.from_json(config["model"])
        specs = [AdapterSpec.from_json(a) for a in config["adapters"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"checkpoint '{path}' has an invalid config ({_one_line(exc)}); re-save it") from None
    if preset is not None and mcfg.preset != preset:
        raise UserError(f"checkpoint '{path}' holds preset '{mcfg.preset}' but preset '{preset}' was asked; "
                        "pass a matching checkpoint or drop the preset")
    seghead_included = bool(config.get("seghead_included"))
    mcfg = ABAIRConfig(mcfg.preset, mcfg.backbone, mcfg.estimator, mcfg.class_order,
                       seghead=with_seghead or seghead_included)
    with torch.device("meta"):
        model = ABAIR(mcfg, specs)
        names = config.get("estimator_names")
        if names is None or mcfg.estimator is None:
            model.estimator, model.estimator_names = None, ()
        elif tuple(names) != model.estimator_names:
            model.estimator = DegradationEstimator(mcfg.estimator, len(names))
            model.estimator_names = tuple(names)
    # materialised with plain factory calls: Module.to_empty's empty_like on meta tensors goes through
    # PyTorch's Python reference ops (0.45 s of imports on a process's first load)
    model = model._apply(lambda t: torch.empty(t.shape, dtype=t.dtype, device=device))
    expected = _expected_model_keys(model, seghead_included)
    found = _read_tensors(path, device)
    _check_tensors(path, found, expected, "the model its config describes")
    missing, _ = model.load_state_dict(found, strict=False)
    if missing and not all(k.startswith("seghead.") for k in missing):  # pragma: no cover - guarded above
        raise UserError(f"checkpoint '{path}': tensors not loaded: {_short(missing)}")
    if mcfg.seghead and not seghead_included:
        _init_fresh(model.seghead)
    return model


def _init_fresh(module: torch.nn.Module) -> None:
    """Initialise a module that was materialised from the meta device (to_empty leaves garbage)."""
    for m in module.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()


# -- single adapters ------------------------------------------------------------------------------
def save_adapter(model: ABAIR, name: str, path: str | Path, extra: dict | None = None) -> Path:
    """Write one adapter alone (its tensors, its spec and the backbone fingerprint)."""
    import abair

    tensors = model.adapter_state_dict(name)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": "adapter",
        "model": model.config.to_json(),
        "adapters": [model.adapter_specs[name].to_json()],
        "estimator_names": None,
        "seghead_included": False,
        "backbone_sha256": backbone_fingerprint(model),
        "abair_version": abair.__version__,
        "extra": extra or {},
    }
    return _write(tensors, config, path)


def load_adapter(model: ABAIR, path: str | Path, name: str | None = None, replace: bool = False,
                 allow_other_backbone: bool = False) -> str:
    """Add the adapter stored in ``path`` to ``model`` (optionally under another ``name``); return its name.

    ``replace``: an adapter of that name is swapped for the file's, in the same place in
    :attr:`ABAIR.adapter_names` (so an estimator trained over the names still scores it); if the
    file cannot be loaded, the old adapter is put back.

    The file must have been written for the same backbone configuration and, unless
    ``allow_other_backbone``, the same backbone weights (fingerprint). The model's other tensors are
    untouched; the estimator is not changed (retrain it to score the new adapter).
    """
    path = Path(path)
    config = read_config(path)
    if config.get("kind") != "adapter":
        raise UserError(f"checkpoint '{path}' holds a whole model, not a single adapter; load it with load()")
    try:
        spec = AdapterSpec.from_json(config["adapters"][0])
        file_backbone = ABAIRConfig.from_json(config["model"]).backbone
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise UserError(f"adapter file '{path}' has an invalid config ({_one_line(exc)}); re-save it") from None
    if file_backbone != model.config.backbone:
        a, b = file_backbone.to_json(), model.config.backbone.to_json()
        diff = ", ".join(f"{k} {a[k]} vs {b[k]}" for k in a if a[k] != b.get(k))
        raise UserError(f"adapter file '{path}' was made for another backbone "
                        f"(preset '{config['model'].get('preset')}'; {diff}); load it into a matching model")
    if not allow_other_backbone and config.get("backbone_sha256") != backbone_fingerprint(model):
        raise UserError(f"adapter file '{path}' was trained on different backbone weights than this model's "
                        "(backbone fingerprints differ); load it into the model it was trained with")
    original = spec.name
    if name is not None and name != original:
        spec = AdapterSpec.from_json({**spec.to_json(), "name": name})
    order = list(model.adapter_names)
    previous = None  # (spec, tensors) of the adapter being replaced, restored if loading fails
    if spec.name in model.adapter_specs:
        if not replace:
            raise UserError(f"the model already has an adapter '{spec.name}'; remove it first or pass another name")
        previous = (model.adapter_specs[spec.name], model.adapter_state_dict(spec.name))
        model.remove_adapter(spec.name)
    else:
        order.append(spec.name)
    device = next(model.backbone.parameters()).device
    found = {
        k.replace(f".adapters.{original}.", f".adapters.{spec.name}."): v
        for k, v in _read_tensors(path, device).items()
    }
    model.add_adapter(spec)
    try:
        expected = model.adapter_state_dict(spec.name)
        bad = [k for k in found if not is_adapter_key(k) or adapter_of_key(k) != spec.name]
        if bad:
            raise UserError(f"adapter file '{path}' holds tensors of something else than one adapter ({_short(bad)})")
        _check_tensors(path, found, expected, f"adapter '{spec.name}' of this model")
        model.load_state_dict(found, strict=False)
    except BaseException:
        model.remove_adapter(spec.name)
        if previous is not None:
            model.add_adapter(previous[0])
            model.load_state_dict(previous[1], strict=False)
            model.order_adapters(order)
        raise
    model.order_adapters(order)  # a replaced adapter keeps its place (the estimator's class order)
    return spec.name
