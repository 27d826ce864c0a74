"""The report's Δ to the paper: the Average is compared with the mean of the paper's own cells."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.report.tables import build_table, get_spec

REAL = {"Rain100L": "rain100l", "SOTS-outdoor": "sots-outdoor", "BSD68-s25": "cbsd68-s25", "GoPro": "gopro",
        "LoLv1": "lol-v1"}


def records_equal_to_the_paper(row_label: str, method: str, images: dict[str, int] | None = None) -> pd.DataFrame:
    """Every image of each real Table 1 set (or ``images[dataset]`` of them), every value the paper's
    cell for ``row_label``."""
    from bench.report.coverage import expected_count

    paper = build_table(get_spec("1")).values.loc[row_label]
    rows = [{"run": "r", "run_id": "x", "method": method, "dataset": ds, "task": "t", "image_id": f"i{i}",
             "protocol": "allinone-rgb", "metric": metric.lower(), "value": paper[(label, metric)], "seconds": 0.0,
             "height": 8, "width": 8}
            for label, ds in REAL.items() for metric in ("PSNR", "SSIM")
            for i in range((images or {}).get(ds, expected_count(ds)))]
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


def test_a_partial_set_shows_n_of_n_and_gets_no_delta():
    """3 of Rain100L's 100 pairs (--allow-partial on an incomplete data root, or --limit 3)."""
    from bench.report.export import cell_text, cells_frame

    table = build_table(get_spec("1"), records_equal_to_the_paper("Ours SW", "abair-sw", {"rain100l": 3}), n_boot=50)
    assert table.partial == {("abair-sw", "Rain100L"): (3, 100), ("abair-sw", "Average"): (1697, 1794)}
    delta = table.values.loc["Δ abair-sw − Ours SW"]
    assert pd.isna(delta[("Rain100L", "PSNR")]) and pd.isna(delta[("Average", "PSNR")])
    assert delta[("GoPro", "PSNR")] == pytest.approx(0.0, abs=1e-12)  # complete sets keep their Δ
    assert cell_text(table, "abair-sw", ("Rain100L", "PSNR"))[1].endswith("(3 of 100)")
    assert "of" not in cell_text(table, "abair-sw", ("GoPro", "PSNR"))[1]
    assert "abair-sw: partial on Rain100L (3 of 100 images); no Δ to the paper is computed from a partial set" \
        in table.notes
    cells = cells_frame(table).set_index(["row", "column", "metric"])
    assert cells.loc[("abair-sw", "Rain100L", "PSNR"), "partial"] == "3 of 100"


def test_one_image_everywhere_gives_no_delta_row_at_all():
    table = build_table(get_spec("1"), records_equal_to_the_paper("Ours SW", "abair-sw", dict.fromkeys(REAL.values(), 1)),
                        n_boot=50)
    assert "Δ abair-sw − Ours SW" not in table.values.index
    assert table.partial[("abair-sw", "GoPro")] == (1, 1111)


def test_coverage_table_and_banner_lines():
    from bench.report.coverage import coverage_table, partial_sets

    records = records_equal_to_the_paper("Ours SW", "abair-sw", {"rain100l": 3})
    cov = coverage_table(records).set_index("dataset")
    assert (cov.loc["rain100l", "n"], cov.loc["rain100l", "N"], cov.loc["rain100l", "complete"]) == (3, 100, False)
    assert bool(cov.loc["gopro", "complete"])
    assert partial_sets(records) == ["rain100l: 3 of 100 images (run r)"]
    hf = records.assign(dataset="hf:someone/set")  # unknown to the registry: N from the manifest
    manifests = {"r": {"datasets": {"hf:someone/set": {"count": 5, "missing": ["a", "b"]}}}}
    assert coverage_table(hf.head(3), manifests)["N"].tolist() == [7]


def test_ablation_tables_show_only_runs_that_declare_their_variant():
    records = records_equal_to_the_paper("Ours SW", "abair-sw")
    plain = build_table(get_spec("6b"), records, n_boot=50)
    assert plain.rows("run") == []  # a Table 1 run is not a rank ablation: its averages are not repeated here
    assert any(n.startswith("no run row: an ablation checkpoint shows here when its model card") for n in plain.notes)
    marked = build_table(get_spec("6b"), records, n_boot=50, variants={("r", "abair-sw"): {"6b": "rank=8"}})
    assert marked.rows("run") == ["abair-sw (rank=8)"]
    assert "Δ abair-sw (rank=8) − 8" in marked.values.index
    assert build_table(get_spec("7"), records, n_boot=50, variants={("r", "abair-sw"): {"6b": "rank=8"}}).rows("run") == []


def test_ablation_variants_come_from_the_method_configs():
    from bench.report.build import ablation_variants

    manifests = {"r": {"methods": {"abair-sw": {"ablation": {"6b": "rank=8", "7": "LoRA r8"}}, "nlm": {}}}}
    assert ablation_variants(manifests) == {("r", "abair-sw"): {"6b": "rank=8", "7": "LoRA r8"}}
