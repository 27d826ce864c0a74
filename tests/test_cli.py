"""Command-line behaviour users rely on: one-line errors with suggestions, a fast --help."""

import subprocess
import sys

import pytest

from bench.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--methods", "identiy"], "unknown method 'identiy' (did you mean 'identity'?)"),
        (["--methods", "identity", "--datasets", "mini-derian"], "unknown dataset in suite 'mini' 'mini-derian' (did you mean 'mini-derain'?)"),
        (["--methods", "identity", "--protocols", "allinone-rbg"], "'allinone-rgb'"),
    ],
)
def test_unknown_names_give_one_line_and_exit_2(tmp_path, args, expected):
    done = run_cli("run", "--suite", "mini", "--limit", "1", "--out", str(tmp_path), "--no-progress", *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("abair-bench: error: ") and expected in lines[0]
    assert "Traceback" not in done.stderr


def test_unknown_suite(capsys, tmp_path):
    assert main(["run", "--suite", "minj", "--methods", "identity", "--out", str(tmp_path)]) == 2
    assert "unknown suite 'minj' (did you mean 'mini'?)" in capsys.readouterr().err


def test_help_imports_nothing_heavy():
    code = (
        "import sys, bench.cli; bench.cli.build_parser();"
        "heavy = [m for m in ('torch', 'pandas', 'skimage', 'pyiqa', 'numpy', 'scipy') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_help_lists_the_commands():
    done = run_cli("--help")
    assert done.returncode == 0
    for command in ("run", "suite", "datasets", "methods", "protocols"):
        assert command in done.stdout


def test_lists(capsys):
    assert main(["methods", "list"]) == 0
    assert "identity" in capsys.readouterr().out
    assert main(["protocols", "list"]) == 0
    out = capsys.readouterr().out
    assert "allinone-rgb" in out and "y-bt601" in out
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "mini-haze+snow" in out and "mini" in out
