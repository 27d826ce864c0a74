"""The report's Δ to the paper: the Average is compared with the mean of the paper's own cells."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.report.tables import build_table, get_spec

REAL = {"Rain100L": "rain100l", "SOTS-outdoor": "sots-outdoor", "BSD68-s25": "cbsd68-s25", "GoPro": "gopro",
        "LoLv1": "lol-v1"}


def records_equal_to_the_paper(row_label: str, method: str) -> pd.DataFrame:
    """Three images per real Table 1 set, every value the paper's cell for ``row_label``."""
    paper = build_table(get_spec("1")).values.loc[row_label]
    rows = [{"run": "r", "run_id": "x", "method": method, "dataset": ds, "task": "t", "image_id": f"i{i}",
             "protocol": "allinone-rgb", "metric": metric.lower(), "value": paper[(label, metric)], "seconds": 0.0,
             "height": 8, "width": 8}
            for label, ds in REAL.items() for metric in ("PSNR", "SSIM") for i in range(3)]
    return pd.DataFrame(rows)


def test_a_run_equal_to_the_paper_has_zero_delta_on_the_average_and_a_note_on_the_printed_value():
    table = build_table(get_spec("1"), records_equal_to_the_paper("Ours (Oracle)", "abair-oracle"), n_boot=50)
    delta = table.values.loc["Δ abair-oracle − Ours (Oracle)"]
    assert delta[("Average", "PSNR")] == pytest.approx(0.0, abs=1e-12)  # the printed 31.39 would give +0.126
    assert delta[("Average", "SSIM")] == pytest.approx(0.0, abs=1e-12)
    assert f"{delta[('Average', 'PSNR')]:.2f}" in ("0.00", "-0.00")
    assert all(abs(delta[(label, m)]) < 1e-12 for label in REAL for m in ("PSNR", "SSIM"))
    notes = [n for n in table.notes if n.startswith("Δ Average")]
    assert notes == ["Δ Average PSNR against Ours (Oracle): taken against the mean of the paper's own 5 cells, "
                     "31.516; the paper prints 31.39 (-0.126)"]


def test_no_note_where_the_printed_average_is_the_mean_of_its_cells():
    table = build_table(get_spec("1"), records_equal_to_the_paper("Ours SW", "abair-sw"), n_boot=50)
    delta = table.values.loc["Δ abair-sw − Ours SW"]
    assert delta[("Average", "PSNR")] == pytest.approx(0.0, abs=1e-12)
    assert not [n for n in table.notes if n.startswith("Δ Average")]
