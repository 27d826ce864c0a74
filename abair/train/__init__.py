"""ABAIR training: the three phases over one loop (checkpoint, exact resume, DDP, AMP, JSONL log).

- :mod:`abair.train.recipes`: YAML recipes (``tiny``, ``small``, ``paper``) and ``key=value`` overrides;
- :mod:`abair.train.data`: on-the-fly synthetic batches from the clean train pool, seeded per step;
- :mod:`abair.train.loop`: the training loop (AdamW, cosine schedule, clipping, checkpoints, resume);
- :mod:`abair.train.phases`: Phase I/II/III, adding an adapter, retraining the estimator.

Importing this package is cheap; the submodules import torch. See docs/TRAINING.md.
"""
