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


def pytest_terminal_summary(terminalreporter):
    """The peak resident memory of this process and of its largest child, in the summary (README: under 2 GB)."""
    import resource
    import sys

    unit = 2**30 if sys.platform == "darwin" else 2**20  # ru_maxrss: bytes on macOS, KiB on Linux
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / unit
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / unit
    terminalreporter.write_line(f"peak resident memory: {own:.2f} GiB this process, {children:.2f} GiB its largest "
                                "child process (ru_maxrss)")
