"""abair-bench: the harness (datasets, metric protocols, methods, runner, run store, reports, CLI).

Nothing heavy is imported here so that ``abair-bench --help`` answers at once.
"""

__version__ = "0.1.0"
