"""The distribution: a wheel built from the tree installs and imports outside the source tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_and_imports_outside_the_tree(tmp_path):
    wheels, target, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "source"
    # build from a copy: setuptools leaves build/ behind, and a stale build/ would leak into later wheels
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".nox", "build", "dist", "runs", "results", "*.egg-info", "__pycache__", ".*_cache"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
                   check=True, capture_output=True)
    (wheel,) = wheels.glob("abair_bench-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True,
                   capture_output=True)
    probe = (
        "import abair, baselines, bench, importlib.resources as r\n"
        "for m in (abair, baselines, bench): print(m.__file__)\n"
        "print(sorted(p.name for p in r.files('abair').joinpath('recipes').iterdir() if p.name.endswith('.yaml')))\n"
        "print(r.files('abair').joinpath('weights', 'abair-tiny.safetensors').is_file())\n"
        "print(r.files('bench').joinpath('templates').is_dir())\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(target)},
                         check=True, capture_output=True, text=True).stdout.splitlines()
    for line in out[:3]:
        assert Path(line).is_relative_to(target), line
    assert out[3] == "['paper.yaml', 'small.yaml', 'tiny.yaml']"
    assert out[4:] == ["True", "True"]


def test_top_level_layout():
    """The documented layout (docs/ARCHITECTURE.md): the three packages at the repository root, no src/."""
    assert not (ROOT / "src").exists()
    for name in ("abair", "baselines", "bench"):
        assert (ROOT / name / "__init__.py").is_file()
