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


def _env(value: str | None = None) -> dict:
    """This environment with ``ABAIR_MALLOC`` set to ``value`` or, for None, unset (tests/conftest.py sets it)."""
    env = dict(os.environ)
    env.pop("ABAIR_MALLOC", None)
    if value is not None:
        env["ABAIR_MALLOC"] = value
    return env


def _probe(env_value: str | None) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=_env(env_value), timeout=120)
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
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60)
    assert out.stdout.split() == ["True", "True"]


def test_the_command_line_tunes_and_the_manifest_says_so(tmp_path):
    code = ("import sys; from bench.cli import main; from abair import allocator; "
            "main(['methods', 'list']); print(allocator.describe()['tuned'], file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120)
    assert out.stderr.strip().splitlines()[-1] == "True"
    from bench.environment import device_info

    assert set(device_info()["malloc"]) == {"tuned", "mmap_threshold"}


# 4,000 blocks of 64 KiB (250 MiB) come from the heap (under glibc's 128 KiB mmap threshold); one block
# allocated after them pins the heap's top, so freeing them leaves 250 MiB of free pages inside the heap
TRIM_PROBE = """
import json
from abair import allocator
def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) >> 10  # MiB
base = rss()
blocks = [bytearray(64 << 10) for _ in range(4000)]
pin = bytearray(64 << 10)
grown = rss()
del blocks
freed = rss()
allocator.release_free_heap()
print(json.dumps({"base": base, "grown": grown, "freed": freed, "trimmed": rss()}))
"""


def test_release_free_heap_returns_the_pages_freed_inside_the_heap():
    out = subprocess.run([sys.executable, "-c", TRIM_PROBE], capture_output=True, text=True, env=_env("system"),
                         timeout=120)
    assert out.returncode == 0, out.stderr
    mib = json.loads(out.stdout.strip().splitlines()[-1])
    assert mib["grown"] - mib["base"] > 200
    assert mib["freed"] - mib["base"] > 200  # freed, but held: the heap's top is pinned
    assert mib["trimmed"] - mib["base"] < 50, mib
