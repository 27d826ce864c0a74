"""Child processes that die with their parent, and how many the CPUs can take.

A process started to do part of a job (a rank of ``abair-bench run --jobs N``, a Phase-II adapter of
``train phase2 --jobs N``) must not outlive the process that started it: after a ``kill -9`` of the
parent it would go on writing beside a ``--resume``. On Linux the child asks the kernel for
``SIGTERM`` when its parent exits (``prctl(PR_SET_PDEATHSIG)``, which survives ``exec``);
elsewhere a daemon thread of the child polls the parent's pid once a second.

:func:`usable_cores` and :func:`check_count` bound what a user may ask for: more processes or
threads than the usable cores only oversubscribe them.
"""

from __future__ import annotations

import os
import signal

from abair.errors import UserError

_PR_SET_PDEATHSIG = 1


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform reports it), >= 1."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def check_count(value: int, what: str, low: int = 1) -> int:
    """``value`` if ``low <= value <= usable_cores()``; else one UserError line naming ``what``.

    ``what`` names the setting as the caller's user knows it (``"--jobs"``, ``"threads"``)."""
    cores = usable_cores()
    if value < low:
        raise UserError(f"{what} must be >= {low}, got {value}")
    if value > cores:
        raise UserError(f"{what} must be at most the {cores} usable CPU core{'s' if cores > 1 else ''} of this "
                        f"process, got {value}")
    return value


def _prctl():
    """libc's ``prctl`` (Linux), or None."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return None


def die_with_parent(parent: int) -> None:
    """Call in a child process: get ``SIGTERM`` when ``parent`` (the pid that started it) exits.

    If the parent has already gone (it died before this call), the signal is sent at once."""
    prctl = _prctl()
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    else:  # pragma: no cover - not Linux
        import threading
        import time

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
    if os.getppid() != parent:  # the parent exited before the kernel was asked
        os.kill(os.getpid(), signal.SIGTERM)


def dying_with_parent():
    """A ``preexec_fn`` for :class:`subprocess.Popen`: the child gets ``SIGTERM`` when this process
    exits (Linux; None elsewhere, where the child itself must call :func:`die_with_parent`).

    libc is looked up here, in the parent, so that the function run between ``fork`` and ``exec``
    only makes two system calls."""
    prctl = _prctl()
    if prctl is None:  # pragma: no cover - not Linux
        return None
    parent, term = os.getpid(), int(signal.SIGTERM)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, term, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), term)

    return preexec


def stop_pool(pool) -> None:
    """Cancel the queued work of a :class:`concurrent.futures.ProcessPoolExecutor` and terminate its
    workers now (its own shutdown would wait for every queued task; Python 3.11 has no public way)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(10)
