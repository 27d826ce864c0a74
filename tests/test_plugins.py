"""Third-party methods: ``module:callable``, the ``abair_bench.methods`` entry points, the docs example,
and ``abair-bench methods list``."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from abair.errors import UserError
from baselines.base import RestoreContext
from bench.methods import create_method, list_methods

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = textwrap.dedent(
    '''
    from baselines.base import Method


    class Brighten(Method):
        name = "plug-brighten"

        def __init__(self, gain=1.5):
            self.gain = float(gain)

        def config(self):
            return {"name": self.name, "gain": self.gain}

        def restore(self, batch, context):
            return (batch * self.gain).clamp(0, 1)


    def make(gain=1.5):
        return Brighten(gain)


    def not_a_method():
        return 42
    '''
)


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """An installed-looking distribution ``myplug`` (a dist-info folder on sys.path) with entry points."""
    (tmp_path / "myplug").mkdir()
    (tmp_path / "myplug" / "__init__.py").write_text(PLUGIN)
    info = tmp_path / "myplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[abair_bench.methods]\nplug-brighten = myplug:make\nplug-broken = myplug:not_a_method\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _x():
    return torch.linspace(0, 1, 3 * 4 * 5).view(1, 3, 4, 5)


def _ctx():
    return RestoreContext("ds", "x", ("a",))


def test_entry_point_method_is_listed_and_runs(plugin_dist):
    rows = {row["name"]: row for row in list_methods()}
    assert rows["plug-brighten"]["summary"] == "plug-in myplug:make"
    method = create_method("plug-brighten", gain=2.0)
    assert method.name == "plug-brighten" and method.config() == {"name": "plug-brighten", "gain": 2.0}
    torch.testing.assert_close(method.restore(_x(), _ctx()), (_x() * 2.0).clamp(0, 1))


def test_module_callable_method_runs(plugin_dist):
    method = create_method("myplug:make", gain=0.5)
    torch.testing.assert_close(method.restore(_x(), _ctx()), _x() * 0.5)


def test_plugin_errors_are_one_clear_line(plugin_dist):
    with pytest.raises(UserError, match=r"^module 'myplug' has no attribute 'nope' \(from 'myplug:nope'\)$"):
        create_method("myplug:nope")
    with pytest.raises(UserError, match=r"^cannot import module 'nomodule_xyz' \(from 'nomodule_xyz:make'\)"):
        create_method("nomodule_xyz:make")
    with pytest.raises(UserError, match=r"^'plug-broken' did not return a method \(an object with \.restore\), got int$"):
        create_method("plug-broken")
    with pytest.raises(UserError, match=r"^method 'plug-brighten' has no option 'strength'"):
        create_method("plug-brighten", strength=1)


def test_the_docs_example_is_a_working_plugin(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "METHODS.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert len(code.strip().splitlines()) <= 25  # "a complete ~20-line example"
    (tmp_path / "my_methods.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    method = create_method("my_methods:make", amount=0.8)
    assert method.name == "unsharp" and method.config() == {"name": "unsharp", "amount": 0.8}
    x = torch.rand(1, 3, 9, 11, generator=torch.Generator().manual_seed(0))
    # independent unsharp mask: 3x3 mean with edge replication, x + a (x - mean), clipped
    arr = x[0].numpy().astype(np.float64)
    padded = np.pad(arr, ((0, 0), (1, 1), (1, 1)), mode="edge")
    mean = sum(padded[:, dy : dy + 9, dx : dx + 11] for dy in range(3) for dx in range(3)) / 9.0
    want = np.clip(arr + 0.8 * (arr - mean), 0, 1)
    np.testing.assert_allclose(method.restore(x, _ctx())[0].numpy(), want, atol=1e-6)
    assert '[project.entry-points."abair_bench.methods"]' in text


def test_methods_list_shows_task_and_needs(plugin_dist, capsys):
    from bench.cli import main

    assert main(["methods", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    for name, task in (("identity", "any"), ("nlm", "denoise"), ("dcp", "dehaze"), ("wiener-ml", "deblur"),
                       ("lime", "lowlight"), ("derain-guided", "derain"), ("deblock", "jpeg"),
                       ("dequant", "bitdepth"), ("desnow-median", "desnow")):
        assert rows[name]["task"] == task and rows[name]["needs"] == "none"
    assert rows["plug-brighten"]["summary"] == "plug-in myplug:make"
    assert main(["methods", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "TASK", "TABLES", "NEEDS", "SUMMARY"]
    assert re.search(r"^dcp +dehaze +none +dark channel prior", out, re.M)
    assert "folder:NAME=/path" in out
