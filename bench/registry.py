"""A small lazy registry: names map to ``"module:attribute"`` strings imported on first use.

Used for methods, datasets, suites and protocols so that listing names never imports torch and an
unknown name gets a "did you mean" error.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from abair.errors import UserError, shorten, unknown_name


@dataclass
class Entry:
    name: str
    target: str  # "package.module:attribute"
    meta: dict[str, Any] = field(default_factory=dict)


def import_target(target: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute; a readable error if missing."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise UserError(f"'{shorten(target)}' is not of the form 'module:attribute'")
    try:
        obj = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UserError(f"cannot import module '{shorten(module_name)}' (from '{shorten(target)}'): "
                        f"{shorten(exc)}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserError(f"module '{shorten(module_name)}' has no attribute '{shorten(attr)}' "
                            f"(from '{shorten(target)}')") from None
    return obj


class Registry:
    """Names -> lazily imported targets, with metadata for listings."""

    def __init__(self, kind: str, list_command: str):
        self.kind = kind
        self.list_command = list_command
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, target: str, **meta: Any) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' registered twice")
        self._entries[name] = Entry(name, target, meta)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return list(self._entries)

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise unknown_name(self.kind, name, self._entries, self.list_command) from None

    def load(self, name: str) -> Any:
        return import_target(self.entry(name).target)
