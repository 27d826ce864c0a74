"""Test-set registry: dataset names and suites (named lists of datasets).

Every registered dataset has a factory ``factory(name, options) -> Dataset`` (lazily imported) and
metadata shown by ``abair-bench datasets list``: ``task``, ``count`` (expected pairs),
``protocol`` (default metric protocol), ``suite`` and a one-line ``summary``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from abair.errors import UserError, unknown_name
from bench.registry import Registry

DATASETS = Registry("dataset", "abair-bench datasets list")
SUITES: dict[str, list[str]] = {}
#: the test-time noise realisations of the CBSD68 sets (docs/DATASETS.md)
NOISE_SEEDINGS = ("per-image", "promptir")
HF_PREFIX = "hf:"  # dataset names "hf:<local dir or hub id>" load a Hugging Face dataset


@dataclass
class DatasetOptions:
    """Where and how to load real test sets (ignored by the embedded mini suite).

    ``data_root`` defaults to ``$ABAIR_DATA``; ``dataset_paths`` maps a dataset name to a folder
    that overrides discovery; ``noise_seeding`` is ``"per-image"`` or ``"promptir"``.
    """

    data_root: str | None = None
    dataset_paths: dict[str, str] = field(default_factory=dict)
    noise_seeding: str = "per-image"
    allow_partial: bool = False

    def __post_init__(self):
        if self.data_root is None:
            self.data_root = os.environ.get("ABAIR_DATA") or None
        if self.noise_seeding not in NOISE_SEEDINGS:
            raise unknown_name("noise seeding", str(self.noise_seeding), NOISE_SEEDINGS)


def register_suite(name: str, datasets: list[str]) -> None:
    SUITES[name] = list(datasets)


def suite_datasets(suite: str) -> list[str]:
    if suite not in SUITES:
        raise unknown_name("suite", suite, SUITES, "abair-bench datasets list")
    return list(SUITES[suite])


def get_dataset(name: str, options: DatasetOptions | None = None):
    """Build the dataset ``name`` (raises a one-line UserError for unknown names or broken sets).

    ``hf:<local dir or hub id>`` loads a Hugging Face dataset (see ``abair-bench datasets export``).
    """
    if name.startswith(HF_PREFIX):
        from .real.hf import load_hf

        return load_hf(name, options or DatasetOptions())
    factory = DATASETS.load(name)
    return factory(name, options or DatasetOptions())


def resolve_names(suite: str | None, datasets: list[str] | None) -> list[str]:
    """The dataset names a run covers: ``--datasets`` (checked against the suite if both given)."""
    if suite:
        members = suite_datasets(suite)
        if not datasets:
            return members
        for name in datasets:
            if name not in members:
                raise unknown_name(f"dataset in suite '{suite}'", name, members)
        return list(datasets)
    if not datasets:
        raise UserError("give --suite or --datasets (see 'abair-bench datasets list')")
    for name in datasets:
        if not name.startswith(HF_PREFIX) and DATASETS.entry(name).meta.get("split", "test") != "test":
            from .real import not_a_test_set

            raise UserError(not_a_test_set(name))
    return list(datasets)


# --- registrations -------------------------------------------------------------------------
from . import mini as _mini  # noqa: E402  (registers the embedded suite; imports nothing heavy)

_mini.register(DATASETS, register_suite)
from . import real as _real  # noqa: E402  (the real test sets and the paper-* suites)

_real.register(DATASETS, register_suite)
