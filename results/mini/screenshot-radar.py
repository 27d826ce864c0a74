"""Screenshot of the run radar as headless Chromium renders it in results/mini/report.html.

Usage (from the repository root, after results/mini/make.sh): ``.venv/bin/python results/mini/screenshot-radar.py``.
Cuts the report's "Figure 1" section (heading, text, both radars, captions, notes) into a page of its
own with the report's styles, renders it in headless Chromium (Debian's ``chromium``) and writes
``results/mini/radar-runs-screenshot.png``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPORT, OUT = HERE / "report.html", HERE / "radar-runs-screenshot.png"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--virtual-time-budget=10000"]


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("screenshot-radar: no chromium binary on PATH (apt-get install -y chromium)", file=sys.stderr)
        return 2
    html = REPORT.read_text(encoding="utf-8")
    head = html[: html.index("<body")]
    start = html.index('<h2 id="radar">')
    end = html.index("<h2", start + 10)
    section = html[start:end]
    run_fig = section.index("The same plot from our runs")  # the run radar: its figure, then its caption
    figure_start = section.rfind("<figure", 0, run_fig)
    page = f"{head}<body>{section[:section.index('<figure')]}{section[figure_start:]}</body></html>"
    with tempfile.TemporaryDirectory() as tmp:
        page_path = Path(tmp) / "radar.html"
        page_path.write_text(page, encoding="utf-8")
        subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp}/profile", "--window-size=1200,1400",
                        f"--screenshot={OUT}", page_path.as_uri()], check=True, capture_output=True, timeout=120)
    print(f"wrote {OUT.relative_to(HERE.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
