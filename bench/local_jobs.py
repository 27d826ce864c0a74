"""``abair-bench run --jobs N``: the same command as N processes of one gloo group on this machine.

What ``torchrun --standalone --nproc-per-node N -m bench.cli run ...`` does, without torchrun: each
process gets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``, a free loopback port, and ``threads`` intra-op
threads (``OMP_NUM_THREADS``, default: this process's usable cores divided by N, at least 1). The
runner then shards every dataset's images over the ranks and rank 0 merges the shards
(:mod:`bench.runner`).

Why: on a CPU, one process with all the cores spends most of an image's time in single-threaded
work (decoding, scoring, PNG encoding, the Python around small convolutions), and a small network's
kernels scale poorly past one thread; N single-threaded processes keep every core busy.

Limits and signals: N may not exceed the usable cores (one line otherwise). The ranks die with the
launcher (Linux: the kernel sends them ``SIGTERM`` when it exits, ``kill -9`` included); ``SIGTERM``
or ``SIGHUP`` to the launcher is forwarded to the ranks, and the launcher exits with 128 + the
signal's number once they have stopped. On Ctrl-C the launcher alone prints the "interrupted" line.
A refusal in the ranks (each often refuses the same way: an unknown method, a missing dataset) is
printed once, by the launcher: a rank appends its error line to the launcher's file
(:func:`report_error`), and the launcher prints the first line written once the ranks have stopped
and exits with status 2. The other ranks, whose process group that rank's exit breaks, stay quiet
(:func:`peer_refused`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from abair.children import check_count, dying_with_parent, usable_cores

__all__ = ["ERRORS_ENV", "PROGRAM_ENV", "default_threads", "is_child", "peer_refused", "program_name",
           "report_error", "run_jobs", "started_by_launcher", "usable_cores"]


def default_threads(jobs: int) -> int:
    return max(1, usable_cores() // jobs)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: set for the ranks: the program the user ran (``abair-bench``), which the manifest records as the
#: command's first word (a rank itself runs as ``python -m bench.cli``)
PROGRAM_ENV = "ABAIR_BENCH_PROGRAM"


def program_name() -> str:
    """The name of the command the user typed: this process's, or its launcher's inside a rank."""
    from pathlib import Path

    return os.environ.get(PROGRAM_ENV) or Path(sys.argv[0]).name


def is_child() -> bool:
    """True inside a process group (started by :func:`run_jobs` or by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def started_by_launcher() -> bool:
    """True in a rank started by :func:`run_jobs` (whose launcher reports a Ctrl-C for all)."""
    return PROGRAM_ENV in os.environ


#: set for the ranks: the file a rank writes its error line to (:func:`report_error`) instead of stderr
ERRORS_ENV = "ABAIR_BENCH_RANK_ERRORS"


def _ending() -> bool:
    """This rank is ending after a refusal: the SIGINT with which its launcher stops the ranks would only
    interrupt its exit (a traceback from an exit handler), so it is ignored from now on."""
    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return True


def report_error(line: str) -> bool:
    """In a rank of :func:`run_jobs`: append ``line`` (one line) to the launcher's error file, which the
    launcher prints once for all ranks, and return True (the rank then ends, see :func:`_ending`); False
    elsewhere or when it cannot be written (then the caller prints it)."""
    path = os.environ.get(ERRORS_ENV)
    if not path:
        return False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)  # the launcher's file, never created here
    except OSError:
        return False
    try:
        os.write(fd, (" ".join(line.splitlines()) + "\n").encode())  # one write: lines of ranks never interleave
    except OSError:
        return False
    finally:
        os.close(fd)
    return _ending()


def peer_refused() -> bool:
    """True in a rank of :func:`run_jobs` once a rank has reported a refusal (:func:`report_error`): a
    failure of this rank that follows (its process group broken by that rank's exit) is a consequence."""
    path = os.environ.get(ERRORS_ENV)
    try:
        return bool(path) and os.path.getsize(path) > 0 and _ending()
    except OSError:
        return False


def _print_first_error(path: str) -> bool:
    """Print the first error line a rank wrote to ``path`` on stderr; False when there is none."""
    try:
        with open(path, errors="replace") as f:
            first = f.readline().rstrip("\n")
    except OSError:
        return False
    if first:
        print(first, file=sys.stderr)
    return bool(first)


#: signals a launcher forwards to its ranks before it exits with 128 + the signal's number
FORWARDED = (signal.SIGTERM, signal.SIGHUP)


def run_jobs(argv: list[str], jobs: int, threads: int | None = None, module: str = "bench.cli") -> int:
    """Run ``python -m bench.cli *argv`` as ``jobs`` ranks; returns the first non-zero exit status
    (the other ranks are stopped then; 2 and its line printed once when a rank refused) or 0. ``jobs`` is at most :func:`usable_cores` (UserError).
    Ctrl-C stops every rank; records already written stay. ``SIGTERM``/``SIGHUP`` are forwarded to
    the ranks, then 128 + the signal's number is returned. ``module``: what the ranks run (tests)."""
    check_count(jobs, "--jobs")
    threads = threads or default_threads(jobs)
    port = _free_port()
    procs: list[subprocess.Popen] = []
    received: list[int] = []
    previous = {}
    fd, errors = tempfile.mkstemp(prefix="abair-bench-ranks-", suffix=".err")
    os.close(fd)
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum)) for sig in FORWARDED}
    try:
        for rank in range(jobs):
            env = dict(os.environ, WORLD_SIZE=str(jobs), RANK=str(rank), LOCAL_RANK=str(rank),
                       LOCAL_WORLD_SIZE=str(jobs), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                       OMP_NUM_THREADS=str(threads), **{PROGRAM_ENV: program_name(), ERRORS_ENV: errors})
            procs.append(subprocess.Popen([sys.executable, "-m", module, *argv], env=env,
                                          preexec_fn=dying_with_parent()))
        while True:
            if received:
                _stop(procs, received[0])
                print(f"{program_name()}: stopped by {signal.Signals(received[0]).name}; records written so far "
                      "are kept, rerun to resume", file=sys.stderr)
                return 128 + received[0]
            codes = [p.poll() for p in procs]
            failed = [c for c in codes if c not in (None, 0)]
            if failed:
                _stop(procs)
                return 2 if _print_first_error(errors) else failed[0]  # a refusal: the cause, status 2
            if all(c == 0 for c in codes):
                return 0
            time.sleep(0.05)
    except KeyboardInterrupt:
        _stop(procs)
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        with contextlib.suppress(OSError):
            os.unlink(errors)


def _stop(procs: list[subprocess.Popen], sig: int = signal.SIGINT) -> None:
    """Send ``sig`` to every rank still running; wait up to 10 s, then kill what remains."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(sig)
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
