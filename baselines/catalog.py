"""What is known about each published baseline of the paper's tables (no torch import: listings stay fast).

One :class:`Published` entry per method of ``results/paper/results.csv`` other than ABAIR (a port declares
its own as ``catalog`` in its folder, ``baselines/published/<name>/``; :data:`NOT_PORTED` the others): the tables
it appears in, the files its authors released and the tasks each covers, the checkpoint format, the
size requirement, the authors' test pipeline (with the file it comes from), the parameter count (with
the configuration it was counted at) and what the forward pass was checked against.
``abair-bench methods list`` and ``abair-bench methods info NAME`` print these; docs/BASELINES.md
says the same at length.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

__all__ = ["Release", "Published", "NOT_PORTED", "entries", "published", "variant_rows"]


@dataclass(frozen=True)
class Release:
    """One file the authors released. ``variant``: the method spec suffix naming it (``mprnet:deblur``)."""

    file: str
    tasks: tuple[str, ...]
    variant: str | None = None
    note: str = ""
    runs: bool = True  # False for a file the method cannot run (X-Restormer's x4 super-resolution model)


@dataclass(frozen=True)
class Published:
    """A published baseline. ``method``: the name ``--methods`` takes, or None when it cannot run here."""

    display: str
    paper: str
    tables: tuple[str, ...]
    method: str | None
    releases: tuple[Release, ...] = ()
    where: str = ""
    checkpoint: str = ""
    size: str = ""
    pipeline: str = ""
    params: str = ""
    checked: str = ""
    why_not: str = ""
    options: dict[str, str] = field(default_factory=dict)
    #: the authors' training settings (name -> tasks) of a method without released files (IDR)
    settings: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def variants(self) -> dict[str, Release]:
        return {r.variant: r for r in self.releases if r.variant}

    @property
    def tasks(self) -> tuple[str, ...]:
        runs = [t for r in self.releases if r.runs for t in r.tasks] or [t for ts in self.settings.values() for t in ts]
        return tuple(dict.fromkeys(runs))


_FOLDER = ("its rows stay scorable from restored images through folder:NAME=/path "
           "(layout /path/<dataset>/<image_id>.png; see docs/BASELINES.md)")

#: the paper's baselines no port runs (their rows are scored from restored images only)
NOT_PORTED: tuple[Published, ...] = (
    Published(
        "DL", "Fan et al., ECCV 2018 / TPAMI 2019 (decouple learning)", ("2",), None,
        where="code for the single-operator setting at fqnchina/DecoupleLearning",
        why_not="no weights for the all-in-one setting of the tables were found (its numbers are those "
                "reported by the AirNet and PromptIR papers for an all-in-one retraining); " + _FOLDER,
    ),
)


@functools.cache
def entries() -> dict[str, Published]:
    """Every published baseline by display name: each port's ``catalog`` (:mod:`baselines.ports`, in its
    listing order), then :data:`NOT_PORTED`."""
    from baselines.ports import ports

    return {p.display: p for p in (*(port.catalog for port in ports() if port.catalog is not None), *NOT_PORTED)}


def published(name: str) -> Published | None:
    """The entry for a display name (``"X-Restormer"``, also without its punctuation: ``"daclip"``) or method
    name (``"x-restormer"``, ``"mprnet:deblur"``)."""
    base = name.partition(":")[0].lower()
    for entry in entries().values():
        display = entry.display.lower()
        if base in (display, entry.method, "".join(c for c in display if c.isalnum())):
            return entry
    return None


def variant_rows() -> list[dict]:
    """``methods list`` rows for each published method and each named variant of it."""
    rows = []
    for entry in entries().values():
        if entry.method is None:
            continue
        tables = ",".join(entry.tables)
        rows.append({"name": entry.method, "task": "/".join(entry.tasks), "tables": tables,
                     "needs": f"weights (--method-arg {entry.method}.checkpoint=PATH)",
                     "summary": f"{entry.display} ({entry.paper}); {entry.checkpoint.split(';')[0]}"})
        for variant, release in entry.variants.items():
            rows.append({"name": f"{entry.method}:{variant}", "task": "/".join(release.tasks), "tables": tables,
                         "needs": f"weights: {release.file}", "summary": f"{entry.display}, the released {release.file}"
                         + (f" ({release.note})" if release.note else "")})
    return rows
