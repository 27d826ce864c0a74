"""The Python API: the command line's main jobs as functions, for notebooks and scripts.

::

    import bench

    df = bench.evaluate(methods=["identity", "abair-sw"], datasets=["mini-derain"])   # records
    df = bench.evaluate(methods=["nlm"], suite="mini", out="runs/nlm")               # + a run store
    runs = bench.load_runs(["runs/nlm"])                                             # records + manifests
    bench.make_report(["runs/nlm"], "runs/nlm/report.html")                          # the HTML report

Every function raises :class:`abair.errors.UserError` (a ``ValueError``) with one readable line on
bad input, exactly where the command line would print it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from abair.errors import shorten


def evaluate(methods: Sequence[str], datasets: Sequence[str] | None = None, protocols: Sequence[str] | None = None,
             out: str | os.PathLike | None = None, *, suite: str | None = None,
             method_args: Mapping[str, Mapping[str, Any]] | None = None, checkpoint: str | None = None,
             data_root: str | None = None, dataset_paths: Mapping[str, str] | None = None, limit: int | None = None,
             device: str = "cpu", save_images: bool = False, tile: int | None = None, tile_overlap: int = 32,
             allow_partial: bool = False, noise_seeding: str = "per-image", progress: bool = False,
             batch: int = 1, jobs: int = 1):
    """Restore and score every image of ``datasets`` (or of ``suite``) with every method; returns the
    records of what was asked as a pandas DataFrame (one row per method, dataset, image, protocol and
    metric, the columns of ``records.csv``): only the requested methods, sets and protocols, and with
    ``limit`` only the first ``limit`` images of each set, even when ``out`` holds other runs' rows.

    ``out``: the run directory to write (records, manifest, images with ``save_images``); it resumes
    when it already holds this run, exactly as ``abair-bench run --out``. Without ``out`` the run is
    made in a temporary directory that is removed afterwards. ``method_args``: options per method,
    ``{"nlm": {"h_factor": 0.7}}`` (a method as written in ``methods`` or its record name).
    ``protocols``: None scores each set with its default protocol. ``batch``: images of one size
    restored per call (capped by each method's ``max_batch``), as ``--batch``. ``jobs``: processes on
    this machine, as ``--jobs``: with ``jobs`` > 1 the same ranks as ``abair-bench run --jobs N`` are
    started (each a fresh process, so every method must be reachable from one: built in, an entry
    point, ``module:callable``, ``folder:``/``spandrel:``; one registered in this Python process is refused,
    and ``method_args`` values must be JSON). The other arguments are those of ``abair-bench run``
    (see its ``--help``); a wrong type, an unknown choice or a NaN is one UserError.
    """
    from abair.errors import UserError

    from .datasets import DATASETS, DatasetOptions, resolve_names
    from .datasets.real import validate_dataset_paths
    from .methods import record_name
    from .run_args import check_dataset_paths_used, check_protocols
    from .runner import RunSpec, run
    from .store import load_records

    methods = _names(methods, "methods")
    if datasets is None and suite is None:
        raise UserError("evaluate: give datasets=[...] or suite=NAME")
    names = resolve_names(suite, _names(datasets, "datasets") if datasets is not None else None)
    protocols = _names(protocols, "protocols") if protocols is not None else None
    check_protocols(protocols)
    paths = {str(k): str(v) for k, v in _mapping(dataset_paths, "dataset_paths").items()}
    validate_dataset_paths(paths, DATASETS.names())
    check_dataset_paths_used(paths, names)
    options = {str(k): dict(_mapping(v, f"method_args['{shorten(k)}']"))
               for k, v in _mapping(method_args, "method_args").items()}
    limit, tile = (_count(v, what, 1) if v is not None else None for v, what in ((limit, "limit"), (tile, "tile")))
    tile_overlap = _count(tile_overlap, "tile_overlap", 0)
    batch, jobs = _count(batch, "batch", 1), _count(jobs, "jobs", 1)
    data = DatasetOptions(data_root=data_root, dataset_paths=paths, noise_seeding=noise_seeding,
                          allow_partial=allow_partial)
    with _run_dir(out) as directory:
        spec = RunSpec(out=str(directory), methods=methods, datasets=names, protocols=protocols,
                       method_args=options, checkpoint=checkpoint,
                       dataset_options=data, limit=limit, device=device, save_images=save_images, tile=tile,
                       tile_overlap=tile_overlap, batch=batch, progress=progress,
                       command=f"bench.evaluate(methods={methods!r}, datasets={datasets!r}, suite={suite!r})")
        if jobs > 1:
            _run_ranks(spec, jobs)
            recorded = _record_names(spec)
        else:
            summary = run(spec)
            recorded = set(() if summary is None else summary["method"]) | set(filter(None, map(record_name, methods)))
        return _requested(load_records(directory), spec, recorded)


def _run_ranks(spec, jobs: int) -> None:
    """``spec`` as ``jobs`` ranks of ``abair-bench run --jobs`` (:func:`bench.local_jobs.run_jobs`)."""
    import json

    from abair.errors import UserError
    from baselines.registry import REGISTERED

    from .local_jobs import run_jobs
    from .methods import METHODS

    if spec.device.startswith("cuda"):
        raise UserError("evaluate: jobs > 1 is for CPU runs; on GPUs start one process per device with torchrun")
    for name in spec.methods:
        if name in REGISTERED and name not in METHODS:
            raise UserError(f"evaluate: jobs={jobs} starts fresh processes, which do not know method "
                            f"'{shorten(name)}' registered in this Python process; use jobs=1, or make it a "
                            "module:callable or an entry point")
    argv = ["run", "--out", spec.out, "--methods", ",".join(spec.methods), "--datasets", ",".join(spec.datasets),
            "--jobs", str(jobs), "--batch", str(spec.batch), "--device", spec.device,
            "--tile-overlap", str(spec.tile_overlap), "--noise-seeding", spec.dataset_options.noise_seeding]
    for flag, value in (("--protocols", spec.protocols and ",".join(spec.protocols)), ("--limit", spec.limit),
                        ("--tile", spec.tile), ("--checkpoint", spec.checkpoint),
                        ("--data-root", spec.dataset_options.data_root)):
        if value is not None:
            argv += [flag, str(value)]
    for name, path in spec.dataset_options.dataset_paths.items():
        argv += ["--dataset-path", f"{name}={path}"]
    for method, values in spec.method_args.items():
        for key, value in values.items():
            try:
                argv += ["--method-arg", f"{method}.{key}={json.dumps(value, allow_nan=False)}"]
            except (TypeError, ValueError):
                raise UserError(f"evaluate: jobs > 1 passes method_args on a command line; "
                                f"{shorten(method)}.{key} = {shorten(repr(value))} is not JSON") from None
    argv += ["--save-images"] * spec.save_images + ["--allow-partial"] * spec.dataset_options.allow_partial
    argv += [] if spec.progress else ["--no-progress"]
    code = run_jobs(argv, jobs)
    if code:
        raise UserError(f"evaluate: the run's ranks stopped with exit status {code} (their message is above); "
                        "records written so far stay in out")


def _record_names(spec) -> set[str]:
    """The record names of ``spec.methods`` (a plug-in whose name is known only when built is built)."""
    from .methods import create_method, record_name

    return {record_name(name) or create_method(name, **spec.method_args.get(name, {})).name
            for name in spec.methods}


def _requested(records, spec, methods: set[str]):
    """The rows of ``records`` that ``spec`` asked for: its methods (record names), its sets, each
    set's protocols (the given ones or its default), and with a limit the first images of each set."""
    from .datasets import get_dataset
    from .runner import _protocols_for

    keep = records["method"].isin(methods)
    wanted = keep & False
    for name in spec.datasets:
        dataset = get_dataset(name, spec.dataset_options)
        rows = (records["dataset"] == name) & records["protocol"].isin([p.spec for p in _protocols_for(dataset, spec)])
        if spec.limit is not None:
            rows &= records["image_id"].isin(dataset.image_ids()[: spec.limit])
        wanted |= rows
    return records[keep & wanted].reset_index(drop=True)


def load_runs(dirs: str | os.PathLike | Sequence[str | os.PathLike]):
    """Read run directories (read-only): a :class:`bench.report.runs.Runs` with ``records`` (one
    DataFrame, every run's rows) and ``manifests`` (run directory -> manifest dict)."""
    from .report.runs import load_runs as _load

    return _load([dirs] if isinstance(dirs, str | os.PathLike) else list(dirs))


def make_report(runs: str | os.PathLike | Sequence[str | os.PathLike], out: str | os.PathLike, **options) -> Path:
    """Write the HTML report of run directories to ``out``; returns its path. ``options`` are the
    fields of :class:`bench.report.build.ReportOptions` (``tables``, ``protocol``, ``grids``,
    ``compare``, ``audit``, ``data_root``, ``title``...)."""
    import dataclasses

    from abair.errors import unknown_name

    from .report.build import ReportOptions
    from .report.build import make_report as _make

    accepted = [f.name for f in dataclasses.fields(ReportOptions) if f.name not in ("runs", "out", "command")]
    for key in options:
        if key not in accepted:
            raise unknown_name("make_report option", key, accepted)
    dirs = [runs] if isinstance(runs, str | os.PathLike) else list(runs)
    result = _make(ReportOptions(runs=[str(d) for d in dirs], out=str(out), command="bench.make_report(...)",
                                 **options))
    return Path(result.html)


def sweep(methods: Sequence[str], out: str | os.PathLike, spec: str = "default", *, source: str = "test-pool",
          images: int | None = None, limit: int | None = None,
          method_args: Mapping[str, Mapping[str, Any]] | None = None, checkpoint: str | None = None,
          data_root: str | None = None, device: str = "cpu", batch: int = 1, progress: bool = False):
    """Run a severity and composition sweep into the run directory ``out`` (resumes, as
    ``abair-bench sweep``; docs/SWEEPS.md) and return its records as a pandas DataFrame. ``spec``: a
    shipped spec (``default``, ``smoke``) or a YAML file; ``source``: ``test-pool``, a registered test
    set or ``folder:PATH``; ``images``: that many clean images, evenly spaced (default: the spec's)."""
    from .datasets import DatasetOptions
    from .store import load_records
    from .sweeps.run import SweepRequest, run_sweep

    run_sweep(SweepRequest(out=str(out), methods=_names(methods, "methods"), spec=str(spec), source=str(source),
                           images=images, limit=limit,
                           method_args={str(k): dict(v) for k, v in _mapping(method_args, "method_args").items()},
                           checkpoint=checkpoint, dataset_options=DatasetOptions(data_root=data_root), device=device,
                           batch=batch, progress=progress, command="bench.sweep(...)"))
    return load_records(out)


def _names(items, what: str) -> list[str]:
    """A list of names or one comma-separated string -> the names (a UserError if empty or neither)."""
    from abair.errors import UserError

    if isinstance(items, str):
        items = [s.strip() for s in items.split(",")]
    if not isinstance(items, Iterable):
        raise UserError(f"evaluate: {what} must be a list of names or a comma-separated string, got "
                        f"{shorten(repr(items))}")
    names = [str(i) for i in items if str(i).strip()]
    if not names:
        raise UserError(f"evaluate: {what} is empty")
    return names


def _mapping(value, what: str) -> Mapping:
    """``value`` (None: empty) if it is a dict-like mapping, else a UserError naming ``what``."""
    from abair.errors import UserError

    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UserError(f"evaluate: {what} must be a dict, got {shorten(repr(value))}")
    return value


def _count(value, what: str, low: int) -> int:
    """``value`` as an int >= ``low`` (a whole number; NaN, inf, 2.5, True are refused)."""
    import numbers

    from abair.errors import UserError

    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise UserError(f"evaluate: {what} must be a whole number >= {low}, got {shorten(repr(value))}")
    return int(value)


class _run_dir:
    """``out`` as a Path, or a temporary directory removed on exit."""

    def __init__(self, out):
        self.out, self.tmp = out, None

    def __enter__(self) -> Path:
        if self.out is not None:
            from .paths import check_output_dir

            check_output_dir(str(self.out), "out")
            return Path(self.out)
        self.tmp = tempfile.TemporaryDirectory(prefix="abair-bench-")
        return Path(self.tmp.name) / "run"

    def __exit__(self, *exc) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()
