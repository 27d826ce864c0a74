"""Reports: the paper's numbers against the seed text, table shapes and Average rules, the
statistics against simulation and scipy, the radar normalisation, exports and the HTML report."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.report import paper as paper_mod
from bench.report.radar import normalise_axis, paper_radar_data, radar_figure, save_radar
from bench.report.stats import mean_interval, paired_comparison, weighted_means_interval
from bench.report.tables import (
    DELTA,
    PAPER,
    RUN,
    build_table,
    get_spec,
    paper_average,
    select_specs,
    table_specs,
)

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "data" / "paper_seed_tables.txt"
#: SHA-256 of the verbatim table lines: the numbers in bench/data/ are checked against this file, so
#: the file itself must not drift (a deliberate correction updates the hash in the same commit)
FIXTURE_SHA256 = "104ac86c2673f9b2ad0f72cb8b1aa9805a890d03daa8c58f7aac29e32fe368f9"


# ------------------------------------------------------------------------------ paper numbers
def _fixture_sections() -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            current = line[4:].strip()
            sections[current] = []
        elif line and not line.startswith("#"):
            sections[current].append(line)
    return sections


HEADER_PREFIXES = ("PSNR/SSIM", "Rain100L", "Method", "Pre-training", "Rank", "read the caption")


def _paper_text_rows() -> pd.DataFrame:
    return pd.read_csv(io.StringIO(paper_mod.paper_results_text()), dtype=str, keep_default_na=False)


def _printed_lines(spec, text_rows: pd.DataFrame, used: set[int]) -> list[str]:
    """Rebuild each printed row of ``spec`` from the CSV text, the way the source prints it."""
    lines = []
    previous_group = None
    for row in spec.rows:
        mine = text_rows[(text_rows["table"] == str(spec.number)) & (text_rows["method"] == row.method)
                         & (text_rows["variant"] == row.variant)]
        parts, ended = [], False
        for col, metric in spec.cell_keys():
            if spec.params and (col, metric) == spec.params:
                hit = mine[mine["metric"] == "Params"]
                text = hit["value"].iloc[0] + "M" if len(hit) else None
            else:
                hit = mine[(mine["dataset"] == col) & (mine["metric"] == metric)]
                text = hit["value"].iloc[0] if len(hit) else None
                if text is not None and metric == "SSIM" and not spec.ssim_leading_zero:
                    assert text.startswith("0."), text
                    text = text[1:]
            if text is None:
                ended = True  # a truncated row may only lose its tail, never a middle cell
                continue
            assert not ended, f"table {spec.id} row {row.label}: a cell after a missing one"
            used.update(hit.index)
            parts.append(text)
        if not parts:  # a row the source does not print at all (Table 8)
            continue
        if spec.id == "6b":
            prefix = row.label
        elif row.group is not None:
            prefix = f"{row.group} [{row.cite}]{row.rank}" if row.group != previous_group else str(row.rank)
            previous_group = row.group
        else:
            prefix = row.printed
        lines.append(prefix + "".join(parts))
    return lines


def test_every_paper_number_matches_the_seed_lines():
    sections = _fixture_sections()
    text_rows = _paper_text_rows()
    used: set[int] = set()
    for spec in table_specs().values():
        data_lines = [ln for ln in sections[f"table {spec.id}"] if not ln.startswith(HEADER_PREFIXES)]
        rebuilt = _printed_lines(spec, text_rows, used)
        assert sorted(set(rebuilt)) == sorted(set(data_lines)), spec.id
        if spec.id == "8":
            assert rebuilt == [] and data_lines == []  # the caption only
        elif spec.id == "5":  # X-Restormer printed twice, kept once
            assert len(data_lines) == 8 and len(rebuilt) == 7
            assert [ln for ln in data_lines if data_lines.count(ln) == 2][0].startswith("X-Restormer [8]")
        else:
            assert len(rebuilt) == len(data_lines), spec.id
    assert used == set(text_rows.index), "every CSV row is a printed cell"
    assert len(text_rows) == 431


def test_captions_are_the_papers():
    captions = {line.replace("\xa0", " ") for lines in _fixture_sections().values() for line in lines
                if line.startswith("read the caption")}
    for spec in table_specs().values():
        assert f"read the caption{spec.caption}" in captions, spec.id


def test_seed_fixture_is_unchanged():
    import hashlib

    assert hashlib.sha256(FIXTURE.read_bytes()).hexdigest() == FIXTURE_SHA256
    assert set(_fixture_sections()) >= {"table 1", "table 8"}


def test_results_paper_is_a_byte_identical_copy_of_the_package_data():
    assert (REPO / "results/paper/results.csv").read_bytes() == paper_mod.data_path("paper_results.csv").read_bytes()
    assert (REPO / "results/paper/tables.yaml").read_bytes() == paper_mod.data_path("paper_tables.yaml").read_bytes()
    notes = (REPO / "results/paper/NOTES.md").read_text()
    for fact in ("Table 7 is cut off", "Table 8 has no numbers", "X-Restormer twice", "31.516", "33.4"):
        assert fact in notes


def test_paper_values_keep_printed_digits():
    assert paper_mod.paper_value(7, "ABAIR", "LoRA r8", "SOTS-outdoor", "PSNR") == 33.4
    assert paper_mod.paper_value(3, "IDR", "", "Rain100H", "SSIM") == 0.397
    assert paper_mod.paper_value(1, "DA-CLIP", "", "", "Params") == 174
    assert np.isnan(paper_mod.paper_value(7, "ABAIR", "LoRA r4", "LoLv1", "PSNR"))  # truncated in the source


# ------------------------------------------------------------------------------ table specs
PAPER_SHAPES = {"1": (11, 13), "2": (7, 11), "3": (7, 6), "4": (9, 6), "5": (7, 6), "6a": (4, 2), "6b": (3, 3),
                "7": (8, 13), "8": (3, 12)}


def test_table_shapes_match_the_papers():
    assert list(table_specs()) == list(PAPER_SHAPES)
    for table_id, shape in PAPER_SHAPES.items():
        spec = get_spec(table_id)
        assert spec.shape == shape
        built = build_table(spec)
        assert built.paper_part().shape == shape
        assert list(built.paper_part().index) == [r.printed for r in spec.rows]
    assert get_spec("1").cell_keys()[0] == ("Rain100L", "PSNR")
    assert get_spec("1").cell_keys()[-3:] == [("Average", "PSNR"), ("Average", "SSIM"), ("Param.", "M")]
    assert get_spec("2").cell_keys()[-1] == ("Average", "PSNR")  # PSNR only
    assert [s.id for s in select_specs(["6", "1"])] == ["6a", "6b", "1"]


def test_unknown_table_is_a_user_error():
    from abair.errors import UserError

    with pytest.raises(UserError, match="unknown table '9'"):
        select_specs(["9"])


def test_paper_average_rule_reproduces_the_printed_averages():
    """Table 1: mean of 5 column means; Table 2: mean of 5 columns (BSD68 three times), PSNR only."""
    checked = 0
    for table_id in ("1", "2"):
        spec = get_spec(table_id)
        built = build_table(spec)
        known = {(m["row"], m["metric"]) for m in spec.known_mismatches}
        for row in spec.rows:
            for metric in spec.average.metrics:
                cells = [built.values.loc[row.printed, (c.label, metric)] for c in spec.average_columns()]
                printed = built.values.loc[row.printed, ("Average", metric)]
                tolerance = 0.01 if metric == "PSNR" else 0.001  # inputs and output rounded to the print
                off = abs(paper_average(cells) - printed)
                if (row.label, metric) in known:
                    assert off > tolerance, (row.label, metric)
                else:
                    assert off <= tolerance + 1e-9, (table_id, row.label, metric, off)
                checked += 1
    assert checked == 11 * 2 + 7
    oracle = build_table(get_spec("1")).values.loc["Ours (Oracle)"]
    assert paper_average([oracle[(c, "PSNR")] for c in ("Rain100L", "SOTS-outdoor", "BSD68-s25", "GoPro", "LoLv1")]) \
        == pytest.approx(31.516)


def _synthetic_records(method_sizes: dict[str, dict[str, int]], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for method, sizes in method_sizes.items():
        for dataset, n in sizes.items():
            for i in range(n):
                for metric, value in (("psnr", rng.normal(25, 3)), ("ssim", rng.uniform(0.5, 0.95))):
                    rows.append({"run": "r1", "run_id": "x", "method": method, "dataset": dataset, "task": "t",
                                 "image_id": f"im{i}", "protocol": "allinone-rgb", "metric": metric,
                                 "value": value, "seconds": 0.0, "height": 64, "width": 64})
    return pd.DataFrame(rows)


def test_our_average_is_the_mean_of_column_means_not_of_images():
    sizes = {"mini-derain": 3, "mini-dehaze": 9, "mini-denoise-s25": 4, "mini-deblur": 12, "mini-lowlight": 2,
             "mini-denoise-s15": 5, "mini-denoise-s50": 7}
    recs = _synthetic_records({"abair-sw": sizes, "identity": {"mini-derain": 3}})
    t1 = build_table(get_spec("1"), recs, n_boot=200)
    sw = recs[recs["method"] == "abair-sw"]
    for metric in ("psnr", "ssim"):
        d = sw[sw["metric"] == metric]
        col_means = [d[d["dataset"] == ds]["value"].mean()
                     for ds in ("mini-derain", "mini-dehaze", "mini-denoise-s25", "mini-deblur", "mini-lowlight")]
        got = t1.values.loc["abair-sw", ("Average", metric.upper())]
        assert got == pytest.approx(np.mean(col_means), abs=1e-12)
        pooled = d[d["dataset"].isin(["mini-derain", "mini-dehaze", "mini-denoise-s25", "mini-deblur",
                                      "mini-lowlight"])]["value"].mean()
        assert abs(got - pooled) > 1e-6
        assert t1.values.loc["abair-sw", ("Rain100L", metric.upper())] == pytest.approx(col_means[0], abs=1e-12)
        assert t1.n.loc["abair-sw", ("Average", metric.upper())] == 30
    # the identity run covers one column only: its Average is absent, and a note says why
    assert np.isnan(t1.values.loc["identity", ("Average", "PSNR")])
    assert any("no Average for identity" in n for n in t1.notes)
    # Table 2: the 5 columns, the three BSD68 sigmas each counted once
    t2 = build_table(get_spec("2"), recs, n_boot=200)
    d = sw[sw["metric"] == "psnr"]
    cols = ["mini-derain", "mini-dehaze", "mini-denoise-s15", "mini-denoise-s25", "mini-denoise-s50"]
    want = np.mean([d[d["dataset"] == ds]["value"].mean() for ds in cols])
    assert t2.values.loc["abair-sw", ("Average", "PSNR")] == pytest.approx(want, abs=1e-12)
    assert ("Average", "SSIM") not in t2.values.columns
    # Table 6 takes Table 1's 5-deg average (for a checkpoint that declares its variant of Table 6a)
    t6 = build_table(get_spec("6a"), recs, n_boot=200, variants={("r1", "abair-sw"): {"6a": "+ Aux. segm."}})
    assert t6.values.loc["abair-sw (+ Aux. segm.)", ("Average", "PSNR")] == \
        t1.values.loc["abair-sw", ("Average", "PSNR")]
    # intervals bracket the means
    row = t1.values.loc["abair-sw"]
    assert (t1.low.loc["abair-sw"].dropna() <= row.dropna() + 1e-12).all()
    assert (t1.high.loc["abair-sw"].dropna() >= row.dropna() - 1e-12).all()


REAL_COLUMNS = ("Rain100L", "SOTS-outdoor", "BSD68-s25", "GoPro", "LoLv1")


def test_delta_to_the_paper_only_on_real_sets():
    real = {"rain100l": 100, "sots-outdoor": 500, "cbsd68-s25": 68, "gopro": 1111, "lol-v1": 15}  # complete sets
    recs = _synthetic_records({"abair-sw": real, "restormer": {"rain100l": 100}, "identity": {"rain100l": 100}})
    t1 = build_table(get_spec("1"), recs, n_boot=200)
    assert t1.suite == "real"
    delta = "Δ abair-sw − Ours SW"
    assert t1.kinds[delta] == DELTA
    for key in [("Rain100L", "PSNR"), ("LoLv1", "SSIM")]:
        assert t1.values.loc[delta, key] == pytest.approx(
            t1.values.loc["abair-sw", key] - t1.values.loc["Ours SW", key], abs=1e-12)
    # the Average against the mean of the paper's own cells (tests/test_report_delta.py)
    paper_cells = [t1.values.loc["Ours SW", (c, "PSNR")] for c in REAL_COLUMNS]
    assert t1.values.loc[delta, ("Average", "PSNR")] == pytest.approx(
        t1.values.loc["abair-sw", ("Average", "PSNR")] - np.mean(paper_cells), abs=1e-12)
    assert t1.kinds["Δ restormer − Restormer [63]"] == DELTA
    assert not any(lab.startswith("Δ identity") for lab in t1.kinds)
    mini = {"mini-derain": 4}
    t1m = build_table(get_spec("1"), _synthetic_records({"abair-sw": mini}), n_boot=200)
    assert t1m.suite == "mini" and t1m.rows(DELTA) == [] and t1m.rows(RUN) == ["abair-sw"]
    assert any("not the paper's test sets" in n for n in t1m.notes)


def test_table8_shows_only_the_blending_methods():
    recs = _synthetic_records({"abair-sum": {"mini-derain": 3}, "identity": {"mini-derain": 3}})
    t8 = build_table(get_spec("8"), recs, n_boot=200)
    assert t8.rows(RUN) == ["abair-sum"]
    assert t8.paper_part().isna().all().all()


def test_rank_marks_best_bold_second_underlined():
    from bench.report.export import to_latex, to_markdown
    from bench.report.tables import rank_marks

    t1 = build_table(get_spec("1"))
    marks = rank_marks(t1)
    assert marks.loc["Ours (Oracle)", ("Rain100L", "PSNR")] == "best"
    assert marks.loc["Ours SW", ("Rain100L", "PSNR")] == "second"
    assert marks.loc["IDR [64]", ("BSD68-s25", "PSNR")] == "best"  # 31.60 beats the Oracle's 31.40
    assert marks.loc["Ours OH", ("GoPro", "PSNR")] == marks.loc["Ours SW", ("GoPro", "PSNR")] == "second"  # tie
    assert (marks[("Param.", "M")] == "").all()
    md = to_markdown(t1)
    assert "| Ours (Oracle) | paper | **39.09** |" in md and "<u>37.79</u>" in md and "| 174 |" in md
    assert r"\textbf{39.09}" in to_latex(t1) and r"\underline{37.79}" in to_latex(t1)


# ------------------------------------------------------------------------------ statistics
def test_bootstrap_interval_covers_a_known_mean_at_the_nominal_rate():
    for dist, n, mu in (("normal", 20, 30.0), ("gamma", 30, 2.0)):
        covered = 0
        for s in range(400):
            rng = np.random.default_rng(10_000 + s)
            x = rng.normal(mu, 2.0, n) if dist == "normal" else rng.gamma(2.0, 1.0, n)
            iv = mean_interval(x, n_boot=1000, seed=s)
            covered += iv.low <= mu <= iv.high
        assert 0.92 <= covered / 400 <= 0.98, (dist, covered / 400)


def test_bca_and_percentile_agree_with_scipy():
    from scipy.stats import bootstrap

    x = np.random.default_rng(1).gamma(2.0, 1.0, 25)
    for method, scipy_method in (("bca", "BCa"), ("percentile", "percentile")):
        ours = mean_interval(x, n_boot=20000, seed=0, method=method)
        ref = bootstrap((x,), np.mean, n_resamples=20000, method=scipy_method, rng=np.random.default_rng(5))
        width = ref.confidence_interval.high - ref.confidence_interval.low
        assert abs(ours.low - ref.confidence_interval.low) < 0.03 * width
        assert abs(ours.high - ref.confidence_interval.high) < 0.03 * width
        assert ours.mean == pytest.approx(x.mean())


def test_stratified_interval_is_seeded_and_degenerate_cases_are_explicit():
    a, b = np.arange(10.0), np.arange(5.0) * 2
    one = weighted_means_interval([a, b], seed=3, n_boot=500)
    assert one == weighted_means_interval([a, b], seed=3, n_boot=500)
    assert one.mean == pytest.approx((a.mean() + b.mean()) / 2) and one.n == 15
    const = mean_interval(np.full(7, 0.5))
    assert (const.low, const.high) == (0.5, 0.5)
    assert np.isnan(mean_interval([3.0]).low)
    assert np.isnan(mean_interval([30.0, float("inf")]).low)


def test_paired_comparison_against_scipy():
    from scipy.stats import wilcoxon

    rng = np.random.default_rng(7)
    ids = [f"im{i}" for i in range(40)]
    a = pd.Series(rng.normal(30, 2, 40), index=ids)
    b = pd.Series(a.to_numpy() - rng.normal(0.3, 0.5, 40), index=ids).iloc[::-1].iloc[:35]  # reordered, fewer
    b.iloc[0] = a[b.index[0]]  # one tie
    c = paired_comparison(a, b, name_a="A", name_b="B", n_boot=2000)
    d = a.loc[b.index].to_numpy() - b.to_numpy()
    assert c.n == 35 and c.mean_delta == pytest.approx(d.mean(), abs=1e-12)
    assert c.wilcoxon_p == pytest.approx(wilcoxon(d, zero_method="wilcox").pvalue, rel=1e-12)
    assert (c.wins, c.losses, c.ties) == ((d > 0).sum(), (d < 0).sum(), 1)
    assert c.win_rate == pytest.approx((d > 0).mean())
    assert c.delta_low < d.mean() < c.delta_high and c.significant
    same = paired_comparison(a, a)
    assert same.wilcoxon_p == 1.0 and same.ties == 40 and not same.significant


# ------------------------------------------------------------------------------ radar
def test_radar_normalisation_lowest_on_second_circle_highest_outermost():
    assert list(normalise_axis([3.0, 1.0, 2.0], circles=5)) == pytest.approx([1.0, 0.4, 0.7])
    assert list(normalise_axis([2.0, 2.0], circles=4)) == [1.0, 1.0]
    frame, groups = paper_radar_data()
    assert frame.shape == (4, 11) and list(groups.values()).count("known") == 5
    fig = radar_figure(frame, groups, circles=5)
    ax = fig.axes[0]
    circles = sorted(ax.get_yticks())
    assert circles == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    radii = np.array([line.get_ydata()[:-1] for line in ax.lines])  # one polygon per method, closed
    assert radii.shape == (4, 11)
    assert radii.min(axis=0) == pytest.approx(np.full(11, circles[1]))
    assert radii.max(axis=0) == pytest.approx(np.full(11, circles[-1]))
    # the paper's Ours SW is best everywhere: it traces the outermost circle
    assert radii[list(frame.index).index("Ours SW")] == pytest.approx(np.ones(11))


def test_radar_saves_png_and_svg(tmp_path):
    frame, groups = paper_radar_data()
    png, svg = save_radar(frame, groups, tmp_path / "radar")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert "<svg" in svg.read_text()[:500]


# ------------------------------------------------------------------------------ a real small run
@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from bench.report.build import ReportOptions, make_report
    from report_methods import make_small_run

    base = tmp_path_factory.mktemp("report")
    run_dir = make_small_run(base / "run")
    result = make_report(ReportOptions(runs=[run_dir], out=str(base / "report.html"), exports=str(base / "exports"),
                                       command="abair-bench report --runs RUN --out report.html"))
    return run_dir, result


def test_report_tables_match_the_records(report):
    run_dir, result = report
    records = pd.read_csv(Path(run_dir) / "records.csv")
    html = result.html.read_text()
    t1 = next(t for t in result.tables if t.spec.id == "1")
    for method in ("identity", "smooth"):
        want = records[(records["method"] == method) & (records["dataset"] == "mini-derain")
                       & (records["metric"] == "psnr")]["value"].mean()
        assert t1.values.loc[method, ("Rain100L", "PSNR")] == pytest.approx(want, abs=1e-12)
        assert f">{want:.2f}<span class=\"ci\">± " in html
    assert "Mini suite: not the paper's test sets." in html
    assert "<code>smooth</code>: <b>tiny</b>" in html and "<b>1.5 h</b>" in html  # preset, training time


def test_report_is_self_contained(report):
    _, result = report
    html = result.html.read_text()
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert srcs and all(s.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) for s in srcs)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html
    assert html.count('<table class="t"') >= len(result.tables)


def test_report_comparison_and_audit(report):
    run_dir, result = report
    comp = {(d, m): c for d, m, c in result.comparisons}
    c = comp[("mini-denoise-s25", "psnr")]
    assert {c.a, c.b} == {"smooth", "identity"} and c.n == 6 and c.a == "smooth"  # smoothing wins on noise
    audit = result.audit.summary
    row = audit[(audit["method"] == "identity") & (audit["dataset"] == "mini-derain") & (audit["metric"] == "psnr")]
    # identity's PNG is the 8-bit input itself: the audit reproduces the runner's number (the runner
    # scored the float32 tensor of the same 8-bit levels, the audit float64: ~1e-6 dB apart)
    assert row["allinone-rgb"].iloc[0] == pytest.approx(row["recorded allinone-rgb"].iloc[0], abs=1e-5)
    assert row["spread"].iloc[0] > 0.1  # RGB vs Y moves the same images' PSNR
    assert set(result.audit.protocols) >= {"allinone-rgb", "y-bt601"}


def test_report_exports(report):
    _, result = report
    names = {p.name for p in result.exported}
    for table_id in PAPER_SHAPES:
        assert {f"table-{table_id}.csv", f"table-{table_id}.md", f"table-{table_id}.tex",
                f"table-{table_id}-cells.csv"} <= names
    assert {"radar-paper.png", "radar-paper.svg", "radar-runs.png", "radar-runs.svg", "grid-1.jpg",
            "protocol-audit.csv", "paired-comparisons.csv"} <= names
    t1 = next(t for t in result.tables if t.spec.id == "1")
    exported = pd.read_csv(next(p for p in result.exported if p.name == "table-1.csv"))
    assert list(exported["row"]) == list(t1.values.index)
    got = exported.set_index("row").loc["smooth", "Rain100L PSNR"]
    assert got == pytest.approx(t1.values.loc["smooth", ("Rain100L", "PSNR")], rel=1e-12)
    assert exported.set_index("row").loc["AirNet [27]", "source"] == PAPER


def test_report_command_line_errors(tmp_path, capsys):
    import argparse

    from bench.commands import report as command

    parser = argparse.ArgumentParser(prog="abair-bench")
    command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["report", "--runs", str(tmp_path / "nope"), "--out", str(tmp_path / "r.html")])
    from abair.errors import UserError

    with pytest.raises(UserError, match="run directory .*nope does not exist"):
        args.func(args)
    args = parser.parse_args(["report", "--runs", str(tmp_path), "--out", "r.html", "--grid", "mini-derain"])
    with pytest.raises(UserError, match="--grid 'mini-derain' must look like DATASET:IMAGE_ID"):
        args.func(args)


def test_report_counts_the_images_scored_not_the_set(report):
    from report_methods import LIMIT

    _, result = report
    html = result.html.read_text()
    assert "<th>images scored</th>" in html
    assert f"<td>{LIMIT} of 34</td>" in html and "<td>34</td>" not in html


@pytest.mark.parametrize("grid, expected", [
    (("mini-derian", "astronaut-r0c0"), "--grid mini-derian:astronaut-r0c0: no dataset 'mini-derian' in the runs "
                                        "(did you mean 'mini-derain'?)"),
    (("mini-derain", "astronaut-r0c99"), "--grid mini-derain:astronaut-r0c99: no image 'astronaut-r0c99' of "
                                         "mini-derain in the runs (did you mean"),
])
def test_report_refuses_a_grid_image_not_in_the_runs(report, tmp_path, grid, expected):
    from abair.errors import UserError
    from bench.report.build import ReportOptions, make_report

    run_dir, _ = report
    with pytest.raises(UserError) as err:
        make_report(ReportOptions(runs=[run_dir], out=str(tmp_path / "r.html"), grids=[grid], audit=False))
    assert str(err.value).startswith(expected)
    assert not (tmp_path / "r.html").exists()


def test_report_never_writes_to_a_run_store(report, tmp_path, capsys):
    import shutil

    from bench.cli import main

    run_dir, _ = report
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("images"))
    records = copy / "records.csv"
    records.write_bytes(records.read_bytes()[:-25])  # the last row cut mid-write
    before = {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["report", "--runs", str(copy), "--out", str(tmp_path / "r.html"), "--no-audit", "--n-boot", "100"]) == 0
    assert {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()} == before
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ends in a partial line" in err[0]


def test_image_grids_are_jpeg_and_figures_render_to_the_same_bytes_twice(report):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.report.radar import figure_bytes

    _, result = report
    assert "data:image/jpeg;base64," in Path(result.html).read_text()  # the grids
    fig, ax = plt.subplots()
    ax.imshow(np.arange(64.0).reshape(8, 8))
    for fmt, magic in (("jpeg", b"\xff\xd8"), ("png", b"\x89PNG"), ("svg", b"<?xml")):
        a, b = figure_bytes(fig, fmt), figure_bytes(fig, fmt)
        assert a == b and a.startswith(magic)
    plt.close(fig)


def test_audit_scores_equal_scoring_each_image_alone(report):
    """The audit scores a dataset's images in batched calls on the batched backends; every value
    equals Protocol.score on that one image, for every audited protocol and for @torch."""
    from bench.datasets import get_dataset
    from bench.protocols import get_protocol
    from bench.report.audit import _score_all
    from bench.report.grids import read_png

    run_dir, result = report
    scores = result.audit.scores
    pairs = {p.image_id: p for p in get_dataset("mini-derain")}
    sample = scores[(scores["method"] == "smooth") & (scores["dataset"] == "mini-derain")]
    ids = sorted(set(sample["image_id"]))[:4]
    items = [(i, read_png(Path(run_dir) / "images" / "smooth" / "mini-derain" / f"{i}.png"), pairs[i].clean)
             for i in ids]
    assert set(sample["protocol"]) == set(result.audit.protocols)
    for label in [*result.audit.protocols, "allinone-rgb@torch", "y-bt601@torch"]:
        protocol = get_protocol(label)
        batched = dict(_score_all(protocol, "mini-derain", items, []))
        for image_id, restored, clean in items:
            want = protocol.score(*protocol.prepare_pair(restored, clean))
            assert batched[image_id] == pytest.approx(want, abs=1e-12)
            if label in result.audit.protocols:
                got = sample[(sample["protocol"] == label) & (sample["image_id"] == image_id)]
                assert got.set_index("metric")["value"].to_dict() == pytest.approx(want, abs=1e-12)


def test_default_audit_is_each_protocol_once_through_its_exact_batched_backend():
    from bench.protocols import get_protocol, list_protocols
    from bench.report.audit import available_protocols, column_names

    specs, notes = available_protocols()
    assert {"allinone-rgb", "y-bt601", "basicsr-y"} <= set(specs)
    assert not any("@" in s for s in specs)  # no @pyiqa unless asked for
    skipped = {note.split(" ")[0] for note in notes}
    assert set(specs) | skipped == {p.name for p in list_protocols()}
    both = [get_protocol("allinone-rgb@torch"), get_protocol("allinone-rgb@skimage"), get_protocol("y-bt601@torch")]
    assert column_names(both) == ["allinone-rgb@torch", "allinone-rgb", "y-bt601"]
