"""Severity and composition sweeps: degradations at explicit, growing parameters (and compositions of
2-3 in every order) as in-memory test sets run through the ordinary runner and run store.

:mod:`.spec` parses sweep specs (shipped ``default`` and ``smoke``, or YAML files), :mod:`.points`
makes one dataset per point from a source of clean images, :mod:`.run` runs them and records the
ABAIR estimator's probabilities. ``abair-bench sweep`` and ``bench.sweep(...)`` call it; the report
draws it (:mod:`bench.report.sweep_figures`). See docs/SWEEPS.md.
"""
