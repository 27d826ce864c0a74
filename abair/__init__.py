"""ABAIR: adaptive blind all-in-one image restoration (reference implementation).

Sub-packages (imported lazily, nothing heavy happens at ``import abair``):

- :mod:`abair.degradations`: seeded degradation operators and the CutMix compositor.
- :mod:`abair.model`: backbone, adapters, estimator, segmentation head, presets, checkpoints.
- :mod:`abair.train`: the three training phases over one training loop.

``abair`` knows nothing about benchmarks; the harness lives in :mod:`bench`.
"""

__version__ = "0.1.0"
