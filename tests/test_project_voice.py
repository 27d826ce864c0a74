"""The project speaks of itself only: no phrase about the environment it was built in comes back.

Walks the repository's text files (code, docs, scripts, results notes) and fails on phrases that
describe build machines, work sessions or files outside the repository, and on skips that would
turn a broken import of the project's own modules into a silent skip.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUFFIXES = {".py", ".md", ".sh", ".yaml", ".yml", ".toml", ".txt", ".j2", ".cfg", ".ini"}
SKIP_DIRS = {".git", ".venv", ".nox", "runs", "build", "dist", "__pycache__", ".pytest_cache", ".ruff_cache"}
#: patterns written with character classes so that this file does not match itself
PHRASES = [re.compile(p) for p in (
    r"project's [m]achines",
    r"[l]ent (?:[G]PU )?machine",
    r"shared/[s]eeds",
    r"abair-paper-[r]eview",
    r"design [c]ard",
    r"CLI [i]ncomplete",
    r"/tmp/[a-z]",  # a scratch path of the machine the project was built on
)]
OWN_IMPORTSKIP = re.compile(r"importorskip\(\s*['\"](abair|bench|baselines)\b")


def _text_files():
    for path in REPO.rglob("*"):
        if path.suffix in SUFFIXES and path.is_file() and not SKIP_DIRS & set(path.relative_to(REPO).parts):
            yield path


def test_no_phrase_about_the_build_environment():
    found = []
    for path in _text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path.relative_to(REPO)}: {p.pattern!r}" for p in PHRASES if p.search(text)]
    assert not found, "reword these (the project describes itself only):\n" + "\n".join(found)


def test_no_skip_on_the_projects_own_modules():
    found = [str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("*.py")
             if OWN_IMPORTSKIP.search(p.read_text(encoding="utf-8"))]
    assert not found, f"import the project's own modules directly (a broken import must fail, not skip): {found}"
