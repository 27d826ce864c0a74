import os

import pytest

# Tests run on 2 shared cores: keep every test single-threaded and offline.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


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
