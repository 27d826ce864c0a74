"""``abair-bench run --jobs N``: the same command as N processes of one gloo group on this machine.

What ``torchrun --standalone --nproc-per-node N -m bench.cli run ...`` does, without torchrun: each
process gets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``, a free loopback port, and ``threads`` intra-op
threads (``OMP_NUM_THREADS``, default: this process's usable cores divided by N, at least 1). The
runner then shards every dataset's images over the ranks and rank 0 merges the shards
(:mod:`bench.runner`).

Why: on a CPU, one process with all the cores spends most of an image's time in single-threaded
work (decoding, scoring, PNG encoding, the Python around small convolutions), and a small network's
kernels scale poorly past one thread; N single-threaded processes keep every core busy.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


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


def run_jobs(argv: list[str], jobs: int, threads: int | None = None) -> int:
    """Run ``python -m bench.cli *argv`` as ``jobs`` ranks; returns the first non-zero exit status
    (the other ranks are stopped then) or 0. Ctrl-C stops every rank; records already written stay."""
    threads = threads or default_threads(jobs)
    port = _free_port()
    procs = []
    for rank in range(jobs):
        env = dict(os.environ, WORLD_SIZE=str(jobs), RANK=str(rank), LOCAL_RANK=str(rank),
                   LOCAL_WORLD_SIZE=str(jobs), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   OMP_NUM_THREADS=str(threads), **{PROGRAM_ENV: program_name()})
        procs.append(subprocess.Popen([sys.executable, "-m", "bench.cli", *argv], env=env))
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = [c for c in codes if c not in (None, 0)]
            if failed:
                _stop(procs)
                return failed[0]
            if all(c == 0 for c in codes):
                return 0
            time.sleep(0.05)
    except KeyboardInterrupt:
        _stop(procs)
        raise


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
