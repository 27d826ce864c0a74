"""Severity and composition sweeps: specs, points, records, resume after kill -9, the report section."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main

TESTS = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": str(TESTS) + os.pathsep + os.environ.get("PYTHONPATH", "")}
CLI = [sys.executable, "-m", "bench.cli"]
SMOKE_POINTS = ["sweep:noise(sigma=15)", "sweep:noise(sigma=60)", "sweep:jpeg(quality=60)", "sweep:jpeg(quality=10)",
                "sweep:blur(kind=motion,size=9)+noise(sigma=25)", "sweep:noise(sigma=25)+blur(kind=motion,size=9)"]


def read_rows(out: Path) -> list[dict]:
    with open(out / "records.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def keys(rows) -> list[tuple]:
    return [(r["method"], r["dataset"], r["image_id"], r["protocol"], r["metric"]) for r in rows]


# --- specs --------------------------------------------------------------------------------------


def test_shipped_specs_parse_and_name_their_points():
    from bench.sweeps.spec import load_spec

    smoke = load_spec("smoke")
    assert [p.name for p in smoke.points] == SMOKE_POINTS
    assert smoke.images == 3
    default = load_spec("default")
    noise = [p for p in default.points if p.axis == "noise sigma"]
    assert [p.level for p in noise] == [5, 15, 25, 35, 50, 65, 75]
    three = [p for p in default.points if len(p.steps) == 3]
    assert len(three) == 6 and len({p.name for p in three}) == 6  # every order of blur, noise, jpeg
    assert {p.family for p in three} == {"blur+jpeg+noise"}


@pytest.mark.parametrize("text, fragment", [
    ("axes:\n  - {operator: nosie, param: sigma, values: [5]}\n",
     "axes entry 1: unknown degradation 'nosie' (did you mean 'noise'?)"),
    ("axes:\n  - {operator: noise, param: sigam, values: [5]}\n",
     "axes entry 1: the noise operator has no parameter 'sigam' (did you mean 'sigma'?)"),
    ("axes:\n  - {operator: jpeg, param: quality, values: [0]}\n", "jpeg: quality must be an integer in 1..100, got 0"),
    ("axes:\n  - {operator: noise, values: [5]}\n", "axes entry 1 has no 'param'"),
    ("compositions:\n  - noise(sigma=5)\n", "compositions entry 1 must be 2 or 3 steps joined by '+'"),
    ("compositions:\n  - noise(sigma=5) + noise(sigma=9)\n", "each operator may appear once, got noise+noise"),
    ("axes: [\n", "is not valid YAML"),
    ("imgs: 3\n", "has unknown key(s) imgs; keys: images, axes, compositions, description"),
    ("images: 3\n", "defines no point; give 'axes' or 'compositions'"),
])
def test_bad_spec_is_one_line(tmp_path, one_line_error, text, fragment):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    line = one_line_error(["sweep", "--spec", str(spec), "--methods", "identity", "--out", str(tmp_path / "r")])
    assert line.startswith(f"abair-bench: error: sweep spec {spec}") and fragment in line, line
    assert not (tmp_path / "r" / "records.csv").exists()


def test_unknown_spec_name_and_source(tmp_path, one_line_error):
    line = one_line_error(["sweep", "--spec", "smok", "--methods", "identity", "--out", str(tmp_path / "r")])
    assert "--spec 'smok' is neither a shipped spec (default, smoke) (did you mean 'smoke'?) nor a YAML file" in line
    line = one_line_error(["sweep", "--spec", "smoke", "--source", "test-pol", "--methods", "identity",
                           "--out", str(tmp_path / "r")])
    assert "unknown sweep source 'test-pol' (did you mean 'test-pool'?)" in line


# --- one point recomputed independently ---------------------------------------------------------


def test_one_point_recomputed_independently_equals_the_record(tmp_path):
    """Degrade with the documented seed and parameters, restore with identity, score with allinone-rgb."""
    import torch
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from abair.data.sample_images import TEST_POOL, grid_tiles, load_source
    from abair.degradations import make_generator, seed_from_string
    from abair.degradations.noise import noise

    out = tmp_path / "s"
    assert main(["sweep", "--spec", "smoke", "--methods", "identity", "--images", "2", "--out", str(out),
                 "--no-progress"]) == 0
    rows = read_rows(out)
    assert len(rows) == 6 * 2 * 2  # points x images x (psnr, ssim)
    image_id = "coffee-r0c1"  # 2 of the 34 tiles evenly spaced: the 1st (astronaut-r0c0) and the 18th
    assert {r["image_id"] for r in rows} == {"astronaut-r0c0", image_id}
    name = "sweep:noise(sigma=60)"
    top, left, h, w = dict(grid_tiles("coffee", 128))[image_id]
    assert "coffee" in TEST_POOL
    clean = load_source("coffee")[top:top + h, left:left + w]
    x = torch.from_numpy(clean.copy()).permute(2, 0, 1).to(torch.float64) / 255
    degraded = noise(x, make_generator(seed_from_string("sweep", name, image_id)), sigma=60)
    degraded = (degraded * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    # identity hands back its float32 input (methods see float32 batches); the ground truth is float64
    restored = (degraded.astype(np.float32) / np.float32(255)).astype(np.float64)
    truth = clean.astype(np.float64) / 255
    want = {"psnr": peak_signal_noise_ratio(truth, restored, data_range=1),
            "ssim": structural_similarity(truth, restored, data_range=1, channel_axis=-1, win_size=7)}
    got = {r["metric"]: float(r["value"]) for r in rows if r["dataset"] == name and r["image_id"] == image_id}
    assert got["psnr"] == pytest.approx(want["psnr"], abs=1e-9)
    assert got["ssim"] == pytest.approx(want["ssim"], abs=1e-9)
    import json

    entry = json.loads((out / "manifest.json").read_text())["datasets"][name]
    assert entry["sweep"]["steps"] == [{"operator": "noise", "params": {"sigma": 60}}]
    assert entry["sweep"]["axis"] == "noise sigma" and entry["sweep"]["level"] == 60
    assert entry["seed"] == f"seed_from_string('sweep', '{name}', image_id)" and entry["task"] == "sweep"


# --- resume ---------------------------------------------------------------------------------------


def test_limit_then_full_rerun_adds_exactly_the_missing_rows(tmp_path):
    out = tmp_path / "s"
    base = ["sweep", "--spec", "smoke", "--methods", "identity", "--images", "3", "--out", str(out), "--no-progress"]
    assert main(base + ["--limit", "1"]) == 0
    first = read_rows(out)
    assert len(first) == 6 * 1 * 2
    assert main(base) == 0
    rows = read_rows(out)
    assert rows[: len(first)] == first and len(rows) == 6 * 3 * 2 and len(set(keys(rows))) == len(rows)
    assert main(base) == 0  # nothing left to do
    assert read_rows(out) == rows


def test_kill_9_mid_sweep_then_rerun_has_no_duplicated_or_missing_row(tmp_path):
    out = tmp_path / "s"
    args = CLI + ["sweep", "--spec", "smoke", "--methods", "slow_method:make", "--method-arg",
                  "slow_method:make.seconds=0.3", "--images", "3", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(args, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = out / "records.csv"
    deadline = time.time() + 120
    while time.time() < deadline:
        if records.exists() and len(records.read_text().splitlines()) > 1 + 2 * 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = read_rows(out)
    assert 0 < len(partial) < 6 * 3 * 2
    done = subprocess.run(args, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = read_rows(out)
    assert rows[: len(partial)] == partial
    want = {("sleepy", p, i, "allinone-rgb", m) for p in SMOKE_POINTS
            for i in ("astronaut-r0c0", "astronaut-r2c3", "coffee-r1c2") for m in ("psnr", "ssim")}
    assert sorted(keys(rows)) == sorted(want)  # no duplicated row, none missing


# --- end to end with the report -----------------------------------------------------------------


def _figures(html: str) -> dict[str, int]:
    kinds = re.findall(r'<figure class="sweep (\w+)"', html)
    return {k: kinds.count(k) for k in set(kinds)}


def test_smoke_sweep_and_report_end_to_end(tmp_path):
    out = tmp_path / "s"
    assert main(["sweep", "--spec", "smoke", "--methods", "identity,deblock", "--images", "2", "--out", str(out),
                 "--no-progress"]) == 0
    report = tmp_path / "report.html"
    assert main(["report", "--runs", str(out), "--out", str(report), "--exports", str(tmp_path / "x"),
                 "--no-audit", "--n-boot", "200"]) == 0
    html = report.read_text(encoding="utf-8")
    assert _figures(html) == {"severity": 2, "composition": 1}  # noise sigma, jpeg quality; one heat map
    assert html.count('src="data:image/svg+xml;base64,') == 3
    assert 'id="sweep-noise-sigma"' in html and 'id="sweep-jpeg-quality"' in html
    # the written summaries are computed from the records
    import pandas as pd

    table = pd.read_csv(tmp_path / "x" / "sweep-points.csv")
    gain = table[(table["method"] == "deblock") & (table["dataset"] == "sweep:jpeg(quality=10)")
                 & (table["metric"] == "psnr")]["gain"].iloc[0]
    assert f"quality 10 ({gain:+.2f} dB)" in html
    assert "blur &amp; noise: the input is hardest as" in html
    for stem in ("sweep-noise-sigma", "sweep-jpeg-quality", "sweep-compositions"):
        assert (tmp_path / "x" / f"{stem}.svg").read_bytes().startswith(b"<?xml")
        assert (tmp_path / "x" / f"{stem}.png").is_file()


def test_reports_of_ordinary_runs_have_no_sweep_section(tmp_path):
    out = tmp_path / "r"
    assert main(["run", "--suite", "mini", "--datasets", "mini-derain", "--methods", "identity", "--limit", "2",
                 "--out", str(out), "--no-progress"]) == 0
    assert main(["report", "--runs", str(out), "--out", str(tmp_path / "r.html"), "--no-audit", "--n-boot", "200"]) == 0
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'id="sweeps"' not in html and "Severity and composition sweeps" not in html


@pytest.mark.slow
def test_abair_sweep_records_the_estimator_and_reports_it(tmp_path):
    """The issue's check: identity and abair-sw over the smoke spec, the report with a severity plot per
    degradation, the estimator's blend and the heat map (the browser check is in test_report_browser)."""
    import bench

    out = tmp_path / "s"
    df = bench.sweep(["identity", "abair-sw"], out, "smoke", images=2)
    est = df[df["protocol"] == "estimator"]
    assert len(est) == 6 * 2 * 5  # points x images x the tiny model's 5 adapters
    sums = est.groupby(["dataset", "image_id"])["value"].sum()
    assert np.allclose(sums, 1.0, atol=1e-5)  # probabilities
    html = bench.make_report([out], tmp_path / "r.html", audit=False, n_boot=200).read_text(encoding="utf-8")
    assert _figures(html) == {"severity": 2, "estimator": 1, "composition": 1}
    assert re.search(r"abair-sw (beats|stops beating|never beats) the input", html)
    assert "abair-sw&#39;s estimator favours noise" in html


def test_sweep_report_renders_in_a_browser(tmp_path):
    """Headless Chromium decodes every embedded SVG of the sweep section (skipped without chromium)."""
    from test_report_browser import CHROMIUM, PROBE, _chromium

    if CHROMIUM is None:
        pytest.skip("no chromium binary on PATH (apt-get install -y chromium)")
    out = tmp_path / "s"
    assert main(["sweep", "--spec", "smoke", "--methods", "identity,deblock", "--images", "2", "--out", str(out),
                 "--no-progress"]) == 0
    report = tmp_path / "r.html"
    assert main(["report", "--runs", str(out), "--out", str(report), "--no-audit", "--n-boot", "200"]) == 0
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium(["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], tmp_path).stdout
    images = int(re.search(r'data-images="(\d+)"', dom).group(1))
    decoded = int(re.search(r'data-decoded="(\d+)"', dom).group(1))
    assert dom.count('src="data:image/svg+xml;base64,') == 3 and decoded == images >= 3
