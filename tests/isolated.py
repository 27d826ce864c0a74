"""Run a memory-heavy check in a fresh Python process, so that the test process (which runs the whole
suite) never holds its peak: a released-size network, the paper preset's activations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_EPILOGUE = """
import json as _json, resource as _resource
print(_json.dumps({**result, "peak_gib": _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def run_isolated(code: str, timeout: int = 600) -> dict:
    """Run ``code`` (which sets a JSON-able dict ``result``) with one torch thread in a new interpreter
    of this environment; returns ``result`` plus ``peak_gib``, that process's peak resident memory
    (GiB, Linux). Fails the test with the child's stderr if it does not exit 0."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code + _EPILOGUE], capture_output=True, text=True, env=env,
                         timeout=timeout, cwd=Path(__file__).parent)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
