"""One writer per run directory: an exclusive ``flock`` on ``DIR/run.lock``.

The writer (``abair-bench run``; under ``torchrun`` its rank 0, for the whole job) holds the lock
from before the manifest is read until the last record is merged. The file holds the holder's pid
and host, so a second writer exits with one line naming them. The lock belongs to the open file,
not to the file's existence: the kernel releases it when the holder exits, however it exits
(``kill -9`` included), so a lock file left behind never blocks a later run. The file is kept
(removing it would let two writers lock two different files). Readers (reports) take no lock.
``flock`` is reliable on local file systems; on network file systems it depends on the server.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from abair.errors import UserError

LOCK = "run.lock"


def holder_text() -> str:
    """``"pid 1234 on host node7"`` for this process."""
    return f"pid {os.getpid()} on host {socket.gethostname()}"


class RunLock:
    """Context manager: ``with RunLock(run_dir): ...`` writes the run; UserError if another holds it."""

    def __init__(self, run_dir: str | os.PathLike):
        self.root = Path(run_dir)
        self.path = self.root / LOCK
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(f"cannot create the lock file {self.path}: {exc.strerror or exc}; "
                            "give a run directory you can write to") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 256).decode(errors="replace").strip() or "a process that has not written its pid yet"
            os.close(fd)
            raise UserError(f"run directory {self.root} is being written by another run ({holder}); wait for it "
                            "to finish or use another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, (holder_text() + "\n").encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
