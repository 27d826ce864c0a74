"""bench.report.background: the audit computed in a second process gives what this process would,
and every way the second process can fail reaches the caller as one clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from abair.errors import UserError
from bench.report import background
from bench.report.audit import resolve_limit, sample


@pytest.fixture(params=[2, 1], ids=["two-cores", "one-core"])
def cores(request, monkeypatch):
    monkeypatch.setattr("abair.children.usable_cores", lambda: request.param)
    return request.param


def test_the_value_is_the_functions_in_a_second_process_or_here(cores):
    job = background.start(sample, list("abcdefgh"), 3, what="test")
    assert job.in_background is (cores == 2)
    assert job.result() == ["a", "c", "f"]


def test_a_user_error_in_the_second_process_is_raised_as_it_was(cores):
    job = background.start(resolve_limit, "some", what="test")
    with pytest.raises(UserError, match=r"^--audit-limit must be a whole number of images >= 1 or 'all', got 'some'$"):
        job.result()


def test_a_bug_in_the_second_process_is_a_runtime_error_naming_it(capfd, monkeypatch):
    monkeypatch.setattr("abair.children.usable_cores", lambda: 2)
    with pytest.raises(RuntimeError, match=r"^ValueError: invalid literal for int\(\) with base 10: 'x' "
                                           r"\(its traceback is above\)$"):
        background.start(int, "x", what="test").result()
    assert "Traceback" in capfd.readouterr().err  # the child's, on the shared stderr


def test_a_second_process_that_dies_is_one_line_naming_it(monkeypatch):
    monkeypatch.setattr("abair.children.usable_cores", lambda: 2)
    with pytest.raises(UserError, match=r"^the protocol audit process ended without a result \(exit code 3; "):
        background.start(os._exit, 3, what="protocol audit").result()


def test_cancel_ends_the_second_process(monkeypatch):
    import time

    monkeypatch.setattr("abair.children.usable_cores", lambda: 2)
    job = background.start(time.sleep, 60, what="test")
    job.cancel()
    assert job._process.poll() is not None
    job.cancel()  # twice is fine


def test_the_callers_script_is_not_run_again_by_the_second_process(tmp_path):
    """A script without an ``if __name__ == "__main__"`` guard (multiprocessing's spawn would run it again)."""
    marker, script = tmp_path / "ran", tmp_path / "script.py"
    script.write_text(
        "from pathlib import Path\n"
        f"with open({str(marker)!r}, 'a') as f:\n    f.write('x')\n"
        "import abair.children\nabair.children.usable_cores = lambda: 2\n"
        "from bench.report import background\nfrom bench.report.audit import sample\n"
        "job = background.start(sample, list('abcd'), 2, what='test')\n"
        "print(job.in_background, job.result())\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == "True ['a', 'c']"
    assert marker.read_text() == "x"


def test_the_report_audit_is_the_same_in_a_second_process_and_here(tmp_path, monkeypatch):
    import bench
    from bench.report.build import ReportOptions, make_report

    out = tmp_path / "run"
    bench.evaluate(["identity"], ["mini-derain"], out=out, limit=6, save_images=True)
    audits = {}
    for cores in (2, 1):
        monkeypatch.setattr("abair.children.usable_cores", lambda cores=cores: cores)
        result = make_report(ReportOptions(runs=[str(out)], out=str(tmp_path / f"r{cores}.html"), n_boot=200))
        audits[cores] = result.audit
    assert not audits[1].scores.empty and len(audits[1].scores) == 4 * 3 * 2  # 4 images, 3 protocols, 2 metrics
    assert audits[2].scores.equals(audits[1].scores) and audits[2].notes == audits[1].notes
