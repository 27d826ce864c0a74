"""The Python API: bench.evaluate / load_runs / make_report and baselines.Method + register."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import baselines
import bench
from abair.errors import UserError


def test_evaluate_returns_the_records_a_cli_run_writes(tmp_path):
    from bench.cli import main
    from bench.store import load_records

    df = bench.evaluate(methods=["identity"], datasets=["mini-derain"], limit=3)
    assert isinstance(df, pd.DataFrame) and len(df) == 3 * 2  # 3 images x (psnr, ssim)
    assert set(df["method"]) == {"identity"} and set(df["protocol"]) == {"allinone-rgb"}
    assert main(["run", "--methods", "identity", "--datasets", "mini-derain", "--limit", "3", "--out",
                 str(tmp_path / "cli"), "--no-progress"]) == 0
    cli = load_records(tmp_path / "cli")
    cols = ["method", "dataset", "image_id", "protocol", "metric", "value"]
    pd.testing.assert_frame_equal(df[cols].sort_values(cols[:5]).reset_index(drop=True),
                                  cli[cols].sort_values(cols[:5]).reset_index(drop=True))


def test_evaluate_with_out_writes_a_run_store_that_loads_and_reports(tmp_path):
    out = tmp_path / "run"
    df = bench.evaluate(["identity"], ["mini-denoise-s25"], ["allinone-rgb", "y-bt601"], out=out, limit=2)
    assert (out / "records.csv").is_file() and (out / "manifest.json").is_file()
    runs = bench.load_runs(out)
    assert len(runs.records) == len(df) == 2 * 2 * 2
    html = bench.make_report(out, tmp_path / "report.html", audit=False)
    assert html.is_file() and "identity" in html.read_text()


def test_evaluate_refuses_bad_input_with_one_line():
    with pytest.raises(UserError, match="unknown method 'identiy'"):
        bench.evaluate(["identiy"], ["mini-derain"])
    with pytest.raises(ValueError, match="give datasets"):  # UserError is a ValueError
        bench.evaluate(["identity"])
    with pytest.raises(UserError, match="methods is empty"):
        bench.evaluate([], ["mini-derain"])


def test_a_registered_method_runs_through_evaluate_and_options_reach_it():
    @baselines.register("halve-test", task="any", replace=True)
    class Halve(baselines.Method):
        """Multiplies the input by a factor."""

        name = "halve-test"

        def __init__(self, factor: float = 0.5):
            self.factor = factor

        def config(self):
            return {"name": self.name, "factor": self.factor}

        def restore(self, batch, context):
            return batch * self.factor

    try:
        df = bench.evaluate(["halve-test"], ["mini-derain"], limit=1, method_args={"halve-test": {"factor": 1.0}})
        ident = bench.evaluate(["identity"], ["mini-derain"], limit=1)
        np.testing.assert_allclose(df.sort_values("metric")["value"].to_numpy(),
                                   ident.sort_values("metric")["value"].to_numpy())
        with pytest.raises(UserError, match="has no option 'factr' \\(did you mean 'factor'\\?\\)"):
            bench.evaluate(["halve-test"], ["mini-derain"], limit=1, method_args={"halve-test": {"factr": 1.0}})
        from bench.methods import list_methods

        row = next(r for r in list_methods() if r["name"] == "halve-test")
        assert row["summary"] == "Multiplies the input by a factor."
    finally:
        baselines.unregister("halve-test")


def test_register_checks_the_type_at_once():
    with pytest.raises(TypeError, match="must derive from baselines.Method"):
        baselines.register("x")(type("NotAMethod", (), {"restore": lambda self, b, c: b}))
    with pytest.raises(TypeError, match="does not implement restore"):
        baselines.register("y")(type("NoRestore", (baselines.Method,), {}))

    @baselines.register("twice-test")
    def make():
        return baselines.Method()

    try:
        with pytest.raises(ValueError, match="already registered"):
            baselines.register("twice-test")(lambda: baselines.Method())
    finally:
        baselines.unregister("twice-test")


def test_evaluate_returns_only_the_requested_methods_sets_and_protocols(tmp_path):
    out = tmp_path / "run"
    bench.evaluate(["nlm"], ["mini-derain", "mini-dehaze"], out=out, limit=2)
    bench.evaluate(["identity"], ["mini-derain"], ["allinone-rgb", "y-bt601"], out=out, limit=3)
    df = bench.evaluate(methods=["identity"], datasets=["mini-derain"], out=out, limit=2)
    assert set(df["method"]) == {"identity"} and set(df["dataset"]) == {"mini-derain"}
    assert set(df["protocol"]) == {"allinone-rgb"} and df["image_id"].nunique() == 2 and len(df) == 2 * 2
    assert len(bench.load_runs(out).records) > len(df)  # the store holds nlm, y-bt601 and a third image too


def test_evaluate_with_jobs_runs_the_ranks_of_the_command_line_and_batch(tmp_path):
    out = tmp_path / "run"
    bench.evaluate(["nlm"], ["mini-derain"], out=out, limit=1)
    df = bench.evaluate(["identity"], ["mini-derain"], out=out, limit=2, jobs=2, batch=2)
    assert set(df["method"]) == {"identity"} and len(df) == 2 * 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["invocations"][-1]["world_size"] == 2 and manifest["invocations"][-1]["options"]["batch"] == 2
    with pytest.raises(UserError, match="jobs must be a whole number >= 1"):
        bench.evaluate(["identity"], ["mini-derain"], jobs=0)


def test_evaluate_with_jobs_refuses_a_method_registered_in_this_process():
    @baselines.register("process-only-test", task="any", replace=True)
    class Same(baselines.Method):
        name = "process-only-test"

        def restore(self, batch, context):
            return batch

    try:
        with pytest.raises(UserError, match="do not know method 'process-only-test' registered in this Python process"):
            bench.evaluate(["process-only-test"], ["mini-derain"], limit=1, jobs=2)
    finally:
        baselines.unregister("process-only-test")
