"""Training recipes: YAML files shipped in ``abair/recipes/`` (``tiny``, ``small``, ``paper``) or any path.

A recipe is a nested mapping (see ``abair/recipes/tiny.yaml`` for the annotated reference)::

    name, seed, amp, model: {...}, phase1: {...}, phase2: {...}, phase3: {...}, add: {...}

:func:`load_recipe` reads and validates one; :func:`apply_overrides` applies ``key=value`` strings
at any depth (``phase1.steps=100``, ``phase2.per_adapter.blur.steps=5``; values parsed as YAML; a
``phase2`` value reaches every adapter). Unknown keys, wrong types and out-of-range values raise a
one-line :class:`~abair.errors.UserError` naming the key.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from abair.errors import UserError, did_you_mean, unknown_name

SHIPPED = ("tiny", "small", "paper")
PHASE1_DATA = ("cutmix", "synthetic", "task-only")
AMP_MODES = ("auto", "bf16", "fp16", "off")

# key -> type (int/float/bool/str/list) for every phase block
_OPTIM = {
    "steps": int, "batch": int, "crop": int, "lr": float, "min_lr": float, "weight_decay": float,
    "warmup": int, "grad_clip": float, "checkpoint_every": int, "log_every": int, "accumulate": int,
}
SCHEMA: dict[str, Any] = {
    "name": str,
    "seed": int,
    "amp": str,
    "threads": int,
    "channels_last": bool,
    "compile": bool,
    "checkpointing": bool,
    "data": {"clean": list, "train": dict, "stream": str, "synthesis": str, "workers": int, "prefetch": int,
             "skip_bad": bool},
    "model": {"preset": str, "adapter_type": str, "rank": int, "adapters": list, "estimator_activation": str,
              "estimator": {"input_size": int, "widths": list, "depth": int, "view": str, "max_crops": int}},
    "phase1": {**_OPTIM, "loss": str, "data": str, "aux_seg": bool, "seg_weight": float, "degradations": list},
    "phase2": {**_OPTIM, "loss": str, "soft_clean": float, "soft_radius": list, "per_adapter": dict},
    "phase3": {**_OPTIM, "mixed_fraction": float, "restoration_weight": float, "real_fraction": float},
    "add": {"adapters": list},
}


def recipe_path(name_or_path: str) -> Path:
    """The file of a shipped recipe name, or ``name_or_path`` itself when it is an existing file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise UserError(f"recipe file '{p}' does not exist; use one of {', '.join(SHIPPED)} or a YAML path")
        return p
    if name_or_path not in SHIPPED:
        raise unknown_name("recipe", name_or_path, SHIPPED)
    return Path(str(resources.files("abair").joinpath(f"recipes/{name_or_path}.yaml")))


def load_recipe(name_or_path: str, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Read, override (``key=value``) and validate a recipe; returns a plain nested dict."""
    import yaml

    path = recipe_path(name_or_path)
    try:
        recipe = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"recipe '{path}' is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(recipe, dict):
        raise UserError(f"recipe '{path}' must be a mapping (name, seed, model, phase1, ...)")
    recipe = apply_overrides(recipe, overrides)
    validate(recipe, str(path))
    return recipe


def apply_overrides(recipe: dict, overrides: Iterable[str]) -> dict:
    """A copy of ``recipe`` with each ``dotted.key=value`` set (value parsed as YAML).

    Keys reach every level of the recipe (``model.estimator.max_crops=9``,
    ``phase2.per_adapter.blur.steps=5``, ``phase2.per_adapter.blur.params.kind=defocus``,
    ``data.train.rain=rain100l-train``) and are checked against :data:`SCHEMA` as they are read: an
    unknown key names the nearest known one, and ``phase2.per_adapter.<name>`` must name one of the
    recipe's adapters (``model.adapters`` or ``add.adapters``, after every override). A value given
    here for every adapter (``phase2.<key>``, ``model.rank``, ``model.adapter_type``) reaches every
    adapter: it replaces that key in the ``per_adapter`` entries of ``recipe``, but not in entries
    set by ``overrides`` themselves (``phase2.per_adapter.blur.steps=5`` wins for blur, in any order).
    """
    out = copy.deepcopy(recipe)
    given: list[tuple[str, ...]] = []
    for item in overrides:
        if "=" not in item:
            raise UserError(f"a recipe override must look like key=value (e.g. phase1.steps=100), got '{item}'")
        key, raw = item.split("=", 1)
        parts = _override_key(key.strip())
        node = out
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = _yaml_value(raw)
        given.append(parts)
    _check_override_adapters(out, given)
    _reach_every_adapter(out, given)
    return out


def _yaml_value(raw: str) -> Any:
    """``raw`` parsed as YAML; the text itself when it is not valid YAML."""
    import yaml

    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _override_key(key: str) -> tuple[str, ...]:
    """The parts of a dotted recipe key, checked against :data:`SCHEMA` at every level.

    Below ``phase2.per_adapter`` comes an adapter name, then the keys of :data:`PER_ADAPTER_KEYS`;
    the other mappings of names (``data.train``, ``params``) take any name, checked with the recipe."""
    parts = tuple(key.split("."))
    schema: Any = SCHEMA
    for i, part in enumerate(parts):
        section = ".".join(parts[:i])
        if schema is dict:  # a mapping of names: an adapter, a degradation, an operator parameter
            schema = PER_ADAPTER_KEYS if section == "phase2.per_adapter" else None
            continue
        if not isinstance(schema, dict):
            raise UserError(f"recipe key '{key}': '{section}' is a value, not a section; set '{section}' itself")
        if part not in schema:
            owner = f"'{section}'" if section else "the recipe"
            hint = did_you_mean(part, list(schema)) or f"; {owner} has {', '.join(schema)}"
            raise UserError(f"unknown recipe key '{key}'{hint}")
        schema = schema[part]
    if isinstance(schema, dict) and schema is not PER_ADAPTER_KEYS:
        raise UserError(f"recipe key '{key}' is a section; set one of its keys ({', '.join(schema)})")
    return parts


def _check_override_adapters(recipe: dict, given: list[tuple[str, ...]]) -> None:
    """Every ``phase2.per_adapter.<name>.…`` override names one of the recipe's adapters."""
    model, add = recipe.get("model", {}), recipe.get("add", {})
    adapters = list(model.get("adapters", [])) + list(add.get("adapters", []))
    for parts in given:
        if parts[:2] == ("phase2", "per_adapter") and len(parts) > 2 and parts[2] not in adapters:
            raise UserError(f"recipe key '{'.'.join(parts)}': '{parts[2]}' is not one of the recipe's adapters"
                            f"{did_you_mean(parts[2], adapters)}; they are "
                            f"{', '.join(model.get('adapters', [])) or 'none'} (model.adapters) and "
                            f"{', '.join(add.get('adapters', [])) or 'none'} (add.adapters: list a new adapter "
                            "there)")


def _reach_every_adapter(recipe: dict, given: list[tuple[str, ...]]) -> None:
    """Drop from the ``per_adapter`` entries the keys that an override sets for every adapter,
    unless an override set that entry's key too (see :func:`apply_overrides`)."""
    wide = {("model", "rank"): "rank", ("model", "adapter_type"): "adapter_type"}
    wide.update({("phase2", k): k for k in PER_ADAPTER_KEYS if k in SCHEMA["phase2"] and k != "per_adapter"})
    entries = recipe.get("phase2", {}).get("per_adapter")
    if not isinstance(entries, dict):
        return
    for parts in given:
        if parts not in wide:
            continue
        for name, entry in entries.items():
            own = ("phase2", "per_adapter", name, wide[parts])
            if isinstance(entry, dict) and not any(own[:n] in given for n in (2, 3, 4)):
                entry.pop(wide[parts], None)


def validate(recipe: dict, where: str = "recipe") -> None:
    """Check keys and types against :data:`SCHEMA` and the value ranges; UserError on the first problem."""
    _check_block(recipe, SCHEMA, where, "")
    _check_finite(recipe, where, "")
    for key in ("model", "phase1", "phase2", "phase3"):
        if key not in recipe:
            raise UserError(f"{where}: section '{key}' is missing")
    _check_processes(recipe, where)
    if recipe.get("amp", "auto") not in AMP_MODES:
        raise UserError(f"{where}: amp must be one of {', '.join(AMP_MODES)}, got '{recipe['amp']}'")
    p1 = recipe["phase1"]
    if p1.get("data", "cutmix") not in PHASE1_DATA:
        raise unknown_name("phase1.data", p1.get("data"), PHASE1_DATA)
    from abair.degradations import DEGRADATIONS

    for name in list(p1.get("degradations", [])) + list(recipe["model"].get("adapters", [])) + list(
            recipe.get("add", {}).get("adapters", [])):
        if name not in DEGRADATIONS:
            raise unknown_name("degradation", name, DEGRADATIONS)
    from abair.model.adapters import ADAPTER_TYPES

    if recipe["model"].get("adapter_type", "lora") not in ADAPTER_TYPES:
        raise unknown_name("adapter type in model.adapter_type", recipe["model"]["adapter_type"], ADAPTER_TYPES)
    for phase in ("phase1", "phase2", "phase3"):
        block = recipe[phase]
        for key in ("steps", "batch", "lr"):
            if key not in block:
                raise UserError(f"{where}: {phase}.{key} is missing")
        if block["steps"] < 0 or block["batch"] < 1 or block["lr"] <= 0:
            raise UserError(f"{where}: {phase} needs steps >= 0, batch >= 1 and lr > 0")
        _check_accumulate(block, where, f"{phase}.")
        if block.get("crop", 64) % 8:
            raise UserError(f"{where}: {phase}.crop must be a multiple of 8 (the model's size rule), "
                            f"got {block['crop']}")
        _check_periods(block, where, f"{phase}.")
    for name, extra in recipe["phase2"].get("per_adapter", {}).items():
        _check_per_adapter(name, extra, where, DEGRADATIONS)
    _check_losses(recipe, where)
    _check_soft(recipe["phase2"], where, "phase2.")
    _check_data(recipe.get("data", {}), where, DEGRADATIONS)
    for key in ("mixed_fraction", "real_fraction"):
        frac = recipe["phase3"].get(key, 0.0)
        if not 0.0 <= frac <= 1.0:
            raise UserError(f"{where}: phase3.{key} must be in [0, 1], got {frac}")
    if recipe["phase3"].get("real_fraction", 0.0) > 0 and recipe.get("data", {}).get("stream") == "rank":
        raise UserError(f"{where}: phase3.real_fraction > 0 needs data.stream 'sample' (the 'rank' stream draws "
                        "every crop of a batch from one generator)")


#: keys one adapter may override in ``phase2.per_adapter.<name>``: the optimiser settings, the
#: adapter's rank and type, and ``params``: fixed degradation parameters of its training data
PER_ADAPTER_KEYS = {**_OPTIM, "loss": str, "soft_clean": float, "soft_radius": list, "rank": int, "adapter_type": str,
                    "params": dict}


def _check_per_adapter(name: str, extra: Any, where: str, degradations) -> None:
    from abair.model.adapters import ADAPTER_TYPES

    if name not in degradations:
        raise unknown_name("degradation in phase2.per_adapter", name, degradations)
    _check_block(extra, PER_ADAPTER_KEYS, where, f"phase2.per_adapter.{name}.")
    _check_periods(extra, where, f"phase2.per_adapter.{name}.")
    if extra.get("crop", 64) % 8:
        raise UserError(f"{where}: phase2.per_adapter.{name}.crop must be a multiple of 8, got {extra['crop']}")
    _check_soft(extra, where, f"phase2.per_adapter.{name}.")
    _check_accumulate(extra, where, f"phase2.per_adapter.{name}.")
    if extra.get("adapter_type", "lora") not in ADAPTER_TYPES:
        raise unknown_name(f"adapter type in phase2.per_adapter.{name}.adapter_type", extra["adapter_type"],
                           ADAPTER_TYPES)
    if extra.get("rank", 1) < 1:
        raise UserError(f"{where}: phase2.per_adapter.{name}.rank must be >= 1, got {extra['rank']}")
    if extra.get("params"):
        _check_operator_params(name, extra["params"], where)


def _check_finite(value: Any, where: str, key: str) -> None:
    """No NaN or infinity anywhere in the recipe (YAML's ``.nan``/``.inf`` pass every ``>``/``<`` test)."""
    import math

    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, where, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(v, where, f"{key}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{where}: '{key}' must be a finite number, got {value}")


def _check_periods(block: dict, where: str, prefix: str) -> None:
    """``checkpoint_every`` and ``log_every``: periods in steps, >= 1."""
    for key in ("checkpoint_every", "log_every"):
        if block.get(key, 1) < 1:
            raise UserError(f"{where}: {prefix}{key} must be >= 1 (a number of steps), got {block[key]}")


def _check_processes(recipe: dict, where: str) -> None:
    """``threads`` in [0, usable cores] (0: torch's default) and ``data.workers`` in [0, usable cores]:
    more only oversubscribes the CPU."""
    from abair.children import check_count

    try:
        check_count(recipe.get("threads", 0), "threads", low=0)
        check_count(recipe.get("data", {}).get("workers", 0), "data.workers", low=0)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None


def _check_data(data: dict, where: str, degradations) -> None:
    """The ``data`` block: stream, synthesis and worker settings, and the names of the training sets
    (``clean``: names or paths; ``train``: degradation -> a name/path or a list of them)."""
    from .data import STREAMS, SYNTHESIS

    if data.get("stream", "sample") not in STREAMS:
        raise UserError(f"{where}: data.stream must be one of {', '.join(STREAMS)}, got '{data['stream']}'")
    if data.get("synthesis", "auto") not in SYNTHESIS:
        raise UserError(f"{where}: data.synthesis must be one of {', '.join(SYNTHESIS)}, got '{data['synthesis']}'")
    if data.get("stream") == "rank" and data.get("synthesis") == "device":
        raise UserError(f"{where}: data.synthesis 'device' needs data.stream 'sample' (the 'rank' stream draws "
                        "crops and degradations from one generator)")
    if data.get("workers", 0) < 0 or data.get("prefetch", 1) < 1:
        raise UserError(f"{where}: data.workers must be >= 0 and data.prefetch >= 1")
    for item in data.get("clean", []):
        if not isinstance(item, str) or not item:
            raise UserError(f"{where}: data.clean lists names or paths of clean image sets, got {item!r}")
    for name, sets in data.get("train", {}).items():
        if name not in degradations:
            raise unknown_name("degradation in data.train", name, degradations)
        items = sets if isinstance(sets, list) else [sets]
        if not items or not all(isinstance(i, str) and i for i in items):
            raise UserError(f"{where}: data.train.{name} must be a training set name or path (or a list of "
                            f"clean-image sets), got {sets!r}")


def _check_accumulate(block: dict, where: str, prefix: str) -> None:
    """``accumulate`` (micro-batches per optimiser step) >= 1 and dividing the block's global ``batch``."""
    n = block.get("accumulate", 1)
    if n < 1:
        raise UserError(f"{where}: {prefix}accumulate must be >= 1 (micro-batches per optimiser step), got {n}")
    if "batch" in block and block["batch"] % n:
        raise UserError(f"{where}: {prefix}accumulate {n} does not divide {prefix}batch {block['batch']}; "
                        "use a divisor of the batch")


def _check_soft(block: dict, where: str, prefix: str) -> None:
    """``soft_clean`` in [0, 1] and ``soft_radius`` a valid range, where the block sets them."""
    from .data import check_soft_radius

    if not 0.0 <= block.get("soft_clean", 0.0) <= 1.0:
        raise UserError(f"{where}: {prefix}soft_clean must be in [0, 1], got {block['soft_clean']}")
    if "soft_radius" in block:
        try:
            check_soft_radius(block["soft_radius"])
        except UserError as exc:
            raise UserError(f"{where}: {prefix}{exc}") from None


def _check_losses(recipe: dict, where: str) -> None:
    from .losses import LOSSES

    places = [("phase1.loss", recipe["phase1"]), ("phase2.loss", recipe["phase2"])] + [
        (f"phase2.per_adapter.{name}.loss", extra) for name, extra in recipe["phase2"].get("per_adapter", {}).items()]
    for key, block in places:
        if block.get("loss", "l1") not in LOSSES:
            raise UserError(f"{where}: {key} must be one of {', '.join(LOSSES)}, got '{block['loss']}'")


def _check_operator_params(name: str, params: dict, where: str) -> None:
    """Fail now, in one line, on parameters the degradation operator would refuse at step 0."""
    import inspect

    import torch

    from abair.degradations import apply, get_operator

    known = [p for p in inspect.signature(get_operator(name)).parameters if p not in ("image", "generator")]
    for key in params:
        if key not in known:
            raise UserError(f"{where}: phase2.per_adapter.{name}.params: the {name} operator has no parameter "
                            f"'{key}'{did_you_mean(key, known)}; its parameters: {', '.join(known)}")
    try:
        apply(name, torch.full((3, 64, 64), 0.5), 0, **params)
    except UserError as exc:
        raise UserError(f"{where}: phase2.per_adapter.{name}.params: {exc}") from None


def adapter_recipe(recipe: dict, name: str) -> dict:
    """The recipe as adapter ``name`` is trained with it: ``phase2`` merged with
    ``phase2.per_adapter.<name>`` (absent: unchanged), and ``model.rank`` / ``model.adapter_type``
    from it when it sets them.
    ``phase2.params`` then holds the fixed degradation parameters of the training data (may be empty)."""
    out = copy.deepcopy(recipe)
    block = out["phase2"]
    extra = dict(block.pop("per_adapter", {}).get(name, {}))
    for key in ("rank", "adapter_type"):
        if key in extra:
            out["model"][key] = extra.pop(key)
    block["params"] = extra.pop("params", {})
    block.update(extra)
    return out


def _check_block(block: Any, schema: dict, where: str, prefix: str) -> None:
    if not isinstance(block, dict):
        raise UserError(f"{where}: '{prefix.rstrip('.') or 'recipe'}' must be a mapping")
    for key, value in block.items():
        if key not in schema:
            raise UserError(f"{where}: unknown key '{prefix}{key}'{did_you_mean(key, list(schema))}")
        kind = schema[key]
        if isinstance(kind, dict):
            _check_block(value, kind, where, f"{prefix}{key}.")
        elif kind is float and isinstance(value, int | str) and not isinstance(value, bool) and _is_float(value):
            block[key] = float(value)  # YAML 1.1 reads "1e-3" (no dot) as a string
        elif kind is int and isinstance(value, bool) or not isinstance(value, kind):
            raise UserError(f"{where}: '{prefix}{key}' must be {kind.__name__}, got {value!r}")


def _is_float(value) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
