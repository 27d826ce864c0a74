"""Find the files of a registered training set: clean corpora (Phase I) and task training sets
(Phase II). Paths only: nothing is decoded here (a corpus can hold 85k files); ``abair-bench
datasets check NAME`` decodes them.

The rows and their layouts are in :mod:`bench.datasets.real.trainsets`; discovery and pairing are
those of the test sets (:mod:`bench.datasets.real.scan`), as strict: a missing partner, a clean file
without a degraded one, a file off the naming rule, a duplicate id or a count other than the
published one refuses the set in one line unless ``allow_partial`` (then only the complete pairs
are returned).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from abair.errors import UserError, unknown_name

KINDS = ("clean", "pairs")


@dataclass(frozen=True)
class TrainingFiles:
    """The files of one training set.

    ``kind`` is ``"clean"`` (``clean`` holds the clean images in natural order of their relative
    paths; degradations are made while training) or ``"pairs"`` (``pairs`` holds ``(degraded,
    clean)`` paths in natural order of the degraded file). ``expected`` is the published count
    (images or pairs), ``None`` where the set has no fixed size (RESIDE OTS). ``folder`` is the
    set's folder, ``layout`` the name of the layout detected there, ``problems`` one line per
    problem found (empty unless ``allow_partial`` let a broken set through). ``source``: for a corpus
    of millions of files (GLDv2, :mod:`.real.gldv2`) its images as one memory-mapped
    :class:`~abair.train.sources.ImageSource`, and ``clean`` is empty.
    """

    name: str
    kind: str
    degradations: tuple[str, ...]
    clean: tuple[Path, ...]
    pairs: tuple[tuple[Path, Path], ...]
    folder: Path
    layout: str
    expected: int | None
    split: str = "train"
    problems: tuple[str, ...] = ()
    source: object = None

    @property
    def count(self) -> int:
        """Images (``clean``) or pairs (``pairs``) found."""
        if self.source is not None:
            return len(self.source)
        return len(self.clean) if self.kind == "clean" else len(self.pairs)

    @property
    def clean_count(self) -> int:
        """Distinct clean images (OTS: fewer than pairs, several hazy images per clear one)."""
        return self.count if self.kind == "clean" else len({c for _d, c in self.pairs})


def _training_specs() -> dict:
    from .real.table import SETS

    return {name: spec for name, spec in SETS.items() if not spec.is_test}


def training_set_names(kind: str | None = None) -> list[str]:
    """Registered training sets in table order; ``kind`` ``"clean"`` or ``"pairs"`` filters them."""
    if kind is not None and kind not in KINDS:
        raise unknown_name("training-set kind", kind, KINDS)
    specs = _training_specs()
    return [n for n, s in specs.items() if kind is None or _kind(s) == kind]


def _kind(spec) -> str:
    return "clean" if all(layout.rule.target is None for layout in spec.layouts) else "pairs"


def find_training_set(name: str, data_root: str | None, dataset_paths: dict | None = None,
                      allow_partial: bool = False) -> TrainingFiles:
    """Locate and pair the training set ``name`` under ``data_root`` (``None``: ``$ABAIR_DATA``).

    ``dataset_paths`` maps a set name to its own folder (every layout of the set is tried there).
    Raises :class:`UserError` (one line) for an unknown name (with did-you-mean), a set not found
    (naming every folder searched and where to get it) or a broken set (unless ``allow_partial``).
    """
    from . import DatasetOptions
    from .real.scan import broken_set_error, scan_set

    specs = _training_specs()
    if name not in specs:
        from .real.table import SETS

        if name in SETS:
            raise UserError(f"'{name}' is a test set, not a training set; training sets: {', '.join(specs)} "
                            "(see 'abair-bench datasets list')")
        raise unknown_name("training set", name, specs, "abair-bench datasets list")
    spec = specs[name]
    options = DatasetOptions(data_root=data_root, dataset_paths=dict(dataset_paths or {}), allow_partial=allow_partial)
    from .real import gldv2

    if name in gldv2.LISTS:  # millions of files: an index built once, not a scan
        return gldv2.find(spec, options, allow_partial)
    scan = scan_set(spec, options)
    if scan.problems and not allow_partial:
        raise broken_set_error(scan)
    if not scan.pairs:
        raise UserError(f"{name}: no files found under {scan.folder} (layout {scan.layout.name}, "
                        f"rule '{scan.layout.rule.describe}')")
    kind = _kind(spec)
    return TrainingFiles(
        name=name,
        kind=kind,
        degradations=spec.degradations,
        clean=tuple(p.clean for p in scan.pairs) if kind == "clean" else (),
        pairs=tuple((p.degraded, p.clean) for p in scan.pairs) if kind == "pairs" else (),
        folder=scan.folder,
        layout=scan.layout.name,
        expected=spec.count,
        split=spec.split,
        problems=tuple(p.line() for p in scan.problems),
    )
