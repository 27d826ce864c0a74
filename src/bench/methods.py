"""The method registry: every name ``abair-bench run --methods`` accepts.

Three ways to get a method:

- a registered name (``identity``, ``abair-sw``, ``nlm``, ``restormer`` ...), see ``abair-bench methods list``;
- ``module:callable`` (any importable factory returning a :class:`baselines.base.Method`);
- a third-party package's entry point in the group ``abair_bench.methods``.

Options reach the factory as keyword arguments from ``--method-arg NAME.key=value``.
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any

from abair.errors import UserError

from .registry import Registry, import_target

ENTRY_POINT_GROUP = "abair_bench.methods"

METHODS = Registry("method", "abair-bench methods list")
METHODS.register(
    "identity", "baselines.identity:make", task="any", needs="none",
    summary="returns the degraded input; the floor every table shows",
)


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def list_methods() -> list[dict[str, Any]]:
    """One row per known method (registered, then entry points) for ``methods list``."""
    rows = [{"name": e.name, **e.meta} for e in (METHODS.entry(n) for n in METHODS.names())]
    for name, ep in sorted(_entry_points().items()):
        if name not in METHODS:
            rows.append({"name": name, "task": "?", "needs": "?", "summary": f"plug-in {ep.value}"})
    return rows


def parse_method_args(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """``["restormer.checkpoint=/x.pth", "nlm.h=0.8"]`` -> ``{"restormer": {"checkpoint": "/x.pth"}, ...}``.

    Values are parsed as JSON when they parse (numbers, booleans, lists), else kept as strings.
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        method, dot, option = key.rpartition(".")
        if not sep or not dot or not method or not option:
            raise UserError(f"--method-arg '{item}' must look like METHOD.KEY=VALUE")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(method, {})[option.replace("-", "_")] = value
    return out


def create_method(name: str, **options: Any):
    """Instantiate a method by registry name, ``module:callable`` or entry point."""
    if name in METHODS:
        factory = METHODS.load(name)
    elif ":" in name:
        factory = import_target(name)
    else:
        eps = _entry_points()
        if name in eps:
            factory = eps[name].load()
        else:
            METHODS.entry(name)  # raises the did-you-mean UserError
            raise AssertionError("unreachable")
    try:
        method = factory(**options)
    except TypeError as exc:
        raise UserError(f"method '{name}': bad options {sorted(options)}: {exc}") from None
    if not hasattr(method, "restore"):
        raise UserError(f"'{name}' did not return a method (an object with .restore), got {type(method).__name__}")
    if ":" in name or name not in METHODS:
        method.name = getattr(method, "name", None) or name
    return method


def factory_accepts(name: str, option: str) -> bool:
    """Whether the registered factory of ``name`` takes the keyword ``option`` (e.g. ``checkpoint``)."""
    import inspect

    if name not in METHODS:
        return False
    try:
        params = inspect.signature(METHODS.load(name)).parameters
    except (TypeError, ValueError):
        return False
    return option in params
