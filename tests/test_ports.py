"""The registry of published methods (baselines.ports): one folder per port under baselines/published/,
read by the method registry, the profiler and checkpoint detection; a new port is one folder."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from abair.errors import UserError
from baselines.ports import detection_order, port, ports

NINE = ("restormer", "promptir", "airnet", "mprnet", "uformer", "x-restormer", "idr", "diffuir", "daclip")

TOY = '''
"""ToyNet. Upstream: https://github.com/someone/toynet. Licence: MIT. Paper: ToyNet (2025)."""
from baselines.base import Method
from baselines.catalog import Published, Release
from baselines.ports import Port


class ToyMethod(Method):
    name = "toynet"

    def restore(self, batch, context):
        return batch


def _signature(sd):
    return "toy_head.weight" in sd


def make(checkpoint=None, max_batch=1):
    return ToyMethod()


CATALOG = Published("ToyNet", "Someone et al., 2025", ("1",), "toynet", (Release("toynet.pth", ("denoise",)),),
                    checkpoint="bare state dict .pth", params="1,234 (width 8)")

PORT = Port(name="toynet", display="ToyNet", factory="baselines.published.toynet:make",
            summary="ToyNet (2025), official .pth", rank=100, signature=_signature, detect_rank=55,
            profile="ToyNet baseline, official size", profile_builder="baselines.published.toynet:make",
            catalog=CATALOG, upstream="someone/toynet", licence="MIT", paper="ToyNet (2025)")
'''

PROBE = '''
import json, sys
import torch
import baselines.published as P
P.__path__.append(sys.argv[1])
from baselines.archs.loading import check_keys, guess_architecture
from bench.methods import create_method, list_methods
from bench.profile.configs import CONFIGS
from abair.errors import UserError
from bench.commands.methods import info_lines
out = {"listed": [r["name"] for r in list_methods()], "created": type(create_method("toynet")).__name__,
       "info": info_lines("toynet")[0],
       "profile": CONFIGS["toynet"].summary, "guess": guess_architecture({"toy_head.weight": torch.zeros(1)})}
try:
    check_keys(torch.nn.Conv2d(1, 1, 1), {"toy_head.weight": torch.zeros(1)}, "Restormer", "x.pth")
except UserError as exc:
    out["hint"] = str(exc)
print(json.dumps(out))
'''


def test_the_nine_ports_are_registered_with_their_origin():
    assert sorted(p.name for p in ports()) == sorted(NINE)
    for p in ports():
        assert p.upstream.count("/") == 1 and p.licence and p.paper and p.profile, p.name
        folder = Path(__file__).resolve().parents[1] / "baselines" / "published" / p.name.replace("-", "_")
        assert (folder / "__init__.py").is_file()
        assert p.upstream in (folder / "__init__.py").read_text()  # the folder names where it comes from
    assert port("mprnet:deblur").name == "mprnet" and port("nope") is None


def test_detection_order_is_declared_and_puts_contained_signatures_first():
    order = [p.display for p in detection_order()]
    assert order == ["DiffUIR", "PromptIR", "IDR", "X-Restormer", "Restormer", "AirNet", "MPRNet", "Uformer",
                     "DA-CLIP"]
    idr = {"degra_key": 1, "dmixer.convU.weight": 1, "patch_embed.proj.weight": 1,
           "encoder_level1.0.attn.temperature": 1}
    restormer_keys_too = [p.display for p in detection_order() if p.signature(idr)]
    assert restormer_keys_too == ["IDR", "Restormer"]  # both match: the declared rank decides


def test_unknown_profiled_baseline_is_one_line():
    from baselines.published import profile_method

    with pytest.raises(UserError, match=r"^unknown profiled baseline 'restormr' \(did you mean 'restormer'\?\)"):
        profile_method("restormr")


def test_a_new_port_is_one_folder(tmp_path):
    """The docs/METHODS.md example: a folder declaring PORT is listed, created, profiled and detected."""
    (tmp_path / "toynet").mkdir()
    (tmp_path / "toynet" / "__init__.py").write_text(textwrap.dedent(TOY))
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert "toynet" in got["listed"] and got["created"] == "ToyMethod"
    assert got["info"] == "ToyNet (Someone et al., 2025); paper tables 1"  # its catalog facts, from its folder
    assert got["profile"] == "ToyNet baseline, official size" and got["guess"] == "ToyNet"
    assert got["hint"].endswith("(it looks like a ToyNet checkpoint: use --methods toynet)")
