"""Throughput profiling per adapter configuration (``abair-bench profile``).

- :mod:`.configs`: the registry of configurations (backbone alone, one adapter unmerged or merged,
  OH and SW end to end, ranks, adapter types, the estimator, the Restormer and PromptIR baselines);
- :mod:`.measure`: timing (warm-up, minimum duration, repeats, CUDA synchronisation), latency
  statistics, FLOP counting and peak memory;
- :mod:`.run`: the measurement loop over sizes, batches, dtypes and configurations;
- :mod:`.output`: JSON, CSV and the throughput plot.

Nothing heavy is imported here: the command line imports this package lazily.
"""
