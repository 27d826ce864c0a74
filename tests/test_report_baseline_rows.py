"""The report shows every paper baseline's run rows in the tables it has a row in, in the right columns.

Two run directories: one written by the real runner (``idr`` from a random tiny checkpoint in its
authors' format, and ``folder:IDR`` / ``folder:DL`` on restored images), one written through the
run store's API for the methods that are expensive or not ported (AirNet, Uformer, X-Restormer,
DA-CLIP, DiffUIR, Restormer, PromptIR, MPRNet, and IDR on the real Table 3 sets, which the mini
suite has no analogue of). The report's exported cells must hold each of the ten baselines' paper
row and its run rows, with the mean of exactly the records that belong there: a baseline only in
the tables the catalog lists for it, a per-task release (``mprnet:denoise``, ``uformer:denoise``,
``x-restormer:derain``) only in its task's columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from bench.report.build import ReportOptions, make_report
from bench.store import RunStore

T1 = {"Rain100L": "mini-derain", "SOTS-outdoor": "mini-dehaze", "BSD68-s25": "mini-denoise-s25", "GoPro": "mini-deblur",
      "LoLv1": "mini-lowlight"}
T2 = {"Rain100L": "mini-derain", "SOTS-outdoor": "mini-dehaze", "BSD68-s15": "mini-denoise-s15",
      "BSD68-s25": "mini-denoise-s25", "BSD68-s50": "mini-denoise-s50"}
T3 = {"Rain100H": "rain100h", "HIDE": "hide", "LoLv2-Real": "lol-v2-real"}
T4 = {"4-to-8bit": "mini-4to8bit", "JPEG-Q20": "mini-jpeg-q20", "Desnowing": "mini-desnow"}
T5 = {"Blur&Noise": "mini-blur+noise", "Blur&JPEG": "mini-blur+jpeg", "Haze&Snow": "mini-haze+snow"}
TABLES = {"1": T1, "2": T2, "3": T3, "4": T4, "5": T5}
EVERY = sorted({ds for cols in TABLES.values() for ds in cols.values()})
TASKS = {"mini-derain": "derain", "rain100h": "derain", "mini-dehaze": "dehaze", "mini-deblur": "deblur", "hide": "deblur",
         "mini-lowlight": "lowlight", "lol-v2-real": "lowlight", "mini-4to8bit": "bitdepth", "mini-jpeg-q20": "jpeg",
         "mini-desnow": "desnow", "mini-blur+noise": "mixed", "mini-blur+jpeg": "mixed", "mini-haze+snow": "mixed",
         **{f"mini-denoise-s{s}": "denoise" for s in (15, 25, 50)}}
#: stored method -> the datasets it has records on (more than it belongs to, to show what is left out)
STORED = {
    "airnet": EVERY, "restormer": EVERY, "promptir": EVERY, "diffuir": EVERY, "daclip": EVERY,
    "uformer:denoise": EVERY, "x-restormer:derain": EVERY, "mprnet:denoise": EVERY, "mprnet:deblur": EVERY,
    "idr": list(T3.values()),
}
RAN = ["mini-derain", "mini-desnow", "mini-haze+snow"]  # the real runner's datasets (one image each)
#: (table, run row) -> the columns it must fill; every other (table, row) of these methods must be absent
EXPECTED = {
    ("1", "airnet"): list(T1), ("2", "airnet"): list(T2),
    **{(t, m): list(TABLES[t]) for t in "12345" for m in ("restormer", "promptir")},
    **{(t, "diffuir"): list(TABLES[t]) for t in "1345"}, ("1", "daclip"): list(T1),
    ("1", "uformer:denoise"): ["BSD68-s25"],
    ("1", "x-restormer:derain"): ["Rain100L"], ("3", "x-restormer:derain"): ["Rain100H"],
    ("2", "mprnet:denoise"): ["BSD68-s15", "BSD68-s25", "BSD68-s50"],
    ("1", "idr"): ["Rain100L"], ("3", "idr"): list(T3), ("4", "idr"): ["Desnowing"], ("5", "idr"): ["Haze&Snow"],
    ("1", "IDR"): ["Rain100L"], ("4", "IDR"): ["Desnowing"], ("5", "IDR"): ["Haze&Snow"],
    ("2", "DL"): ["Rain100L"],
}
#: idr has records in both runs, so its rows are labelled with their run in every table (one polygon per run on
#: the radar): the real runner's (mini sets) in Tables 1, 4, 5, the stored run's (real Table 3 sets) in Table 3
IDR_ROWS = {"1": "idr [ran]", "3": "idr [stored]", "4": "idr [ran]", "5": "idr [ran]"}
PAPER_ROWS = {"1": ["AirNet [27]", "Uformer [51]", "IDR [64]", "X-Restormer [8]", "DA-CLIP [30]", "DiffUIR [66]",
                    "Restormer [63]", "PromptIR [40]"],
              "2": ["DL [14]", "MPRNet [62]", "AirNet [27]", "Restormer [63]", "PromptIR [40]"],
              **{t: ["IDR [64]", "X-Restormer [8]", "DiffUIR [66]", "Restormer [63]", "PromptIR [40]"] for t in "345"}}


def _stored_run(out) -> None:
    """Records written through the run store: 3 images per mini set and every image of a real set (a
    partial real set gets no Δ), PSNR 20 + k + j / 4, SSIM 0.5 + k / 100 + j / 50 with j = i mod 3."""
    from bench.report.coverage import expected_count

    store = RunStore(out)
    rows = []
    for k, (method, datasets) in enumerate(STORED.items()):
        for dataset in datasets:
            for i in range(3 if dataset.startswith("mini-") else expected_count(dataset)):
                j = i % 3
                for metric, value in (("psnr", 20 + k + j / 4), ("ssim", 0.5 + k / 100 + j / 50)):
                    rows.append({"run_id": "stored", "method": method, "dataset": dataset, "task": TASKS[dataset],
                                 "image_id": f"im{i}", "protocol": "allinone-rgb", "metric": metric, "value": value,
                                 "seconds": 0.0, "height": 128, "width": 128})
    with store.lock():
        store.records.append(rows)
        store.write_manifest({"run_id": "stored"})


def _real_run(tmp_path) -> None:
    from baselines.published.idr.arch import IDR
    from bench.datasets import get_dataset
    from bench.runner import RunSpec, run

    torch.manual_seed(0)
    model = IDR(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1, num_degra_queries=4)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.1)
    ckpt = tmp_path / "1200_G.pth"
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, ckpt)  # what the authors' training saves
    outputs = tmp_path / "outputs"  # "restored" images: the degraded inputs (a folder holds the whole set)
    from PIL import Image

    for name in RAN:
        (outputs / name).mkdir(parents=True)
        for pair in get_dataset(name):
            Image.fromarray(pair.degraded).save(outputs / name / f"{pair.image_id}.png", compress_level=1)
    run(RunSpec(out=str(tmp_path / "ran"), methods=["idr", f"folder:IDR={outputs}", f"folder:DL={outputs}"],
                datasets=RAN, limit=1, progress=False, method_args={"idr": {"checkpoint": str(ckpt)}},
                protocols=["allinone-rgb"]))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("baseline-rows")
    _stored_run(tmp / "stored")
    _real_run(tmp)
    exports = tmp / "exports"
    make_report(ReportOptions(runs=[str(tmp / "stored"), str(tmp / "ran")], out=str(tmp / "report.html"),
                              tables=list(TABLES), exports=str(exports), audit=False, n_boot=100))
    records = pd.concat([pd.read_csv(tmp / run / "records.csv") for run in ("stored", "ran")], ignore_index=True)
    cells = {t: pd.read_csv(exports / f"table-{t}-cells.csv") for t in TABLES}
    return records, cells, (tmp / "report.html").read_text(encoding="utf-8")


def test_every_baseline_has_its_paper_row(report):
    _, cells, _ = report
    for table, rows in PAPER_ROWS.items():
        paper = cells[table][cells[table]["source"] == "paper"]
        for row in rows:
            assert set(paper.loc[paper["row"] == row, "column"]) >= set(TABLES[table]), (table, row)
    t1 = cells["1"]
    idr = t1[(t1["row"] == "IDR [64]") & (t1["metric"] == "PSNR")].set_index("column")["value"]
    assert idr["Rain100L"] == 35.63 and idr["LoLv1"] == 21.34  # bench/data/paper_results.csv


def test_run_rows_fill_exactly_their_tables_and_columns(report):
    records, cells, _ = report
    methods = {m for _, m in EXPECTED} | set(STORED)
    for table in TABLES:
        run = cells[table][cells[table]["source"] == "run"]
        for method in sorted(methods):
            got = run[run["row"] == (IDR_ROWS.get(table, method) if method == "idr" else method)]
            want = EXPECTED.get((table, method), [])
            assert sorted(set(got["column"]) - {"Average"}) == sorted(want), (table, method)
            for column in want:
                for metric in ("PSNR", "SSIM"):
                    if table == "2" and metric == "SSIM":
                        continue
                    d = records[(records["method"] == method) & (records["dataset"] == TABLES[table][column])
                                & (records["metric"] == metric.lower())]
                    cell = got[(got["column"] == column) & (got["metric"] == metric)]
                    assert len(cell) == 1 and len(d) in (1, 3, 100, 2025), (table, method, column, metric)
                    assert cell["value"].iloc[0] == pytest.approx(d["value"].mean(), abs=1e-9)
                    assert cell["n"].iloc[0] == len(d)


def test_averages_and_deltas_of_baselines(report):
    records, cells, _ = report
    t1 = cells["1"]
    airnet = t1[(t1["row"] == "airnet") & (t1["column"] == "Average") & (t1["metric"] == "PSNR")]
    d = records[(records["method"] == "airnet") & (records["metric"] == "psnr")]
    want = np.mean([d[d["dataset"] == ds]["value"].mean() for ds in T1.values()])
    assert airnet["value"].iloc[0] == pytest.approx(want, abs=1e-9)
    # a per-task release has no Average (it covers one column); no Δ is taken on mini-suite columns
    assert t1[(t1["row"] == "uformer:denoise") & (t1["column"] == "Average")].empty
    assert not any(r.startswith("Δ") for t, c in cells.items() if t != "3" for r in c["row"])
    # Table 3 is on the real sets: the Δ to the paper's row of the same baseline
    t3 = cells["3"]
    delta = t3[(t3["row"] == "Δ idr [stored] − IDR [64]") & (t3["column"] == "HIDE") & (t3["metric"] == "PSNR")]
    run = t3[(t3["row"] == "idr [stored]") & (t3["column"] == "HIDE") & (t3["metric"] == "PSNR")]
    paper = t3[(t3["row"] == "IDR [64]") & (t3["column"] == "HIDE") & (t3["metric"] == "PSNR")]
    assert delta["value"].iloc[0] == pytest.approx(run["value"].iloc[0] - 16.83, abs=1e-9)
    assert paper["value"].iloc[0] == 16.83
    assert set(t3.loc[t3["source"] == "delta", "row"]) == {
        "Δ idr [stored] − IDR [64]", "Δ restormer − Restormer [63]", "Δ promptir − PromptIR [40]", "Δ diffuir − DiffUIR [66]",
        "Δ x-restormer:derain − X-Restormer [8]"}


def test_html_shows_the_run_rows(report):
    _, _, html = report
    for label in ("idr [ran]", "idr [stored]", "IDR", "DL", "daclip", "diffuir", "mprnet:denoise", "uformer:denoise", "x-restormer:derain"):
        assert f'<tr class="run"><td class="label">{label}<span class="kind run">' in html, label
    # MPRNet's table (2) has no deblurring column: mprnet:deblur has no table row
    assert '<td class="label">mprnet:deblur<span' not in html
