"""The HTML report renders in headless Chromium: a screenshot that is not blank, and a DOM in which
the tables are present and every embedded image decoded.

Needs the ``chromium`` binary (Debian: ``apt-get install -y chromium``); skipped without it.
Checks the committed mini-suite report (``results/mini/report.html``) and a report built now from
a small real run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "results" / "mini" / "report.html"
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
                 if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (apt-get install -y chromium); the browser check of the "
    "HTML report needs it")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
# appended to a test copy only (the report itself has no script): after load, record how many images decoded
PROBE = """<script>window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  document.body.setAttribute('data-images', imgs.length);
  document.body.setAttribute('data-decoded', imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length);
  document.body.setAttribute('data-tables', document.querySelectorAll('table').length);
});</script>"""


def _chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module", params=["committed", "fresh"])
def report_html(request, tmp_path_factory) -> Path:
    if request.param == "committed":
        if not COMMITTED.exists():
            pytest.skip(f"{COMMITTED.relative_to(REPO)} is not committed yet")
        return COMMITTED
    from bench.report.build import ReportOptions, make_report
    from report_methods import make_small_run

    base = tmp_path_factory.mktemp("browser")
    run_dir = make_small_run(base / "run")
    return make_report(ReportOptions(runs=[run_dir], out=str(base / "report.html"), command="test")).html


def test_screenshot_is_not_blank(report_html, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    proc = _chromium([f"--screenshot={shot}", "--window-size=1400,2000", report_html.resolve().as_uri()], tmp_path)
    assert shot.exists(), proc.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert image.shape == (2000, 1400, 3)
    assert image.std() > 20  # text, tables and the banner: far from a blank page
    not_white = (image.min(axis=2) < 235).mean()
    assert 0.03 < not_white < 0.9
    banner = image[:400]  # the scale banner near the top is coloured (light blue or light orange)
    assert ((np.abs(banner[..., 0] - banner[..., 2]) > 15) & (banner.min(axis=2) > 180)).mean() > 0.01


def test_dom_has_the_tables_and_decoded_images(report_html, tmp_path):
    html = report_html.read_text(encoding="utf-8")
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    proc = _chromium(["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], tmp_path)
    dom = proc.stdout
    assert "<body" in dom, proc.stderr[-2000:]
    images = int(re.search(r'data-images="(\d+)"', dom).group(1))
    decoded = int(re.search(r'data-decoded="(\d+)"', dom).group(1))
    tables = int(re.search(r'data-tables="(\d+)"', dom).group(1))
    data_imgs = re.findall(r'<img src="data:image/(?:png|jpeg);base64,', dom)
    assert images == len(data_imgs) >= 2  # every image is embedded: PNG plots (radars), JPEG grids
    assert decoded == images
    for table_id in ("1", "2", "3", "4", "5", "6a", "6b", "7", "8"):
        assert f'<table class="t" id="t{table_id}">' in dom
    assert tables >= 9 + 1  # the 9 paper tables and at least one manifest table
    assert "Ours (Oracle)" in dom and "39.09" in dom
