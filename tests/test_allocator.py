"""abair.allocator: freed tensor memory stays in the process (no page faults on re-allocation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from abair import allocator

pytestmark = pytest.mark.skipif(allocator._glibc() is None, reason="glibc's mallopt only (Linux, glibc)")

# 40 MiB tensors are above glibc's largest automatic mmap threshold (32 MiB): by default each one is
# a fresh mapping whose ~10,000 pages fault in when written, and is unmapped when freed.
PROBE = """
import json, resource, sys
from abair import allocator
tuned = allocator.tune()
import torch
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def churn():
    for _ in range(10):
        t = torch.empty(10 << 20)
        t.fill_(1.0)
        del t
churn()  # the heap grows to its working size: these pages fault in either way
before = faults()
churn()
print(json.dumps({"tuned": tuned, "faults": faults() - before, "describe": allocator.describe()}))
"""


def _probe(env_value: str | None) -> dict:
    env = dict(os.environ)
    env.pop("ABAIR_MALLOC", None)
    if env_value is not None:
        env["ABAIR_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_tuned_heap_reuses_freed_blocks_without_faulting():
    tuned = _probe(None)
    default = _probe("system")
    pages = (40 << 20) // 4096
    assert tuned["tuned"] is True and tuned["describe"]["mmap_threshold"] >= 32 << 20
    assert default["tuned"] is False and default["describe"] == {"tuned": False, "mmap_threshold": None}
    # glibc's defaults: every allocation faults its pages in again; tuned: (almost) none do
    assert default["faults"] > 5 * pages
    assert tuned["faults"] < pages // 10


def test_tune_answers_once_per_process():
    code = "from abair import allocator; print(allocator.tune(), allocator.tune())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", "True"]


def test_the_command_line_tunes_and_the_manifest_says_so(tmp_path):
    code = ("import sys; from bench.cli import main; from abair import allocator; "
            "main(['methods', 'list']); print(allocator.describe()['tuned'], file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stderr.strip().splitlines()[-1] == "True"
    from bench.environment import device_info

    assert set(device_info()["malloc"]) == {"tuned", "mmap_threshold"}
