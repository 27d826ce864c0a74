"""``--method-arg METHOD.KEY=VALUE``: parsing, and matching each option to a ``--methods`` entry.

``METHOD`` is a method as written in ``--methods`` (``nlm``, ``folder:theirs=/x``, ``spandrel:/w/x.pth``,
``my_methods:make``) or the name its records carry (``theirs``, ``spandrel:x.pth``, a plug-in's
``name``). A spec that itself holds ``=`` or ``.`` is matched as a whole, so
``folder:theirs=/x/out.strict=false`` and ``theirs.strict=false`` both reach the folder method. An
option for a name that is no method of the run is refused (did-you-mean), never silently dropped.
Values are parsed as JSON when they parse (numbers, booleans, lists), else kept as strings. NaN and
infinity are refused in every option (``nan``, ``Infinity``, ``1e999``, inside lists too): no method
option takes them, and a NaN strength would score a method that did nothing.
"""

from __future__ import annotations

import json
import math
from typing import Any

from abair.errors import UserError, did_you_mean, shorten

from .methods import record_name


def _split(item: str, names: list[str]) -> tuple[str, str, str]:
    """``"nlm.h_factor=0.7"`` -> ``("nlm", "h_factor", "0.7")``; a known name is matched whole first."""
    for name in sorted(names, key=len, reverse=True):
        if item.startswith(name + "."):
            option, sep, raw = item[len(name) + 1 :].partition("=")
            if sep and option:
                return name, option, raw
    key, sep, raw = item.partition("=")
    method, dot, option = key.rpartition(".")
    if not sep or not dot or not method or not option:
        raise UserError(f"--method-arg '{shorten(item)}' must look like METHOD.KEY=VALUE")
    return method, option, raw


def parse_method_args(items: list[str] | None, methods: list[str] = ()) -> dict[str, dict[str, Any]]:
    """``["restormer.checkpoint=/x.pth", "nlm.h_factor=0.8"]`` -> ``{"restormer": {"checkpoint": "/x.pth"}, ...}``.

    ``methods`` (the ``--methods`` entries) lets a method name holding ``=`` or ``.`` be matched whole.
    Keys are the method names as written in the items; ``-`` in option names becomes ``_``.
    """
    names = [*methods, *filter(None, map(record_name, methods))]
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        method, option, raw = _split(item, names)
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        _check_finite(method, option, value, raw)  # json.loads reads NaN, Infinity and 1e999 as floats
        out.setdefault(method, {})[option.replace("-", "_")] = value
    return out


def assign(methods: list[str], method_args: dict[str, dict[str, Any]]) -> tuple[dict[str, dict], dict[str, dict]]:
    """Options per ``--methods`` entry (given under the entry or its known record name), and the
    options under names not (yet) matched: ``(per_method, unmatched)``."""
    unmatched = {key: dict(options) for key, options in method_args.items()}
    for key, options in unmatched.items():
        for option, value in options.items():
            _check_finite(key, option, value)
    per_method: dict[str, dict] = {}
    for name in methods:
        options: dict[str, Any] = {}
        for key in dict.fromkeys((name, record_name(name))):
            options.update(unmatched.pop(key, {}) if key else {})
        per_method[name] = options
    return per_method, unmatched


def _is_finite(value: Any) -> bool:
    """False for a NaN or infinite number, or a string ``float()`` reads as one (``"nan"``, ``"-inf"``),
    also inside lists and dicts."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(map(_is_finite, value))
    if isinstance(value, dict):
        return all(map(_is_finite, value.values()))
    return True


def _check_finite(method: str, option: str, value: Any, text: str | None = None) -> None:
    """UserError naming the option when ``value`` (typed as ``text``) is or holds a NaN or infinity."""
    if not _is_finite(value):
        raise UserError(f"--method-arg {shorten(method)}.{shorten(option)}={shorten(value if text is None else text)}: "
                        "NaN and infinity are not accepted; give a finite number")


def refuse_unmatched(unmatched: dict[str, dict], methods: list[str], record_names: list[str]) -> None:
    """UserError for the first ``--method-arg`` whose method is not in the run (did-you-mean)."""
    for key, options in unmatched.items():
        known = list(dict.fromkeys([*methods, *record_names]))
        raise UserError(
            f"--method-arg {shorten(key)}.{shorten(next(iter(options)))}=...: '{shorten(key)}' is not a method of this run"
            f"{did_you_mean(key, known)}; --methods has {', '.join(methods)}"
        )
