"""Keep freed tensor memory in the process instead of handing it back to the kernel (glibc only).

Why: glibc's ``malloc`` serves blocks above a threshold (128 KiB, raised dynamically up to 32 MiB)
with fresh ``mmap`` pages and returns the top of the heap to the kernel when more than twice that is
free. A restoration network allocates and frees activations of several MiB at every layer, and some
oneDNN convolutions allocate a scratch buffer the size of their input on every call, so each forward
pass page-faults its working set back in: measured on the tiny backbone at 128x128 on 2 CPU cores,
~9,700 minor page faults per forward and a full-resolution depth-wise convolution 10-17x slower in
the network than alone (docs/MODEL.md, "CPU inference"). :func:`tune` sets the three ``mallopt``
knobs that stop it (mmap threshold, trim threshold, top pad); after it, ~60 faults per forward.

The cost is that the process keeps its peak heap until it exits, which is what a benchmark or a
training job wants. ``ABAIR_MALLOC=system`` leaves glibc's defaults alone. Other C libraries
(macOS, musl) are left untouched: :func:`tune` returns False there.
"""

from __future__ import annotations

import ctypes
import os
import sys

# mallopt parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

#: bytes: blocks below this come from the heap (glibc refuses values above its heap limit on some
#: versions; then the largest accepted one, 32 MiB, is used)
MMAP_THRESHOLD = 1 << 30
FALLBACK_MMAP_THRESHOLD = 32 << 20
#: bytes of free heap top kept before any is returned to the kernel (int32 maximum: "never")
TRIM_THRESHOLD = 2**31 - 1
#: bytes added to every heap extension (fewer brk calls)
TOP_PAD = 64 << 20

_state: dict[str, object] = {}


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc exports it
        return libc
    except (OSError, AttributeError):
        return None


def tune() -> bool:
    """Apply the settings above once per process; True if glibc accepted them.

    Call it before the first large allocation (the command line does, at start-up). Later calls
    return the first call's answer.
    """
    if "tuned" in _state:
        return bool(_state["tuned"])
    libc = None if os.environ.get("ABAIR_MALLOC", "").strip().lower() == "system" else _glibc()
    ok = False
    if libc is not None:
        mallopt = libc.mallopt
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        threshold = MMAP_THRESHOLD if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) else FALLBACK_MMAP_THRESHOLD
        ok = (threshold == MMAP_THRESHOLD or bool(mallopt(M_MMAP_THRESHOLD, threshold))) \
            and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(M_TOP_PAD, TOP_PAD))
        _state["mmap_threshold"] = threshold
    _state["tuned"] = ok
    return ok


def describe() -> dict:
    """What :func:`tune` did, for run manifests: ``{"tuned": bool, "mmap_threshold": bytes}``."""
    return {"tuned": bool(_state.get("tuned", False)), "mmap_threshold": _state.get("mmap_threshold")}


def release_free_heap() -> bool:
    """Hand the heap's free pages back to the kernel now (glibc's ``malloc_trim(0)``); False elsewhere.

    For a long-lived process that runs many jobs one after another (the test suite runs hundreds of
    commands in one process): freed blocks in the middle of the heap stay resident until trimmed, so
    the process would hold the sum of its jobs' scattered peaks rather than the largest one.
    """
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    libc.malloc_trim(0)
    return True
