"""One writer per run directory: an exclusive ``flock`` on ``DIR/run.lock``.

The writer (``abair-bench run``; under ``torchrun`` its rank 0, for the whole job) holds the lock
from before the manifest is read until the last record is merged; a second writer exits with one line
naming the directory and the holder's pid and host. The lock itself is :class:`abair.filelock.FolderLock`
(released by the kernel however the holder exits; a symbolic-link lock file is refused); training
folders hold the same lock in ``train.lock``. Readers (reports) take no lock.
"""

from __future__ import annotations

from abair.filelock import FolderLock, holder_text

__all__ = ["LOCK", "RunLock", "holder_text"]

LOCK = "run.lock"


class RunLock(FolderLock):
    """Context manager: ``with RunLock(run_dir): ...`` writes the run; UserError if another holds it."""

    name = LOCK
    kind = "run directory"
    other = "another run"
    advice = "wait for it to finish or use another --out"
