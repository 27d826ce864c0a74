"""The registry of published methods ported here: one :class:`Port` per folder ``baselines/published/<name>/``.

Each folder's ``__init__.py`` declares ``PORT = Port(...)``: the name ``--methods`` takes, the factory
(and, for a family with named variants, its record-name function), the line ``methods list`` shows,
how its released checkpoints are recognised (a signature test and a declared detection rank), the
profile configuration, and where the method comes from (upstream repository, its licence, the
paper), its architecture's configuration and builder, its catalog facts. ``bench/methods.py``,
``bench/profile/configs.py``, :mod:`baselines.catalog` and :mod:`baselines.archs.loading` read this registry, so a new port is one new
folder (docs/METHODS.md, "Adding a published method"). Nothing here imports torch.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Port", "ports", "port", "detection_order", "resolve"]


@dataclass(frozen=True)
class Port:
    """One published method.

    Attributes:
        name: the ``--methods`` name (``x-restormer``); with ``variants``, also the prefix of
            ``NAME:<variant>``.
        display: the architecture's name in messages and tables (``X-Restormer``).
        factory: ``module:callable`` building the method; a ``variants`` family's factory takes the
            variant ('' for none) as its first argument.
        summary: the one line of ``abair-bench methods list``.
        rank: position in listings (lower first).
        signature: True for a state dict of this method's released files (no ``module.``/``net.``
            prefix); None when its files are recognised elsewhere.
        detect_rank: the order signatures are tried (lower first): a port whose keys contain another's
            (IDR's U-net has Restormer's keys) must be tried before it.
        variants: whether ``NAME:<variant>`` names released files (a prefix family).
        record_name: ``module:callable``, ``variant -> recorded method name`` (``variants`` only).
        needs: the ``needs`` column of ``methods list`` (default: the checkpoint option).
        profile: the summary of its ``abair-bench profile`` configuration (None: not profiled);
            the profiled method is built by :func:`baselines.published.profile_method`.
        profile_builder: ``module:callable`` returning the registered method with random weights at the
            main release's size; or, for a port with an ``arch``,
        released_as: ``module:callable`` wrapping ``(network, config, None)`` into the method, built from
            :func:`baselines.published.released_network` with ``build_options``.
        arch: ``module:attribute`` of its :class:`baselines.archs.loading.ArchSpec` (how the configuration is
            read from a state dict and the network built), for a port loaded by
            :func:`baselines.archs.loading.load_architecture`; None for one with a loader of its own.
        catalog: its :class:`baselines.catalog.Published` entry (paper tables, released files and variants
            with their parameter counts, the authors' test pipeline, notes) for ``methods list/info``.
        upstream: the authors' repository (``owner/name`` on GitHub).
        licence: the licence of the authors' repository, as it states it.
        paper: the paper the port implements.
    """

    name: str
    display: str
    factory: str
    summary: str
    rank: int
    signature: Callable[[Mapping[str, Any]], bool] | None = None
    detect_rank: int = 100
    variants: bool = False
    record_name: str | None = None
    needs: str | None = None
    profile: str | None = None
    profile_builder: str | None = None
    released_as: str | None = None
    build_options: tuple[tuple[str, Any], ...] = ()
    arch: str | None = None
    catalog: Any = None
    upstream: str = ""
    licence: str = ""
    paper: str = ""

    @property
    def needs_line(self) -> str:
        return self.needs or f"weights (--method-arg {self.name}.checkpoint=PATH)"


@functools.cache
def ports() -> tuple[Port, ...]:
    """Every port found under ``baselines/published/`` (each sub-package's ``PORT``), in listing order."""
    import baselines.published as package

    found = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.ispkg:
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            if isinstance(getattr(module, "PORT", None), Port):
                found.append(module.PORT)
    names = [p.name for p in found]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise RuntimeError(f"two published ports share the name {clashes[0]!r}; each needs its own")
    return tuple(sorted(found, key=lambda p: (p.rank, p.name)))


def port(name: str) -> Port | None:
    """The port named ``name`` (``x-restormer``; ``mprnet:deblur`` gives ``mprnet``'s), or None."""
    base = name.partition(":")[0]
    return next((p for p in ports() if p.name == base), None)


def detection_order() -> list[Port]:
    """The ports that recognise their checkpoints, in the declared order their signatures are tried."""
    return sorted((p for p in ports() if p.signature is not None), key=lambda p: (p.detect_rank, p.name))


def resolve(target: str) -> Any:
    """The object ``"package.module:attribute"`` names (a port's factory, record-name or profile builder)."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
