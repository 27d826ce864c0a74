"""One writer per output folder: an exclusive ``flock`` on a lock file inside it.

:class:`FolderLock` is the lock of every folder the package and the benchmark write: a run directory
(``run.lock``, :mod:`bench.runlock`) and a training folder (``train.lock``, :func:`training_lock`).
The writer holds it from before it reads what is there until its last write. The file holds the
holder's pid and host, so a second writer stops with one line naming the folder and them. The lock
belongs to the open file, not to the file's existence: the kernel releases it when the holder exits,
however it exits (``kill -9`` included), so a lock file left behind never blocks a later writer.
The file is kept (removing it would let two writers lock two different files) and is opened with
``O_NOFOLLOW``: a lock file that is a symbolic link is refused, never followed (truncating its
target). Readers take no lock. ``flock`` is reliable on local file systems; on network file systems
it depends on the server.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from abair.errors import UserError

TRAIN_LOCK = "train.lock"


def holder_text() -> str:
    """``"pid 1234 on host node7"`` for this process."""
    return f"pid {os.getpid()} on host {socket.gethostname()}"


class FolderLock:
    """Context manager: ``with FolderLock(folder): ...`` writes the folder; UserError if another holds it.

    Subclasses (or the keyword arguments) name the lock file, the folder's kind, the other writer and
    what to do: ``"{kind} {folder} is being written by {other} ({holder}); {advice}"``."""

    name = "write.lock"
    kind = "folder"
    other = "another process"
    advice = "wait for it to finish or write elsewhere"

    def __init__(self, folder: str | os.PathLike, **text: str):
        for key, value in text.items():
            if key not in ("name", "kind", "other", "advice"):
                raise TypeError(f"FolderLock() got an unexpected keyword argument '{key}'")
            setattr(self, key, value)
        self.root = Path(folder)
        self.path = self.root / self.name
        self._fd: int | None = None

    def acquire(self) -> None:
        import errno
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP or self.path.is_symlink():
                raise UserError(f"the lock file {self.path} is a symbolic link; remove it (a lock file is "
                                "never followed)") from None
            raise UserError(f"cannot create the lock file {self.path}: {exc.strerror or exc}; "
                            f"give a {self.kind} you can write to") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 256).decode(errors="replace").strip() or "a process that has not written its pid yet"
            os.close(fd)
            raise UserError(f"{self.kind} {self.root} is being written by {self.other} ({holder}); "
                            f"{self.advice}") from None
        os.ftruncate(fd, 0)
        os.write(fd, (holder_text() + "\n").encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


#: the training folders this process holds (lock file path -> depth), so that nested holders of one
#: folder (a command and the loop it runs) share one lock instead of refusing each other
_HELD: dict[str, int] = {}


@contextlib.contextmanager
def training_lock(folder: str | os.PathLike, main: bool = True) -> Iterator[None]:
    """Hold ``folder/train.lock`` while training writes ``folder`` (the folder is created).

    ``main`` False (a torchrun rank other than 0, which writes nothing there): no lock. Re-entrant in
    one process: an inner hold of a folder this process already holds is a no-op."""
    if not main:
        yield
        return
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the training folder {folder}: {exc.strerror or exc}; "
                        "train into a directory you can write to") from None
    key = os.path.realpath(folder / TRAIN_LOCK)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    lock = FolderLock(folder, name=TRAIN_LOCK, kind="training folder", other="another training",
                      advice="wait for it to finish or train into a new output directory")
    with lock:
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]
