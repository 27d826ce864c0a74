"""Timing, latency statistics, FLOPs and peak memory of one call ``fn(x)``.

Method (in the spirit of MLPerf's single-stream inference scenario):

- one query = one batch; latency = the time of one call, *including* its completion on the device:
  on CUDA each call is bracketed by CUDA events and the end event is synchronised before the next
  call; on CPU ``time.perf_counter`` around the call (torch CPU ops are synchronous);
- warm-up calls are run and discarded first (the first call, which counts FLOPs and samples
  memory, then more until ``warmup_seconds`` have passed);
- a timed block repeats the call until at least ``min_seconds`` have been measured (and at least
  ``min_calls`` calls); several blocks (repeats) give the spread; :mod:`bench.profile.run`
  interleaves the configurations between blocks so a slow phase of a shared machine hits them all;
- statistics are over the per-call latencies of all blocks: median, p90 (linear interpolation between
  order statistics, numpy's default), mean, min, max; throughput = batch / median latency, its spread
  batch / max latency .. batch / min latency (so the median's throughput always lies inside it; a
  block's mean, the spread reported before, can sit below the median when a few calls are slow).

FLOPs: :class:`torch.utils.flop_counter.FlopCounterMode` on one call. It counts matrix products
and convolutions (2 FLOPs per multiply-add), including attention matmuls; element-wise ops,
normalisation, softmax, GELU and resizing are not counted. Achieved FLOP/s = FLOPs / median latency.
Its share of the machine's dense matmul rate is paired: :mod:`bench.profile.run` times a matmul block
in every round beside the configurations, and the share is the median over rounds of (a block's FLOP
rate / the matmul block's rate in the same round), so a slow phase of a shared machine cancels (one
matmul measurement before the rounds, set against rates timed minutes later, printed a network at
127.6% of "the" matmul rate; the FLOP counts agree with a per-module count of the convolutions).

Peak memory of one call, beyond what was allocated before it (weights and input excluded):

- CUDA: ``torch.cuda.max_memory_allocated()`` after ``reset_peak_memory_stats()``, minus
  ``memory_allocated()`` before the call (tensor memory of the caching allocator);
- CPU: the process's resident-set size (``/proc/self/statm``) sampled every millisecond by a
  thread during the call, peak minus the value before. This is a lower bound of the working memory:
  the C allocator may reuse pages freed by earlier calls, and spikes shorter than a millisecond can
  be missed. Where ``/proc`` is missing, ``resource.getrusage`` high-water-mark growth is used.
"""

from __future__ import annotations

import math
import os
import resource
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

MEM_METHODS = {
    "cuda": "torch.cuda.max_memory_allocated minus memory_allocated before the call",
    "cpu": "resident-set size sampled every 1 ms during the call, peak minus before (lower bound)",
    "cpu-rusage": "growth of the ru_maxrss high-water mark during the call (lower bound)",
}


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between order statistics
    (``numpy.percentile``'s default): position ``(n - 1) * q / 100`` in the sorted samples."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in 0..100, got {q}")
    s = sorted(samples)
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


@dataclass
class Timing:
    """Per-call latencies (seconds) of every timed block, and each block's (calls, seconds)."""

    latencies: list[float] = field(default_factory=list)
    blocks: list[tuple[int, float]] = field(default_factory=list)

    def add_block(self, latencies: Sequence[float]) -> None:
        self.latencies.extend(latencies)
        self.blocks.append((len(latencies), float(sum(latencies))))


def summarize(timing: Timing, batch: int) -> dict:
    """Latency statistics in milliseconds and throughput in images/s (see the module docstring)."""
    lat = timing.latencies
    median = percentile(lat, 50)
    per_block = [batch * n / secs for n, secs in timing.blocks if secs > 0]
    return {
        "calls": len(lat),
        "repeats": len(timing.blocks),
        "latency_median_ms": 1e3 * median,
        "latency_p90_ms": 1e3 * percentile(lat, 90),
        "latency_mean_ms": 1e3 * sum(lat) / len(lat),
        "latency_min_ms": 1e3 * min(lat),
        "latency_max_ms": 1e3 * max(lat),
        "images_per_s": batch / median,
        "images_per_s_min": batch / max(lat) if max(lat) > 0 else math.nan,
        "images_per_s_max": batch / min(lat) if min(lat) > 0 else math.nan,
        "images_per_s_blocks": per_block,  # batch * calls / block time, one per repeat
    }


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def timed_calls(fn: Callable, x, device: str, min_seconds: float, min_calls: int = 1) -> list[float]:
    """Call ``fn(x)`` until ``min_seconds`` of latency have been measured (and ``min_calls`` calls);
    returns each call's latency in seconds (CUDA: event time of the completed call)."""
    import torch

    out: list[float] = []
    cuda = device.startswith("cuda")
    synchronize(device)
    with torch.inference_mode():
        while len(out) < min_calls or sum(out) < min_seconds:
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn(x)
                end.record()
                end.synchronize()
                out.append(start.elapsed_time(end) / 1e3)
            else:
                t0 = time.perf_counter()
                fn(x)
                out.append(time.perf_counter() - t0)
    return out


def warm_up(fn: Callable, x, device: str, seconds: float, calls: int = 1) -> int:
    """Discarded calls before timing; returns how many ran."""
    return len(timed_calls(fn, x, device, seconds, calls))


def matmul_call(device: str = "cpu", dtype: str = "fp32") -> tuple[Callable, int, str]:
    """``(fn, flops, what)``: one dense square matrix product of side 2048 (CPU) or 8192 (CUDA) in
    ``dtype`` (``fn(None)`` runs it), its 2 n^3 FLOPs and a description."""
    import torch

    from .configs import torch_dtype

    n = 8192 if device.startswith("cuda") else 2048
    g = torch.Generator().manual_seed(0)
    a = torch.rand(n, n, generator=g).to(device=device, dtype=torch_dtype(dtype))
    b = torch.rand(n, n, generator=g).to(device=device, dtype=torch_dtype(dtype))
    return (lambda _: a @ b), 2 * n ** 3, f"{n}x{n} @ {n}x{n} {dtype} matmul"


def matmul_rate(device: str = "cpu", dtype: str = "fp32", seconds: float = 1.0) -> dict:
    """The machine's dense matrix-product rate with the current threads (:func:`matmul_call`), before
    any configuration runs: how far a network is from what the cores do on the kernel they do best.
    Repeated for ``seconds`` after one warm-up call; GFLOP/s = 2 n^3 per call / median call time.
    (Each configuration's share is taken against matmul blocks timed in its own rounds instead.)"""
    fn, flops, what = matmul_call(device, dtype)
    timed_calls(fn, None, device, 0.0)  # warm-up
    times = timed_calls(fn, None, device, seconds, min_calls=3)
    median = sorted(times)[len(times) // 2]
    return {"what": f"{what}, median of {len(times)} calls", "gflops_per_s": flops / median / 1e9}


def _count_onednn_convolutions() -> None:
    """Teach FlopCounterMode the oneDNN convolutions that CPU inference calls directly (1x1
    projections, :mod:`abair.model.cpu_kernels`' fused convolutions): the same 2 FLOPs per
    multiply-add as any convolution (the fused element-wise op is not counted, as GELU never is)."""
    import torch
    from torch.utils import flop_counter

    def conv(x_shape, w_shape, out_shape) -> int:
        return flop_counter.conv_flop_count(x_shape, w_shape, out_shape, transposed=False)

    # operator -> (argument count -> where its input and weight are): the fused operator's ``binary``
    # overload takes the other operand second; the in-place one takes the destination first
    ops = {torch.ops.aten.mkldnn_convolution: {}}
    if hasattr(torch.ops.mkldnn, "_convolution_pointwise"):
        ops[torch.ops.mkldnn._convolution_pointwise] = {13: (0, 2)}
        ops[torch.ops.mkldnn._convolution_pointwise_] = {13: (1, 2)}
    for op, where in ops.items():
        if op in flop_counter.flop_registry:
            continue

        def formula(*args, out_shape=None, _where=where, **kwargs) -> int:
            x, w = _where.get(len(args), (0, 1))
            return conv(args[x], args[w], out_shape)

        flop_counter.register_flop_formula(op)(formula)


def count_flops(fn: Callable, x) -> int:
    """FLOPs of one call (matmuls and convolutions, 2 per multiply-add), by FlopCounterMode."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    _count_onednn_convolutions()
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        fn(x)
    return int(counter.get_total_flops())


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _peak_rss_by_high_water_mark(fn: Callable, x) -> dict | None:
    """Linux: reset the kernel's resident-set high-water mark (``/proc/self/clear_refs`` <- 5), call,
    read ``VmHWM``. Exact, with no sampling thread to miss a short peak; None where unsupported."""
    import torch

    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return None
    before = _status_kib("VmRSS")
    if before is None:
        return None
    with torch.inference_mode():
        fn(x)
    peak = _status_kib("VmHWM")
    if peak is None:
        return None
    mib = 1024.0
    return {"peak_mem_mb": max(0, peak - before) / mib, "peak_total_mb": peak / mib, "mem_method": "cpu-hwm"}


def peak_memory(fn: Callable, x, device: str, interval: float = 1e-3) -> dict:
    """Peak memory of one call beyond what was allocated before it (MiB), and the method used.

    Returns ``{"peak_mem_mb", "peak_total_mb", "mem_method"}``; ``peak_total_mb`` is the absolute
    peak (CUDA: allocated tensor memory; CPU: resident-set size of the whole process). On Linux the
    CPU peak is the kernel's high-water mark (``VmHWM`` after resetting it), elsewhere a 1 ms sampler.
    """
    import torch

    mib = 1024.0 ** 2
    if device.startswith("cuda"):
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        with torch.inference_mode():
            fn(x)
        synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        return {"peak_mem_mb": (peak - before) / mib, "peak_total_mb": peak / mib, "mem_method": "cuda"}
    hwm = _peak_rss_by_high_water_mark(fn, x)
    if hwm is not None:
        return hwm
    before = _rss_bytes()
    if before is None:
        start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        with torch.inference_mode():
            fn(x)
        end = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {"peak_mem_mb": (end - start) / mib, "peak_total_mb": end / mib, "mem_method": "cpu-rusage"}
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            value = _rss_bytes()
            if value is not None and value > peak[0]:
                peak[0] = value
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        with torch.inference_mode():
            fn(x)
    finally:
        done.set()
        thread.join()
    after = _rss_bytes() or before
    top = max(peak[0], after)
    return {"peak_mem_mb": (top - before) / mib, "peak_total_mb": top / mib, "mem_method": "cpu"}


def flops_and_memory(fn: Callable, x, device: str) -> tuple[int, dict]:
    """One call that both counts FLOPs (:func:`count_flops`) and samples peak memory (:func:`peak_memory`)."""
    box: list[int] = []
    memory = peak_memory(lambda inp: box.append(count_flops(fn, inp)), x, device)
    return box[0], memory
