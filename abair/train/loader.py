"""The training batches as a ``torch.utils.data`` pipeline: worker processes, pinned memory, prefetch.

One item of the :class:`StepBatches` dataset is one step's batch for one rank, built entirely by
the phase data object (:mod:`abair.train.data`) from ``(seed, step, sample indices)``; so the batch
of a step is the same with 0, 1 or N workers, in any order the workers finish, and after a resume.

Synthesis (recipe ``data.synthesis``; ``auto``: ``device`` on CUDA, ``workers`` on the CPU):

- ``workers``: the worker processes crop *and* degrade; the training process only moves the batch
  to the device;
- ``device``: the workers crop (decode, crop, augment) and the training process degrades the crops
  on the training device (:meth:`abair.train.data.PhaseData.synthesize`), batched per step. The
  operators draw their random numbers on the CPU and compute on the device.

:func:`iterate_batches` yields ``(step, batch on the device, data_wait_s, synth_s)``: the seconds
the training process waited for the loader, and spent on device synthesis.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch

from abair.errors import UserError

#: the most loader workers chosen automatically per training process
MAX_AUTO_WORKERS = 8


def default_workers(local_world: int = 1) -> int:
    """Loader workers per training process: one less than its share of the CPU cores (the training
    process keeps one), at most :data:`MAX_AUTO_WORKERS`; 0 (load in the training process) when a
    process has one core or less (e.g. 16 cores for 8 GPU processes: 1 worker each)."""
    from abair.children import usable_cores

    share = usable_cores() // max(1, local_world)
    return 0 if share <= 1 else min(MAX_AUTO_WORKERS, share - 1)


class StepBatches(torch.utils.data.Dataset):
    """Item ``step`` = rank ``rank``'s ``n`` samples of that step (degraded too unless ``synthesize`` is
    False). A UserError raised while loading (an unreadable image) is returned as ``{"_error": text}``
    so that the training process reports it as one line, not as a worker traceback."""

    def __init__(self, data, rank: int, n: int, synthesize: bool):
        self.data, self.rank, self.n, self.synthesize = data, rank, n, synthesize

    def __len__(self) -> int:  # pragma: no cover - only the sampler's indices are used
        return 2 ** 62

    def __getitem__(self, step: int) -> dict:
        try:
            if not self.synthesize:
                return self.data.load(step, self.rank, self.n, synthesize=False)
            return self.data.batch(step, self.rank, self.n)
        except UserError as exc:
            return {"_error": str(exc)}


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # each worker is one core's worth of work


def make_loader(data, start: int, steps: int, rank: int, n: int, device: torch.device, workers: int,
                synthesis: str = "auto", prefetch: int = 2) -> torch.utils.data.DataLoader:
    """The loader of steps ``start .. steps - 1`` (no collation: each item is already a batch)."""
    from .data import resolve_synthesis

    synthesis = resolve_synthesis(synthesis, device, getattr(data, "order", "sample"))
    if workers < 0:
        raise UserError(f"the number of data workers must be >= 0, got {workers}")
    on_device = synthesis == "device" and hasattr(data, "synthesize")
    dataset = StepBatches(data, rank, n, synthesize=not on_device)
    extra = {"prefetch_factor": prefetch, "worker_init_fn": _worker_init} if workers > 0 else {}
    return torch.utils.data.DataLoader(
        dataset, batch_size=None, sampler=range(start, steps), num_workers=workers,
        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(0), **extra)


def iterate_batches(data, start: int, steps: int, rank: int, n: int, device: torch.device, workers: int,
                    synthesis: str = "auto", prefetch: int = 2,
                    channels_last: bool = False) -> Iterator[tuple[int, dict, float, float]]:
    """``(step, batch, data_wait_s, synth_s)`` for every step from ``start`` (see the module docstring)."""
    loader = make_loader(data, start, steps, rank, n, device, workers, synthesis, prefetch)
    on_device = not loader.dataset.synthesize
    it = iter(loader)
    for step in range(start, steps):
        t0 = time.perf_counter()
        batch = next(it)
        if "_error" in batch:
            raise UserError(batch["_error"])
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        t1, synth = time.perf_counter(), 0.0
        if on_device:
            batch = data.synthesize(batch, step, rank, n)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            synth = time.perf_counter() - t1
        if channels_last:
            batch = {k: v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v
                     for k, v in batch.items()}
        yield step, batch, t1 - t0, synth
