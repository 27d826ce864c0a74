import os

import pytest

# Tests run on 2 shared cores: keep every test single-threaded and offline.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The command line keeps its peak heap until it exits (abair/allocator.py): right for one command, but
# the tests call it in-process hundreds of times, so the test process would hold every test's peak.
os.environ.setdefault("ABAIR_MALLOC", "system")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(autouse=True)
def _return_freed_heap():
    """After each test, hand the heap pages it freed back to the kernel: without it the process keeps
    every test's scattered peak and grows past 3.5 GB over the suite (with it, about the largest test's)."""
    yield
    from abair.allocator import release_free_heap

    release_free_heap()


def _one_line_error(capsys, argv) -> str:
    """Run ``abair-bench ARGV`` in-process; assert exit status 2 and one stderr line, no traceback; return it."""
    from bench.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.fixture
def one_line_error(capsys):
    """``one_line_error(argv)``: the single error line of a CLI call that must exit with status 2."""
    return lambda argv: _one_line_error(capsys, argv)


class _PeakMemory:
    """This process's resident memory sampled every 20 ms by a daemon thread, with the test running at its
    peak (the kernel's high-water mark cannot serve: the profiler resets it to measure each configuration)."""

    def __init__(self):
        self.peak_kib, self.test, self.current = 0, "", "collection"

    @staticmethod
    def rss_kib() -> int:
        try:
            with open("/proc/self/status") as fh:
                return next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
        except OSError:  # not Linux
            return 0

    def sample(self) -> None:
        import time

        while True:
            rss = self.rss_kib()
            if rss > self.peak_kib:
                self.peak_kib, self.test = rss, self.current
            time.sleep(0.02)


_PEAK = _PeakMemory()


def pytest_configure(config):
    import threading

    threading.Thread(target=_PEAK.sample, name="peak-memory", daemon=True).start()


def pytest_runtest_setup(item):
    _PEAK.current = item.nodeid


def pytest_terminal_summary(terminalreporter):
    """The peak resident memory of this process (sampled, with the test at the peak) and of its largest
    child process (the kernel's ru_maxrss), in the summary (README: under 2 GB)."""
    import resource
    import sys

    unit = 2**30 if sys.platform == "darwin" else 2**20  # ru_maxrss: bytes on macOS, KiB on Linux
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / unit
    if _PEAK.peak_kib:
        terminalreporter.write_line(f"peak resident memory: {_PEAK.peak_kib / 2**20:.2f} GiB this process (sampled "
                                    f"every 20 ms; during {_PEAK.test}), {children:.2f} GiB its largest child process")
