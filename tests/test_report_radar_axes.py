"""The run radar keeps every task axis a plotted method was scored on; gaps are drawn and named."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report.radar import missing_axes, radar_figure, run_radar_data
from bench.report.tables import build_table, get_spec

MINI = {"1": ["mini-derain", "mini-dehaze", "mini-denoise-s25", "mini-deblur", "mini-lowlight"],
        "4": ["mini-4to8bit", "mini-jpeg-q20", "mini-desnow"],
        "5": ["mini-blur+noise", "mini-blur+jpeg", "mini-haze+snow"]}


def _records(method_sets: dict[str, list[str]]) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [{"run": "r", "run_id": "x", "method": m, "dataset": ds, "task": "t", "image_id": f"i{i}",
             "protocol": "allinone-rgb", "metric": metric, "value": rng.uniform(20, 30) if metric == "psnr" else 0.8,
             "seconds": 0.0, "height": 8, "width": 8}
            for m, sets in method_sets.items() for ds in sets for metric in ("psnr", "ssim") for i in range(3)]
    return pd.DataFrame(rows)


def _tables(records):
    return {t: build_table(get_spec(t), records, n_boot=100) for t in "145"}


def test_a_method_without_unseen_and_mixed_axes_keeps_all_eleven_axes():
    every = [ds for sets in MINI.values() for ds in sets]
    records = _records({"abair-sw": every, "abair-oracle": MINI["1"] + ["mini-blur+noise"]})
    frame, groups = run_radar_data(_tables(records))
    assert frame.shape == (2, 11)  # the old rule (drop any axis a method lacks) kept 6
    assert set(groups.values()) == {"known", "unseen", "mixed"}
    missing = missing_axes(frame)
    assert list(missing) == ["abair-oracle"] and len(missing["abair-oracle"]) == 5
    assert frame.attrs["datasets"][missing["abair-oracle"][0]] in MINI["4"] + MINI["5"]
    fig = radar_figure(frame, groups)  # draws with gaps, no error on nan corners
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    assert set(lines) == {"abair-sw", "abair-oracle"}
    # the polygon is closed (first corner repeated), so a gap on the first axis would count twice
    assert np.isnan(lines["abair-oracle"].get_ydata()[:-1]).sum() == 5
    assert not np.isnan(lines["abair-sw"].get_ydata()).any()


def test_one_method_is_enough_and_methods_without_any_axis_are_left_out():
    records = _records({"identity": MINI["1"]})
    frame, _ = run_radar_data(_tables(records))
    assert list(frame.index) == ["identity"] and frame.shape[1] == 5 and not missing_axes(frame)


def test_report_caption_names_the_gaps_and_the_skip_reason(tmp_path):
    from types import SimpleNamespace

    from bench.report.build import _radar_gaps

    every = [ds for sets in MINI.values() for ds in sets]
    frame, _ = run_radar_data(_tables(_records({"abair-sw": every, "abair-oracle": MINI["1"]})))
    runs = SimpleNamespace(manifests={"r": {"invocations": [{"skipped": [
        {"method": "abair-oracle", "dataset": "mini-desnow", "reason": "no adapter for snow"}]}]}})
    gaps = _radar_gaps(runs, frame.attrs["datasets"], missing_axes(frame))
    assert len(gaps) == 1 and gaps[0].startswith("abair-oracle on ")
    assert "mini-desnow (skipped: no adapter for snow)" in gaps[0]
    assert "mini-haze+snow (not scored in these runs)" in gaps[0]


def test_a_method_in_two_runs_keeps_one_label_per_run_across_tables():
    """abair-oracle of run A has Table 1's sets only, of run B Table 4's too: one row per run on the radar."""
    a = _records({"abair-oracle": MINI["1"]}).assign(run="A")
    b = _records({"abair-oracle": MINI["1"] + MINI["4"]}).assign(run="B")
    frame, _ = run_radar_data(_tables(pd.concat([a, b], ignore_index=True)))
    assert sorted(frame.index) == ["abair-oracle [A]", "abair-oracle [B]"]
    assert missing_axes(frame) == {"abair-oracle [A]": [c for c in frame.columns if frame.attrs["datasets"][c] in MINI["4"]]}
