"""Coverage: how many of a test set's images every (run, method, set) number is over (n of N).

``N`` is the set's documented size: the count the dataset registry gives for it (Rain100L 100, SOTS
outdoor 500, the mini sets 34; ``abair-bench datasets list``), or, for a set the registry does not
know (``hf:``, ``folder:``), the count the run's manifest recorded plus the pairs it recorded as
missing. ``n`` is the number of distinct images with records. A number with ``n < N`` came from a
partial run (``--limit``, ``--allow-partial`` on a data root that lacks pairs, an interrupted run):
the report shows "n of N" beside it and never computes a Δ against the paper from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def expected_count(dataset: str, manifest_info: Any = None) -> int | None:
    """``N`` of ``dataset``: the registry's documented count, else the manifest's count plus its
    missing pairs, else None (unknown)."""
    from bench.datasets import DATASETS

    if dataset in DATASETS:
        count = DATASETS.entry(dataset).meta.get("count")
        if isinstance(count, int) and count > 0:
            return count
    if isinstance(manifest_info, dict) and isinstance(manifest_info.get("count"), int):
        missing = manifest_info.get("missing")
        return manifest_info["count"] + (len(missing) if isinstance(missing, list) else 0)
    return None


def coverage_table(records: pd.DataFrame, manifests: dict[str, dict] | None = None) -> pd.DataFrame:
    """One row per (run, method, dataset): ``n`` images scored, ``N`` expected (``<NA>`` when unknown)
    and ``complete`` (``n >= N``; False when ``N`` is unknown). ``records`` has a ``run`` column
    (see :class:`bench.report.runs.Runs`); ``manifests`` maps run labels to manifests."""
    import pandas as pd

    manifests = manifests or {}
    counts = (records.groupby(["run", "method", "dataset"], sort=False)["image_id"].nunique()
              .rename("n").reset_index())
    counts["N"] = pd.array([expected_count(d, ((manifests.get(r) or {}).get("datasets") or {}).get(d))
                            for r, d in zip(counts["run"], counts["dataset"], strict=True)], dtype="Int64")
    counts["complete"] = (counts["n"] >= counts["N"]).fillna(False).astype(bool)
    return counts


def of_text(n: int, total: int | None) -> str:
    """``"3 of 100"`` (``"3 of ?"`` when the set's size is unknown)."""
    return f"{n} of {total if total is not None else '?'}"


def partial_sets(records: pd.DataFrame, manifests: dict[str, dict] | None = None) -> list[str]:
    """``["rain100l: 3 of 100 images (run r1)", ...]``: every (run, dataset) some method of which
    covers fewer images than the set's documented size, for the report's banner."""
    table = coverage_table(records, manifests)
    out = []
    for (run, dataset), group in table.groupby(["run", "dataset"], sort=False):
        total = group["N"].iloc[0]
        if pd_isna(total) or group["n"].min() >= total:
            continue
        out.append(f"{dataset}: {of_text(int(group['n'].min()), int(total))} images (run {run})")
    return out


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))
