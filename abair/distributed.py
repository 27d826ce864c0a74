"""The one torchrun helper: join the process group ``torchrun`` describes, or run alone.

Used by the training loop (:mod:`abair.train.loop`) and the benchmark runner (``bench.runner``).
``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; with ``WORLD_SIZE`` unset or 1 nothing
is initialised and every call is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DistInfo:
    """This process's place: ``rank`` of ``world`` processes."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes shared outputs."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """More than one process."""
        return self.world > 1


def init_distributed(device: str = "cpu", backend: str | None = None) -> DistInfo:
    """Join the process group (``backend`` default: NCCL for a CUDA ``device``, else gloo); a no-op
    when alone. On CUDA with NCCL the process's device is set first."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = backend or ("nccl" if torch.device(device).type == "cuda" else "gloo")
        if backend == "nccl":
            torch.cuda.set_device(torch.device(device))
        dist.init_process_group(backend)
    return DistInfo(dist.get_rank(), dist.get_world_size())


def barrier(info: DistInfo) -> None:
    """Wait for every process (no-op when alone)."""
    if info.world > 1:
        import torch.distributed as dist

        dist.barrier()
