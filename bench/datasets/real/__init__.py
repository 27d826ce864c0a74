"""The real benchmark test sets (Rain100L/H, SOTS, CBSD68, GoPro, HIDE, LOL, Snow100K, CSD, JPEG and
bit-depth sets, generated mixed sets, CDD-11) and the training sets (:mod:`.trainsets`, found by
:mod:`bench.datasets.training`): a declarative table (:mod:`.table`), discovery and
pairing (:mod:`.scan`), loaders (:mod:`.loaders`), deep checks (:mod:`.check`) and Hugging Face
export/import (:mod:`.hf`). Importing this package imports nothing heavy.
"""

from __future__ import annotations

from .table import FAMILIES, SETS, SUITES


def not_a_test_set(name: str) -> str:
    """The one-line refusal of a training set or clean corpus where a test set is needed."""
    spec = SETS[name]
    if spec.split == "corpus":
        what, use = "clean corpus", f"--clean-data {name}"
    else:
        what, use = "training set", f"--train-data {spec.degradations[0]}={name}"
    return (f"'{name}' is a {what}, not a test set: train on it ('abair-bench train ... {use}') or choose a "
            "test set ('abair-bench datasets list')")


def register(registry, register_suite) -> None:
    """Add every real set and the ``paper-*`` suites to the dataset registry (training sets and
    corpora too, with ``split`` in their metadata: ``get_dataset`` and suites refuse them)."""
    membership: dict[str, list[str]] = {}
    for suite, members in SUITES.items():
        for name in members:
            if not SETS[name].is_test:
                raise ValueError(f"suite {suite}: '{name}' is not a test set")
            membership.setdefault(name, []).append(suite)
    for name, spec in SETS.items():
        registry.register(
            name,
            "bench.datasets.real.loaders:make",
            task=spec.task,
            count=spec.count,
            protocol=spec.protocol,
            suite=",".join(membership.get(name, [])),
            summary=spec.summary,
            family=spec.family,
            kind="real",
            split=spec.split,
        )
    for suite, members in SUITES.items():
        register_suite(suite, members)


def validate_dataset_paths(paths: dict[str, str], known_names) -> None:
    """Raise the did-you-mean UserError for a ``--dataset-path`` key that is neither a registered
    dataset nor a family (``cbsd68`` covers ``cbsd68-s15/25/50``)."""
    from abair.errors import unknown_name

    choices = list(dict.fromkeys([*known_names, *FAMILIES]))
    for name in paths:
        if name not in choices:
            raise unknown_name("dataset in --dataset-path", name, choices, "abair-bench datasets list")
