"""The measurement loop of ``abair-bench profile``: sizes x batches x dtypes x configurations.

For each (dtype, size, batch) group, with one seeded random input batch (float (N, 3, S, S) in [0, 1]):

1. every configuration is prepared; its first call counts its FLOPs and samples its peak memory
   (and is the first warm-up call); more warm-up calls follow until ``warmup_seconds`` have passed;
2. ``repeats`` rounds follow; in each round every configuration runs one timed block of at least
   ``min_seconds`` (:func:`bench.profile.measure.timed_calls`), in an order rotated from round to
   round, so a slow phase of a shared machine is spread over all configurations;
   Each round also times a block of the dense matmul (:func:`bench.profile.measure.matmul_call`):
   a configuration's share of the matmul rate (``pct_of_matmul``) is paired with it round by round;
3. statistics per configuration, and latency ratios to the backbone alone (``none``) of the same
   group: paired (``latency_ratio_paired``, :func:`paired_ratio`: the median over rounds of a block's
   mean latency / ``none``'s block in the same round; the one printed, one per configuration, and
   checked against :data:`TARGETS`, because it cancels the drift of a shared machine), of the medians
   (``latency_ratio``) and of the minima (``latency_ratio_min``) in the files only. A target that
   assumes merged adapters does not apply where the adapters cannot merge (Conv-LoRA): its verdict
   says so instead of "missed".

A configuration that fails (e.g. a dtype the device has no kernel for) gets a row with ``error``
set and is left out of the rounds; the others go on.
"""

from __future__ import annotations

import gc
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from abair.errors import UserError

from . import configs as C
from . import measure as M

SCHEMA = "abair-bench/profile/1"
REFERENCE = "none"

#: configuration -> the largest allowed latency ratio to the backbone alone
TARGETS = {"oh-merged": 1.02, "sw-merged": 1.10, "sw-merged-batched": 1.10, "estimator": 0.05}

#: targets that hold only for merged adapters: the adapters each merges (None: every adapter)
MERGING = {"oh-merged": [C.FIXED_ADAPTER], "sw-merged": None, "sw-merged-batched": None}

#: what every printed ratio is
RATIO_DEFINITION = ("latency / the backbone alone ('none'): median over the rounds of a block's mean latency "
                    "over none's block in the same round")


@dataclass
class ProfileSettings:
    """What to measure. Sizes are square inputs (pixels, multiples of 8); dtypes from ``fp32, bf16, fp16``."""

    preset: str = "tiny"
    device: str = "cpu"
    sizes: list[int] = field(default_factory=lambda: [256])
    batches: list[int] = field(default_factory=lambda: [1])
    configs: list[str] | None = None
    dtypes: list[str] = field(default_factory=lambda: ["fp32"])
    compile: bool = False
    min_seconds: float = 1.0
    repeats: int = 5
    warmup_seconds: float = 1.0
    seed: int = 0
    threads: int | None = None
    checkpoint: str | None = None  # time a trained model (its preset replaces ``preset``)
    command: str = field(default_factory=lambda: shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]))

    def validate(self) -> None:
        from abair.model.presets import get_preset

        get_preset(self.preset)
        C.select(self.configs)
        for d in self.dtypes:
            C.torch_dtype(d)
        for s in self.sizes:
            if s <= 0 or s % 8:
                raise UserError(f"--sizes {s}: sizes must be positive multiples of 8 (three 2x downsamplings)")
        for b in self.batches:
            if b <= 0:
                raise UserError(f"--batch {b}: batch sizes must be positive")
        if self.repeats < 1:
            raise UserError(f"--repeats {self.repeats}: at least one repeat is needed")
        if self.min_seconds < 0 or self.warmup_seconds < 0:
            raise UserError("--min-seconds and --warmup-seconds must be >= 0")
        if self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise UserError(f"--device {self.device}: no CUDA device is visible to torch here; use --device cpu")
        elif self.device != "cpu":
            raise UserError(f"--device {self.device}: use cpu or cuda (cuda:N)")


def environment(device: str) -> dict:
    """The machine and software: CPU model, threads, GPU, driver, torch and CUDA versions, git commit."""
    import subprocess

    import torch

    from bench.environment import device_info, git_state

    env = device_info(device)
    env["torch"] = torch.__version__
    env["interop_threads"] = torch.get_num_interop_threads()
    env["mkldnn"] = bool(torch.backends.mkldnn.is_available())
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.device(device))
        env["gpu_memory_gib"] = round(props.total_memory / 1024 ** 3, 1)
        env["cudnn"] = torch.backends.cudnn.version()
        try:
            idx = torch.device(device).index or 0
            res = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader", f"--id={idx}"],
                                 capture_output=True, text=True, timeout=10)
            env["driver"] = res.stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            env["driver"] = None
    env["git"] = git_state()
    return env


def _row(cfg: C.ProfileConfig, settings: ProfileSettings, dtype: str, size: int, batch: int) -> dict:
    return {
        "config": cfg.name, "family": cfg.family, "preset": settings.preset if cfg.family != "baseline" else "",
        "device": settings.device, "dtype": dtype, "compiled": settings.compile, "size": size, "batch": batch,
        "adapter_type": cfg.adapter_type or "", "rank": cfg.rank or "", "mode": cfg.mode or "",
        "summary": cfg.summary, "error": "",
    }


def paired_ratio(blocks: list[float], reference: list[float]) -> float:
    """Median over repeats of (a block's mean latency / the reference's block mean in the same repeat).

    Repeats interleave the configurations, so both blocks of a pair ran within seconds of each other:
    a slow phase of a shared machine inflates both, and the ratio of the pair cancels it.
    """
    return M.percentile([a / b for a, b in zip(blocks, reference, strict=True)], 50)


def _ratios(rows: list[dict]) -> list[dict]:
    out = []
    groups: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        if not r["error"]:
            groups.setdefault((r["dtype"], r["size"], r["batch"], r["compiled"]), {})[r["config"]] = r
    for (dtype, size, batch, compiled), by_name in groups.items():
        ref = by_name.get(REFERENCE)
        if ref is None:
            continue
        for name, r in by_name.items():
            r["latency_ratio"] = r["latency_median_ms"] / ref["latency_median_ms"]
            r["latency_ratio_min"] = r["latency_min_ms"] / ref["latency_min_ms"]
            r["latency_ratio_paired"] = paired_ratio(r["block_latency_ms"], ref["block_latency_ms"])
            if name in TARGETS:
                met = r["latency_ratio_paired"] <= TARGETS[name]
                cannot = r.get("cannot_merge") or ""
                out.append({"config": name, "dtype": dtype, "size": size, "batch": batch, "compiled": compiled,
                            "ratio": r["latency_ratio"], "ratio_min": r["latency_ratio_min"],
                            "ratio_paired": r["latency_ratio_paired"], "target": TARGETS[name],
                            "met": None if cannot else met,
                            "verdict": f"does not apply: {cannot}" if cannot else "met" if met else "MISSED"})
    return out


def _unmergeable(pool: C.ModelPool, name: str) -> str:
    """Why ``name``'s merge target cannot apply to the pool's model ('' when it can): the adapters it
    would merge that cannot merge into the weights (Conv-LoRA), named with their type."""
    if name not in MERGING:
        return ""
    model = pool.abair()
    names = MERGING[name] or model.adapter_names
    specs = model.adapter_specs
    bad = [f"{n} ({specs[n].type})" for n in names if n in specs and not specs[n].mergeable]
    return (f"adapter {', '.join(bad)} cannot merge into the weights and runs as a side branch, so this "
            "configuration cannot reach the backbone's cost") if bad else ""


def ratio_lines(rows: list[dict], ratios: list[dict]) -> list[str]:
    """The printed ratios: the definition once per group, then one line per configuration with its
    target and verdict where it has one."""
    verdicts = {(q["config"], q["dtype"], q["size"], q["batch"], q["compiled"]): q for q in ratios}
    lines, seen = [], set()
    for r in rows:
        if r["error"] or "latency_ratio_paired" not in r or r["config"] == REFERENCE:
            continue
        group = (r["dtype"], r["size"], r["batch"], r["compiled"])
        if group not in seen:
            seen.add(group)
            lines.append(f"ratios ({r['dtype']}, {r['size']}px, batch {r['batch']}"
                         f"{', compiled' if r['compiled'] else ''}): {RATIO_DEFINITION}")
        q = verdicts.get((r["config"], *group))
        held = f" (target <= {q['target']}: {q['verdict']})" if q else ""
        lines.append(f"  {r['config']}: {r['latency_ratio_paired']:.3f}{held}")
    return lines


def profile(settings: ProfileSettings, log: Callable[[str], None] | None = None) -> dict:
    """Run the measurements; returns the profile document (see :mod:`bench.profile.output`)."""
    import torch

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    settings.validate()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    configs = C.select(settings.configs)
    started = time.time()
    env = environment(settings.device)
    rows: list[dict] = []
    matmul = {}
    for dtype in settings.dtypes:
        matmul[dtype] = M.matmul_rate(settings.device, dtype)
        log(f"machine: {matmul[dtype]['what']}: {matmul[dtype]['gflops_per_s']:.1f} GFLOP/s "
            f"({torch.get_num_threads()} threads)")
        pool = C.ModelPool(settings.preset, settings.device, dtype, settings.checkpoint)
        for size in settings.sizes:
            for batch in settings.batches:
                rows += _group(pool, configs, settings, dtype, size, batch, log)
        del pool
        gc.collect()
    ratios = _ratios(rows)
    for line in ratio_lines(rows, ratios):
        log(line)
    return {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "wall_seconds": round(time.time() - started, 1),
        "command": settings.command,
        "settings": {k: v for k, v in asdict(settings).items() if k != "command"},
        "environment": env,
        "method": {
            "timing": "cuda events, end event synchronised per call" if settings.device.startswith("cuda")
            else "time.perf_counter per call (CPU ops are synchronous)",
            "memory": M.MEM_METHODS["cuda" if settings.device.startswith("cuda") else "cpu"],
            "flops": "torch.utils.flop_counter.FlopCounterMode: matmuls and convolutions, 2 FLOPs per multiply-add",
            "statistics": "median and p90 (linear interpolation) over the per-call latencies of all repeats; "
            "images/s: batch / median latency, spread batch / max .. batch / min latency; configurations "
            "interleaved between repeats; ratios: " + RATIO_DEFINITION + " (latency_ratio_paired); "
            "pct_of_matmul: median over repeats of a block's FLOP rate / a matmul block's in the same round",
        },
        "targets": TARGETS,
        "matmul": matmul,
        "results": rows,
        "ratios": ratios,
    }


def _group(pool: C.ModelPool, configs, settings: ProfileSettings, dtype: str, size: int, batch: int,
           log: Callable[[str], None]) -> list[dict]:
    import torch

    g = torch.Generator().manual_seed(settings.seed)
    x = torch.rand(batch, 3, size, size, generator=g).to(device=settings.device, dtype=C.torch_dtype(dtype))
    prepared: dict[str, C.Prepared] = {}
    rows: dict[str, dict] = {}
    timings: dict[str, M.Timing] = {}
    for cfg in configs:
        row = rows[cfg.name] = _row(cfg, settings, dtype, size, batch)
        t0 = time.perf_counter()
        try:
            p = cfg.prepare(pool)
            if cfg.family == "abair" and cfg.name in MERGING:
                row["cannot_merge"] = _unmergeable(pool, cfg.name)
            p.enter()
            try:
                row["params"] = p.params
                t_first = time.perf_counter()
                # the first call counts FLOPs (eager), samples peak memory and is the first warm-up call
                row["flops"], memory = M.flops_and_memory(p.fn, x, settings.device)
                row.update(memory)
                if settings.compile:  # the first compiled call compiles
                    p = C.Prepared(torch.compile(p.fn, dynamic=False), p.params, p.enter, p.exit)
                    t_first = time.perf_counter()
                    M.warm_up(p.fn, x, settings.device, 0.0)
                left = settings.warmup_seconds - (time.perf_counter() - t_first)
                if left > 0:
                    M.warm_up(p.fn, x, settings.device, left)
            finally:
                p.exit()
        except Exception as exc:  # noqa: BLE001 - a failing configuration is reported, the others go on
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
            log(f"{cfg.name} ({dtype}, {size}px, batch {batch}): failed: {row['error']}")
            continue
        prepared[cfg.name] = p
        timings[cfg.name] = M.Timing()
        log(f"{cfg.name} ({dtype}, {size}px, batch {batch}): prepared and warmed up in "
            f"{time.perf_counter() - t0:.1f} s, {row['flops'] / 1e9:.2f} GFLOP")
    names = list(prepared)
    matmul, matmul_flops, _ = M.matmul_call(settings.device, dtype)
    matmul_blocks: list[float] = []  # mean seconds of one matmul call, one per round
    for rep in range(settings.repeats):
        block = M.timed_calls(matmul, None, settings.device, min(settings.min_seconds, 0.5))
        matmul_blocks.append(sum(block) / len(block))
        shift = rep % max(len(names), 1)
        for name in names[shift:] + names[:shift]:
            p = prepared[name]
            p.enter()
            try:
                timings[name].add_block(M.timed_calls(p.fn, x, settings.device, settings.min_seconds))
            finally:
                p.exit()
        log(f"round {rep + 1}/{settings.repeats} done ({dtype}, {size}px, batch {batch})")
    for name, timing in timings.items():
        row = rows[name]
        row.update(M.summarize(timing, batch))
        row["block_latency_ms"] = [1e3 * secs / n for n, secs in timing.blocks]
        row["gflops_per_s"] = row["flops"] / 1e9 / (row["latency_median_ms"] / 1e3)
        # paired with the matmul blocks of the same rounds: (flops / block) / (matmul flops / matmul block)
        row["matmul_gflops_per_s"] = matmul_flops / 1e9 / M.percentile(matmul_blocks, 50)
        row["pct_of_matmul"] = 100.0 * row["flops"] / matmul_flops * paired_ratio(
            [1e3 * b for b in matmul_blocks], row["block_latency_ms"])
        share = f" ({row['pct_of_matmul']:.1f}% of the matmul rate in the same rounds)"
        log(f"{name}: median {row['latency_median_ms']:.1f} ms, p90 {row['latency_p90_ms']:.1f} ms, "
            f"{row['images_per_s']:.2f} img/s, {row['gflops_per_s']:.1f} GFLOP/s{share}")
    return list(rows.values())
