"""The report's paired-comparison table keeps a sweep's end points only; the exported CSV keeps all."""

from __future__ import annotations

import re

from bench.cli import main

SPEC = """\
images: 2
axes:
  - {operator: noise, param: sigma, values: [10, 30, 50]}
  - {operator: jpeg, param: quality, values: [80, 40, 10]}
compositions:
  - blur(kind=motion,size=9) + noise(sigma=25) + jpeg(quality=30)
"""
STEPS = ("blur(kind=motion,size=9)", "noise(sigma=25)", "jpeg(quality=30)")


def test_end_points_of_the_default_spec():
    from bench.report.sweep_data import end_points
    from bench.sweeps.spec import load_spec

    points = load_spec("default").points
    info = {p.name: {**p.describe(), "operators": list(p.operators)} for p in points}
    ends = end_points(info)
    assert len(points) == 75 and len(ends) == 9 * 2 + 6 * 2 + 2  # axis ends, two-step pairs, 2 of 6 orders
    assert {"sweep:noise(sigma=5)", "sweep:noise(sigma=75)", "sweep:jpeg(quality=90)", "sweep:jpeg(quality=5)",
            "sweep:blur(kind=motion,size=3)", "sweep:blur(kind=motion,size=35)",
            "sweep:blur(kind=motion,size=11)+noise(sigma=15)+jpeg(quality=30)",
            "sweep:jpeg(quality=30)+noise(sigma=15)+blur(kind=motion,size=11)",
            "sweep:noise(sigma=25)+blur(kind=motion,size=15)"} <= ends
    assert "sweep:noise(sigma=50)" not in ends and "sweep:blur(kind=motion,size=11)+jpeg(quality=30)+noise(sigma=15)" \
        not in ends


def test_report_table_keeps_sweep_ends_and_ordinary_datasets(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    sweep, plain = tmp_path / "s", tmp_path / "r"
    assert main(["sweep", "--spec", str(spec), "--methods", "identity,deblock", "--out", str(sweep),
                 "--no-progress"]) == 0
    assert main(["run", "--suite", "mini", "--datasets", "mini-derain", "--methods", "identity,deblock", "--limit", "2",
                 "--out", str(plain), "--no-progress"]) == 0
    report, exports = tmp_path / "report.html", tmp_path / "x"
    assert main(["report", "--runs", str(sweep), str(plain), "--out", str(report), "--exports", str(exports),
                 "--no-audit", "--n-boot", "200"]) == 0
    html = report.read_text(encoding="utf-8")
    table = html.split('id="comparisons-table"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr><td class="label">([^<]+)</td>.*?<td>(PSNR|SSIM)</td>', table, flags=re.S)
    composition = ["sweep:" + "+".join(STEPS), "sweep:" + "+".join(STEPS[::-1])]
    kept = ["sweep:noise(sigma=10)", "sweep:noise(sigma=50)", "sweep:jpeg(quality=80)", "sweep:jpeg(quality=10)",
            *composition]
    assert [d for d, _ in rows] == [d for d in [*kept, "mini-derain"] for _ in range(2)]  # both runs' order
    assert ('<p class="small" id="comparisons-note">12 of the 24 sweep-point comparisons (6 points) are not shown: '
            "for sweep points the table keeps the lowest and highest level of each axis and each composition in its "
            "written order and reversed. The sweep section plots every point; --exports writes every comparison to "
            "paired-comparisons.csv.</p>") in html
    import pandas as pd

    csv = pd.read_csv(exports / "paired-comparisons.csv")
    assert len(csv) == 2 * (2 * 3 + 6) + 2  # every sweep point's PSNR and SSIM, and the ordinary set's
    assert {"sweep:noise(sigma=30)", "sweep:jpeg(quality=40)", "sweep:" + "+".join(STEPS[1:] + STEPS[:1])} \
        <= set(csv["dataset"])
