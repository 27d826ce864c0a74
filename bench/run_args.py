"""Checks of a run's arguments that ``abair-bench run`` and ``bench.evaluate`` share, made before
anything is built or written: each refusal is one :class:`UserError` line naming the argument.
Imports nothing heavy (the protocol table only).
"""

from __future__ import annotations

from abair.errors import UserError, shorten


def check_protocols(specs: list[str] | None) -> None:
    """Refuse two protocol specs whose records would carry the same protocol (and so the same
    ``(method, dataset, image, protocol, metric)`` keys): ``allinone-rgb@skimage`` and
    ``allinone-rgb@torch`` are both recorded as ``allinone-rgb`` (both backends are exact)."""
    from .protocols import RUNNER_BACKEND, get_protocol

    recorded: dict[str, str] = {}
    for spec in specs or []:
        protocol = get_protocol(spec, default_backend=RUNNER_BACKEND)
        if protocol.spec in recorded:
            first = recorded[protocol.spec]
            why = "is given twice" if first.strip() == spec.strip() else \
                f"and '{shorten(spec)}' both record their numbers as protocol '{protocol.spec}'"
            raise UserError(f"protocols: '{shorten(first)}' {why} (one record per image and metric); keep one of them")
        recorded[protocol.spec] = spec


def check_dataset_paths_used(paths: dict[str, str], datasets: list[str]) -> None:
    """Refuse a dataset path (``NAME=PATH``) for a dataset this run does not score: ``NAME`` must be one
    of ``datasets`` or the family one of them reads (``cbsd68`` for ``cbsd68-s25``)."""
    from .datasets.real import SETS

    used = set(datasets) | {SETS[name].family for name in datasets if name in SETS}
    for name, path in paths.items():
        if name not in used:
            raise UserError(f"dataset path {shorten(name)}={shorten(path)}: '{shorten(name)}' is not a dataset of this "
                            f"run (its datasets: {shorten(', '.join(datasets), 300)}); leave the path out or add "
                            "the dataset")
