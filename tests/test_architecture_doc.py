"""docs/ARCHITECTURE.md names every module of abair/, baselines/ and bench/ (itself or a folder above it,
below the package), so "where does a new X go" stays answerable from the document."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("abair", "baselines", "bench")


def _modules() -> list[str]:
    try:
        listed = subprocess.run(["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # not a checkout: the files on disk
        listed = [str(p.relative_to(ROOT)) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    return [f for f in listed if f.endswith(".py") and f not in {f"{pkg}/__init__.py" for pkg in PACKAGES}]


def _named(doc: str) -> set[str]:
    return {p.rstrip("*").rstrip("/") for p in re.findall(r"`([\w./*-]+)`", doc)}


def _unlisted(modules: list[str], named: set[str]) -> list[str]:
    def listed(path: str) -> bool:
        parts = path.split("/")
        return any("/".join(parts[:i]) in named for i in range(len(parts), 1, -1))

    return [m for m in modules if not listed(m)]


def test_every_module_is_in_the_architecture_document():
    missing = _unlisted(_modules(), _named((ROOT / "docs" / "ARCHITECTURE.md").read_text()))
    assert not missing, f"add these to a table of docs/ARCHITECTURE.md: {', '.join(missing)}"


def test_the_check_sees_an_unlisted_module_and_a_listed_folder():
    named = _named("| `bench/report/` | ... |\n| `abair/errors.py` | ... |")
    assert _unlisted(["bench/report/html.py", "abair/errors.py", "abair/new_thing.py"], named) == [
        "abair/new_thing.py"]


def test_the_document_says_where_each_new_thing_goes():
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = doc[doc.index("## Where does a new X go"):]
    for thing in ("dataset", "metric", "protocol", "baseline (published)", "adapter type", "report table"):
        assert f"| {thing}" in section, thing
