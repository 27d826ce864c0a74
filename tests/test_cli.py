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


# ------------------------------------------------------------------------------ bad paths: one line, exit 2
def _bad_paths(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "records.csv").write_text("run_id,method,dat")  # a header cut short
    return a_file, run_dir


@pytest.mark.parametrize("case", ["run-out-file", "run-out-under-file", "run-out-empty", "run-methods-empty",
                                  "report-out-under-file", "report-out-folder", "report-out-empty",
                                  "report-exports-file", "report-partial-header", "export-out-file",
                                  "export-out-under-file", "export-out-empty"])
def test_bad_inputs_give_one_line_and_exit_2(tmp_path, one_line_error, case):
    a_file, run_dir = _bad_paths(tmp_path)
    run = ["run", "--suite", "mini", "--datasets", "mini-derain", "--limit", "1", "--no-progress"]
    report = ["report", "--runs", str(run_dir), "--no-audit"]
    export = ["suite", "export", "--suite", "mini", "--datasets", "mini-derain"]
    argv, expected = {
        "run-out-file": (run + ["--methods", "identity", "--out", str(a_file)], f"--out {a_file} is a file, not a folder"),
        "run-out-under-file": (run + ["--methods", "identity", "--out", str(a_file / "x")],
                               f"--out {a_file / 'x'} lies under {a_file}, which is a file"),
        "run-out-empty": (run + ["--methods", "identity", "--out", ""], "--out is empty"),
        "run-methods-empty": (run + ["--methods", "", "--out", str(tmp_path / "r")], "--methods '' names nothing"),
        "report-out-under-file": (report + ["--out", str(a_file / "r.html")], "lies under"),
        "report-out-folder": (report + ["--out", str(tmp_path)], f"--out {tmp_path} is a folder; give a file name"),
        "report-out-empty": (report + ["--out", ""], "--out is empty"),
        "report-exports-file": (report + ["--out", str(tmp_path / "r.html"), "--exports", str(a_file)],
                                f"--exports {a_file} is a file, not a folder"),
        "report-partial-header": (report + ["--out", str(tmp_path / "r.html")], "has no complete header line"),
        "export-out-file": (export + ["--out", str(a_file)], f"--out {a_file} is a file, not a folder"),
        "export-out-under-file": (export + ["--out", str(a_file / "x")], "lies under"),
        "export-out-empty": (export + ["--out", ""], "--out is empty"),
    }[case]
    line = one_line_error(argv)
    assert line.startswith("abair-bench: error: ") and expected in line
    assert not (tmp_path / "r").exists() and not (tmp_path / "r.html").exists()
    assert (run_dir / "records.csv").read_text() == "run_id,method,dat"


def test_unwritable_out_is_one_line(tmp_path, one_line_error, monkeypatch):
    import os

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode))
    for argv in (["run", "--suite", "mini", "--methods", "identity", "--out", str(tmp_path / "run")],
                 ["report", "--runs", str(tmp_path), "--out", str(tmp_path / "r.html")],
                 ["suite", "export", "--suite", "mini", "--out", str(tmp_path / "x")]):
        line = one_line_error(argv)
        assert f"(its nearest existing folder {tmp_path}) is not writable (read-only file system or no permission)" in line


def test_write_errors_during_a_write_are_one_line(tmp_path):
    from abair.errors import UserError
    from bench.paths import writing

    with pytest.raises(UserError, match=r"^cannot write --out .*x\.html: Read-only file system$"):
        with writing(tmp_path / "x.html", "--out"):
            raise OSError(30, "Read-only file system", str(tmp_path / "x.html"))


def test_argument_errors_are_one_line(one_line_error):
    line = one_line_error(["run", "--suite", "mini", "--methods", "identity"])
    assert line == ("abair-bench run: error: the following arguments are required: --out "
                    "(see 'abair-bench run --help')")


def test_a_bad_out_from_the_shell_has_no_traceback(tmp_path):
    (tmp_path / "f").write_text("x")
    done = run_cli("run", "--suite", "mini", "--methods", "identity", "--out", str(tmp_path / "f"))
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"abair-bench: error: --out {tmp_path / 'f'} is a file, not a folder; give a folder path"]


def test_a_closed_pipe_ends_quietly():
    """`abair-bench datasets list | head -1`: the reader leaves early; no BrokenPipeError traceback."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "datasets", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_huge_argument_values_are_not_echoed_whole(one_line_error, tmp_path):
    line = one_line_error(["run", "--suite", "mini", "--methods", "," * 100_000, "--out", str(tmp_path / "r")])
    assert "(100000 characters)" in line and len(line) < 300
