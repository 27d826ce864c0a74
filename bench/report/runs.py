"""Run directories as the report reads them: records, manifests, saved images, the run's scale.

A report never runs a model: it reads ``records.csv`` and ``manifest.json`` of each run directory
(see :mod:`bench.store`) and, for the qualitative grids and the protocol audit, the restored PNGs
that ``run --save-images`` wrote to ``DIR/images/<method>/<dataset>/<file>.png`` (names from
:func:`bench.store.image_path`, the runner's own).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abair.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

MINI_PREFIX = "mini-"


@dataclass
class Runs:
    """One or more run directories. ``records`` has the store's columns plus ``run`` (the label)."""

    dirs: dict[str, Path]
    manifests: dict[str, dict]
    records: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def default_protocols(self) -> dict[str, str]:
        """Dataset -> its default protocol, from the manifests (first run that names it)."""
        out: dict[str, str] = {}
        for manifest in self.manifests.values():
            for name, info in (manifest.get("datasets") or {}).items():
                if isinstance(info, dict) and info.get("default_protocol"):
                    out.setdefault(name, info["default_protocol"])
        return out

    def scored(self, protocol: str | None = None) -> pd.DataFrame:
        """The records reduced to one protocol per dataset.

        ``protocol`` given: only that protocol's records. Otherwise each dataset's default protocol
        (from the manifest) when it was scored, else the first protocol in sorted order.
        """
        df = self.records
        if protocol:
            out = df[df["protocol"] == protocol]
            if out.empty:
                have = ", ".join(sorted(df["protocol"].unique()))
                raise UserError(f"no record was scored under protocol '{protocol}'; the runs have: {have}")
            return out
        defaults = self.default_protocols()
        chosen = {}
        for dataset, protos in df.groupby("dataset")["protocol"].unique().items():
            protos = sorted(protos)
            chosen[dataset] = defaults[dataset] if defaults.get(dataset) in protos else protos[0]
        return df[df["protocol"] == df["dataset"].map(chosen)]

    def image_path(self, run: str, method: str, dataset: str, image_id: str) -> Path:
        """Where ``run --save-images`` saved this restoration (see :func:`bench.store.image_path`)."""
        from bench.store import IMAGES, image_path

        return image_path(self.dirs[run] / IMAGES, method, dataset, image_id)

    def coverage(self) -> pd.DataFrame:
        """Images scored of the set's documented size per (run, method, dataset): columns ``run``,
        ``method``, ``dataset``, ``n``, ``N``, ``complete`` (:func:`bench.report.coverage.coverage_table`)."""
        from .coverage import coverage_table

        return coverage_table(self.records, self.manifests)

    def methods(self) -> list[tuple[str, str]]:
        """(run, method) pairs in the order they first appear."""
        pairs = self.records[["run", "method"]].drop_duplicates()
        return list(zip(pairs["run"].tolist(), pairs["method"].tolist(), strict=True))

    def scale(self) -> dict[str, Any]:
        """What the banner says about the size of the runs (see :func:`run_scale`)."""
        return run_scale(self.manifests, self.records)


def load_runs(dirs: list[str | os.PathLike]) -> Runs:
    """Read run directories; each gets a label (its folder name, or its run id if names clash)."""
    import pandas as pd

    from bench.store import load_records

    if not dirs:
        raise UserError("give at least one run directory (--runs DIR)")
    paths = [Path(d) for d in dirs]
    resolved = [p.resolve() for p in paths]
    if len(set(resolved)) != len(resolved):
        raise UserError("the same run directory was given twice in --runs")
    labels: dict[str, Path] = {}
    manifests: dict[str, dict] = {}
    frames = []
    names = [p.name or str(p) for p in resolved]
    for path, name in zip(paths, names, strict=True):
        if not path.is_dir():
            raise UserError(f"run directory {path} does not exist; give a folder written by 'abair-bench run --out'")
        manifest = read_manifest(path)
        label = name if names.count(name) == 1 else f"{name}-{manifest.get('run_id', len(labels))}"
        records = load_records(path)
        records.insert(0, "run", label)
        labels[label] = path
        manifests[label] = manifest
        frames.append(records)
    records = pd.concat(frames, ignore_index=True)
    if records.empty:
        raise UserError(f"the run directories {', '.join(map(str, paths))} hold no records yet")
    notes = [f"{lab}: no manifest.json (commit, versions and seeds unknown)" for lab, m in manifests.items() if not m]
    return Runs(labels, manifests, records, notes)


def read_manifest(run_dir: Path) -> dict:
    """``manifest.json`` of a run directory ({} when absent); UserError when it is not valid JSON or
    no run manifest (a list, ``"methods": null``, ...)."""
    from bench.store import MANIFEST, manifest_problem, read_json

    path = Path(run_dir) / MANIFEST
    what_to_do = f"move it out of {run_dir} to report the records without it, or restore it"
    manifest = read_json(path, what_to_do)
    if manifest is None:
        return {}
    problem = manifest_problem(manifest, complete=False)
    if problem:
        raise UserError(f"{path} is not a run manifest ({problem}); {what_to_do}")
    return manifest


def _find_keys(obj: Any, wanted: set[str], path: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every (key path, value) in nested dicts/lists whose last key is in ``wanted``."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in wanted and not isinstance(v, (dict, list)):
                out.append(((*path, k), v))
            out += _find_keys(v, wanted, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _find_keys(v, wanted, (*path, i))
    return out


TRAINING_SECONDS_KEYS = {"train_seconds", "training_seconds"}


def _suite_of(name: str, info: dict) -> str:
    if isinstance(info, dict) and info.get("suite"):
        return str(info["suite"])
    return "mini" if name.startswith(MINI_PREFIX) else "real"


def run_scale(manifests: dict[str, dict], records: pd.DataFrame | None = None) -> dict[str, Any]:
    """The scale of the runs, for the banner.

    - ``suites``: ``{"mini": [datasets], "real": [datasets]}`` (a dataset's ``suite`` in the
      manifest; names starting ``mini-`` otherwise);
    - ``mini_only``: True when no real test set was scored (the banner then says so);
    - ``presets``: ``{method: preset}`` for every method config holding a ``preset`` key;
    - ``training_seconds``: ``{method: seconds}`` from a ``train_seconds``/``training_seconds``
      key, or ``seconds`` inside a ``training``/``train`` mapping, of the method's config;
    - ``training_scale``: ``{method: text}`` from a ``training_scale`` key of the method's config (the
      model card's scale note, e.g. "a pipeline demonstration, not a reproduction of the paper");
    - ``images``, ``methods``, ``datasets``: counts from the records.
    """
    suites: dict[str, list[str]] = {}
    presets: dict[str, str] = {}
    scales: dict[str, list[str]] = {}  # scale note -> the methods whose model card gives it
    training: dict[str, float] = {}
    seen: dict[str, int] = {}
    for manifest in manifests.values():
        for method in manifest.get("methods") or {}:
            seen[method] = seen.get(method, 0) + 1
    for run_label, manifest in manifests.items():
        for name, info in (manifest.get("datasets") or {}).items():
            suites.setdefault(_suite_of(name, info), [])
            if name not in suites[_suite_of(name, info)]:
                suites[_suite_of(name, info)].append(name)
        for method, config in (manifest.get("methods") or {}).items():
            label = method if seen[method] == 1 else f"{method} [{run_label}]"  # one row per run, as in tables
            for _path, value in _find_keys(config, {"preset"}):
                presets.setdefault(label, str(value))
            for _path, value in _find_keys(config, {"training_scale"}):
                scales.setdefault(str(value), []).append(label)
            for path, value in _find_keys(config, TRAINING_SECONDS_KEYS | {"seconds"}):
                is_training = path[-1] in TRAINING_SECONDS_KEYS or (
                    len(path) >= 2 and str(path[-2]) in {"training", "train"}
                )
                if is_training and isinstance(value, (int, float)):
                    training[label] = training.get(label, 0.0) + float(value)
    out: dict[str, Any] = {"suites": suites, "presets": presets, "training_seconds": training, "scales": scales}
    if records is not None and len(records):
        for ds in records["dataset"].unique():
            suite = "mini" if str(ds).startswith(MINI_PREFIX) else "real"
            if not any(ds in v for v in suites.values()):
                suites.setdefault(suite, []).append(ds)
        out["images"] = int(records.drop_duplicates(["dataset", "image_id"]).shape[0])
        out["methods"] = int(records[["run", "method"]].drop_duplicates().shape[0])
        out["datasets"] = int(records["dataset"].nunique())
    out["mini_only"] = bool(suites) and set(suites) <= {"mini"}
    return out


def format_seconds(seconds: float) -> str:
    """``5400`` -> ``"1.5 h"``; ``90`` -> ``"1.5 min"``; ``12`` -> ``"12 s"``."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"
