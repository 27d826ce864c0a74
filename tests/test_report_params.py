"""The Param. column of our own rows: the ABAIR method config records the checkpoint's parameter counts."""

from __future__ import annotations

import bench
from bench.report.tables import build_table, get_spec, run_params


def test_abair_rows_carry_the_checkpoints_parameter_count(tmp_path):
    from abair.model.checkpoint import load

    out = tmp_path / "run"
    bench.evaluate(["abair-oh", "identity"], ["mini-derain"], out=out, limit=1)
    runs = bench.load_runs(out)
    counts = load("abair/weights/abair-tiny.safetensors").param_counts()
    params = run_params(runs.manifests)
    assert params == {("run", "abair-oh"): {"params": counts["total_params"],
                                            "adapter_params": counts["adapter_params"]}}
    assert counts["total_params"] == 1_326_734  # the shipped model, as 'abair-bench model info' prints it
    table = build_table(get_spec("1"), runs.scored(), n_boot=10, params=params)
    assert abs(table.values.loc["abair-oh", ("Param.", "M")] - 1.326734) < 1e-9
    assert table.values[("Param.", "M")].isna()["identity"]  # a method without a count stays "–"
