"""Methods registered from Python code: ``@baselines.register`` on a :class:`baselines.Method` subclass
(or on a factory function returning one).

::

    import baselines

    @baselines.register("unsharp", task="deblur", summary="unsharp masking")
    class Unsharp(baselines.Method):
        name = "unsharp"

        def restore(self, batch, context):
            ...

A registered name works everywhere a method name does in this process (``bench.evaluate``,
``abair-bench`` run from the same interpreter). For methods another process must find (a separate
``abair-bench`` command, torchrun workers), publish them as an entry point in the ``abair_bench.methods``
group or name them as ``module:callable`` (docs/METHODS.md). Registration checks the type at once:
a class must derive from :class:`Method` and implement ``restore``; a built-in method's name
(``identity``, ``nlm``, ...) cannot be registered, nor a class whose ``name`` attribute is one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .base import Method


@dataclass(frozen=True)
class Registered:
    factory: Callable[..., Method]
    meta: dict[str, Any] = field(default_factory=dict)


REGISTERED: dict[str, Registered] = {}

#: names :func:`register` refuses: the harness's built-in methods. The harness (``bench.methods``) fills
#: it with :func:`reserve` when it is imported; ``baselines`` never imports ``bench`` (the dependency rule).
#: A registration made before that is refused when the method is created (``bench.methods.create_method``).
_reserved: Callable[[], set[str]] | None = None


def reserve(names: Callable[[], set[str]]) -> None:
    """Give :func:`register` the built-in names it must refuse (a callable, read at each registration)."""
    global _reserved
    _reserved = names


def _check(obj, name: str) -> None:
    if inspect.isclass(obj):
        if not issubclass(obj, Method):
            raise TypeError(f"register('{name}'): {obj.__name__} must derive from baselines.Method")
        if obj.restore is Method.restore:
            raise TypeError(f"register('{name}'): {obj.__name__} does not implement restore(batch, context)")
    elif not callable(obj):
        raise TypeError(f"register('{name}'): expected a Method subclass or a factory function, got "
                        f"{type(obj).__name__}")


def register(name: str | None = None, *, task: str = "any", needs: str = "none", summary: str = "",
             replace: bool = False):
    """Decorator: make a :class:`Method` subclass (or a factory returning a method) available by ``name``
    (default: the class's ``name`` attribute, else the function's name). ``replace`` allows registering
    a name again (e.g. re-running a notebook cell); otherwise a second registration is a ValueError.
    A built-in method's name (or a class whose ``name`` attribute is one) is a UserError (a ValueError):
    its records would carry the built-in's name."""

    def decorate(obj):
        key = name or (getattr(obj, "name", None) if inspect.isclass(obj) else None) or obj.__name__
        if not key or key == Method.name:
            raise ValueError("register: give the method a name (register('my-method') or a class attribute)")
        _check(obj, key)
        _check_not_builtin(obj, key)
        if key in REGISTERED and not replace and REGISTERED[key].factory is not obj:
            raise ValueError(f"register: a method named '{key}' is already registered; pass replace=True")
        summary_text = summary or (inspect.getdoc(obj) or "").split("\n")[0]
        REGISTERED[key] = Registered(obj, {"task": task, "needs": needs, "summary": summary_text})
        return obj

    return decorate


def _check_not_builtin(obj, key: str) -> None:
    from abair.errors import UserError, shorten

    builtin = _reserved() if _reserved is not None else set()
    attribute = getattr(obj, "name", None) if inspect.isclass(obj) else None
    for what, value in (("the name", key), ("the class attribute name", attribute)):
        if isinstance(value, str) and value in builtin:
            raise UserError(f"register('{shorten(key)}'): {what} '{value}' is a built-in method's; give the method a "
                            "name of its own")


def unregister(name: str) -> None:
    """Forget a registered method (no error if it is not registered)."""
    REGISTERED.pop(name, None)
