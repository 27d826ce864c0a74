"""abair-bench: the harness (datasets, metric protocols, methods, runner, run store, reports, CLI).

The Python API (:mod:`bench.api`): ``bench.evaluate(...)`` -> records DataFrame,
``bench.load_runs(dirs)``, ``bench.make_report(runs, out)``, ``bench.sweep(methods, out)``. Nothing heavy is imported at
``import bench``, so that ``abair-bench --help`` answers at once.
"""

from abair import __version__

_API = ("evaluate", "load_runs", "make_report", "sweep")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
