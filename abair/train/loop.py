"""The one training loop behind every phase.

``train(objective, data, config, workdir)`` runs ``config.steps`` optimiser steps of
``objective`` (an ``nn.Module`` whose ``forward(batch)`` returns ``(loss, {name: scalar tensor})``)
on batches ``data.batch(step, rank, n)`` (see :mod:`abair.train.data`):

- AdamW over the parameters with ``requires_grad`` (frozen tensors are never handed to it);
- learning rate: linear warm-up over ``warmup`` steps to ``lr``, then a cosine decay to ``min_lr``
  at the last step (:func:`lr_at`; a pure function of the step, so the schedule needs no state);
- gradient clipping to a global L2 norm ``grad_clip`` (0 turns it off);
- AMP on CUDA only: bf16 autocast (no scaler) or fp16 autocast with a ``GradScaler``; fp32 on CPU;
- DDP when launched by ``torchrun`` (``WORLD_SIZE`` > 1): gloo on CPU, NCCL on CUDA; ``batch`` is
  the global batch, split evenly over the ranks (an uneven split is an error);
- gradient accumulation: ``accumulate`` = N splits each rank's batch into N equal micro-batches,
  each forward/backward on one with its loss scaled by 1/N (DDP synchronises only the last one's
  gradients), then one clip and one update: the same update as the whole batch at once, up to float
  rounding, in 1/N of the activation memory. Steps, logs and checkpoints count optimiser steps;
- ``checkpointing``: activation checkpointing of every transformer block
  (:func:`abair.model.blocks.set_checkpointing`): the same gradients, less memory, one more forward;
- a checkpoint every ``checkpoint_every`` steps and at the end, written atomically (a temporary
  directory renamed into ``workdir/state/step-XXXXXXXX``; the two newest are kept): the objective's
  tensors (``model.safetensors``), the optimiser's tensors (``optim.safetensors``) and, in
  ``state.json``, the step, the optimiser's hyper-parameters, the scaler, the cumulative seconds,
  the log accumulators and the RNG states (torch, CUDA, NumPy, Python) of every rank. No pickle.
  ``resume=True`` restarts from the newest complete one and ends bit-identical to an uninterrupted
  run on CPU (the data of step ``s`` depends only on ``(seed, rank, s)``);
- batches from :mod:`abair.train.loader` (``workers`` loader processes, pinned memory, prefetch;
  synthesis in the workers or on the training device), the same batches whatever the worker count;
- ``channels_last`` and ``compile`` (``torch.compile``) when the recipe asks for them;
- a tqdm progress bar (loss, lr, samples/s and the share of time spent waiting for data) and a JSONL
  log ``workdir/log.jsonl``: one record every ``log_every`` steps with ``step``, ``loss`` and each
  loss part (means over the steps since the previous record, on rank 0), ``lr``, ``it_s`` (steps
  per second since the previous record), ``samples_per_s`` (global samples per second),
  ``data_wait_s`` (mean seconds per step spent waiting for the loader), ``synth_s`` (mean seconds
  per step of synthesis on the device), ``step_s`` (mean seconds per step of forward, backward and
  update), ``peak_mem_mb`` (peak CUDA memory allocated, or the process's peak RSS on the CPU, MiB)
  and ``seconds`` (cumulative training wall time, resumed runs included). On resume, records after
  the checkpoint's step are dropped first so the log reads as one uninterrupted run.

A checkpoint resumes on another number of processes: the model and optimiser tensors are global,
and with the per-sample data stream (:mod:`abair.train.data`) the global batch of a step does not
depend on the process count (the per-rank batch is the global batch divided by the world size).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from abair.distributed import DistInfo, barrier, init_distributed  # noqa: F401 (re-exported)
from abair.errors import UserError

STATE_DIR = "state"
LOG_FILE = "log.jsonl"
KEEP = 2


@dataclass
class LoopConfig:
    """Settings of one phase: its recipe block's optimiser settings, the recipe's seed/amp/threads and
    speed switches, and the data pipeline's (``data.workers``, ``data.synthesis``, ``data.prefetch``).

    ``workers`` None: :func:`abair.train.loader.default_workers`. ``channels_last``: model and image
    batches in NHWC memory order; ``compile``: ``torch.compile`` the objective (both off by default:
    they change float rounding, never the data). ``accumulate``: micro-batches per optimiser step
    (``batch`` stays the global batch of one update); ``checkpointing``: recompute each transformer
    block's activations in the backward pass instead of keeping them."""

    steps: int
    batch: int
    lr: float
    min_lr: float = 0.0
    weight_decay: float = 0.0
    warmup: int = 0
    grad_clip: float = 1.0
    checkpoint_every: int = 100
    log_every: int = 10
    amp: str = "auto"
    threads: int = 0
    seed: int = 0
    betas: tuple[float, float] = (0.9, 0.999)
    progress: bool = True
    workers: int | None = None
    synthesis: str = "auto"
    prefetch: int = 2
    channels_last: bool = False
    compile: bool = False
    accumulate: int = 1
    checkpointing: bool = False

    def __post_init__(self) -> None:
        for key in ("checkpoint_every", "log_every"):
            if getattr(self, key) < 1:  # both are step periods: 0 would divide by zero
                raise UserError(f"{key} must be >= 1 (a number of steps), got {getattr(self, key)}")

    @classmethod
    def from_recipe(cls, recipe: dict, phase: str, progress: bool = True) -> LoopConfig:
        block, data = recipe[phase], recipe.get("data", {})
        keys = ("steps", "batch", "lr", "min_lr", "weight_decay", "warmup", "grad_clip", "checkpoint_every",
                "log_every", "accumulate")
        return cls(**{k: block[k] for k in keys if k in block}, amp=recipe.get("amp", "auto"),
                   threads=int(recipe.get("threads", 0)), seed=int(recipe.get("seed", 0)), progress=progress,
                   workers=data.get("workers"), synthesis=data.get("synthesis", "auto"),
                   prefetch=int(data.get("prefetch", 2)), channels_last=bool(recipe.get("channels_last", False)),
                   compile=bool(recipe.get("compile", False)),
                   checkpointing=bool(recipe.get("checkpointing", False)))


def lr_at(step: int, cfg: LoopConfig) -> float:
    """Learning rate of update ``step`` (0-based): linear warm-up, then cosine from ``lr`` to ``min_lr``."""
    if cfg.warmup > 0 and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    span = max(1, cfg.steps - cfg.warmup - 1)
    t = min(1.0, (step - cfg.warmup) / span)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * t))


# -- distributed -------------------------------------------------------------------------------------
def default_device() -> str:
    """``cuda:LOCAL_RANK`` when CUDA is available, else ``cpu``."""
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"


# -- RNG states (JSON-serialisable) ------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state().tolist(),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


# -- checkpoints of the training state -------------------------------------------------------------
def _json_safe(value):
    if isinstance(value, tuple | list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return value.item()
    return value


def latest_state(workdir: str | Path) -> Path | None:
    """The newest complete training-state directory under ``workdir/state`` (None if there is none)."""
    root = Path(workdir) / STATE_DIR
    if not root.is_dir():
        return None
    done = sorted(p for p in root.glob("step-*") if (p / "state.json").is_file())
    return done[-1] if done else None


def check_start(workdir: str | Path, resume: bool) -> Path | None:
    """Refuse (UserError) a start without ``resume`` into a ``workdir`` that holds a training state
    (never silently overwritten); returns the newest state to resume from (None: none)."""
    latest = latest_state(workdir)
    if latest is not None and not resume:
        raise UserError(f"'{workdir}' already holds a training state ({latest.name}); resume it or choose "
                        "another output directory")
    return latest


def save_state(workdir: Path, step: int, objective: nn.Module, optimizer: torch.optim.Optimizer,
               scaler, extra: dict[str, Any]) -> Path:
    """Write the training state at ``step`` atomically (see the module docstring); returns its directory."""
    from safetensors.torch import save_file

    root = Path(workdir) / STATE_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = root / f".tmp-step-{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    model = {k: v.detach().to("cpu").contiguous().clone() for k, v in objective.state_dict().items()}
    save_file(model, str(tmp / "model.safetensors"))
    osd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, st in osd["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{key}"] = value.detach().to("cpu").contiguous().clone()
            else:
                scalars[f"{idx}.{key}"] = value
    save_file(tensors, str(tmp / "optim.safetensors"))
    state = {
        "step": step,
        "optimizer": {"param_groups": _json_safe(osd["param_groups"]), "scalars": _json_safe(scalars)},
        "scaler": _json_safe(scaler.state_dict()) if scaler is not None else None,
        **extra,
    }
    (tmp / "state.json").write_text(json.dumps(state))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in sorted(p for p in root.glob("step-*") if p != final)[:-(KEEP - 1) or None]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_state(path: Path, objective: nn.Module, optimizer: torch.optim.Optimizer, scaler,
               device: str | torch.device) -> dict[str, Any]:
    """Load a directory written by :func:`save_state` into ``objective``/``optimizer``/``scaler``."""
    from safetensors.torch import load_file

    try:
        state = json.loads((path / "state.json").read_text())
        model = load_file(str(path / "model.safetensors"), device=str(device))
        optim = load_file(str(path / "optim.safetensors"), device=str(device))
    except Exception as exc:
        raise UserError(f"training state '{path}' is unreadable ({' '.join(str(exc).split())}); "
                        "delete that directory to resume from the previous one") from None
    missing, unexpected = objective.load_state_dict(model, strict=False)
    if missing or unexpected:
        raise UserError(f"training state '{path}' does not match this phase's model "
                        f"({len(missing)} missing, {len(unexpected)} unexpected tensors); "
                        "resume with the same recipe and inputs, or train into a new output directory")
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in optim.items():
        idx, name = key.split(".", 1)
        per_param.setdefault(int(idx), {})[name] = value
    for key, value in state["optimizer"]["scalars"].items():
        idx, name = key.split(".", 1)
        per_param.setdefault(int(idx), {})[name] = value
    groups = state["optimizer"]["param_groups"]
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    try:
        optimizer.load_state_dict({"state": per_param, "param_groups": groups})
    except ValueError as exc:
        raise UserError(f"training state '{path}' has another optimiser layout ({exc}); "
                        "resume with the same recipe, or train into a new output directory") from None
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    return state


# -- the loop --------------------------------------------------------------------------------------
def _amp(cfg: LoopConfig, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or cfg.amp == "off":
        return None
    if cfg.amp == "bf16" or (cfg.amp == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def _truncate_log(path: Path, step: int) -> None:
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:
            break  # a half-written last line from the kill
    path.write_text("".join(k + "\n" for k in kept))


def _peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this process so far: CUDA allocator peak on a GPU, resident set (RSS) on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


@dataclass
class _Meter:
    """Loss sums and timings since the last log record (the loss sums also survive a resume)."""

    acc: dict
    t_log: float = 0.0
    steps: int = 0
    wait: float = 0.0
    synth: float = 0.0
    compute: float = 0.0

    def add(self, loss: torch.Tensor, parts: dict, wait: float, synth: float, compute: float) -> None:
        self.acc["n"] += 1
        for key, value in {"loss": loss, **parts}.items():
            self.acc["sums"][key] = self.acc["sums"].get(key, 0.0) + float(value.detach())
        self.steps += 1
        self.wait, self.synth, self.compute = self.wait + wait, self.synth + synth, self.compute + compute

    def record(self, name: str, done: int, lr: float, seconds: float, batch: int, device: torch.device) -> dict:
        """The log record of the steps since the previous one (see the module docstring); resets."""
        now = time.perf_counter()
        elapsed, n = max(now - self.t_log, 1e-9), max(self.steps, 1)
        record = {"phase": name, "step": done}
        record.update({k: v / self.acc["n"] for k, v in self.acc["sums"].items()})
        record.update(lr=lr, it_s=self.steps / elapsed, samples_per_s=self.steps * batch / elapsed,
                      data_wait_s=self.wait / n, synth_s=self.synth / n, step_s=self.compute / n,
                      peak_mem_mb=round(_peak_memory_mb(device), 1), seconds=round(seconds, 3))
        self.acc = {"n": 0, "sums": {}}
        self.t_log, self.steps, self.wait, self.synth, self.compute = now, 0, 0.0, 0.0, 0.0
        return record


@dataclass
class _Run:
    """What one call of :func:`train` works with, once set up."""

    objective: nn.Module
    module: nn.Module
    params: list
    optimizer: torch.optim.Optimizer
    scaler: Any
    amp_dtype: torch.dtype | None
    info: DistInfo
    device: torch.device
    per_rank: int
    start: int
    seconds: float
    acc: dict
    ddp: Any = None  # the DistributedDataParallel wrapper (for no_sync), None on one process


def _setup(objective: nn.Module, cfg: LoopConfig, workdir: Path, resume: bool, device: torch.device,
           name: str) -> _Run:
    """Threads, process group, optimiser, AMP, the resumed state, the log and the DDP/compiled module."""
    if device.type == "cpu" and cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    info = init_distributed(device)
    if cfg.batch % info.world:
        raise UserError(f"{name}: the global batch {cfg.batch} does not split over {info.world} processes; "
                        "use a multiple of the process count")
    if cfg.accumulate < 1 or (cfg.batch // info.world) % cfg.accumulate:
        raise UserError(f"{name}: the batch of {cfg.batch // info.world} per process does not split into "
                        f"{cfg.accumulate} equal micro-batches (accumulate); use an accumulate that divides it")
    objective.to(device)
    if cfg.channels_last:
        objective.to(memory_format=torch.channels_last)
    if cfg.checkpointing:
        from abair.model.blocks import set_checkpointing

        set_checkpointing(objective, True)
    params = [p for p in objective.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{name}: nothing to train (no parameter requires a gradient)")
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    amp_dtype = _amp(cfg, device)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    start, seconds, acc = 0, 0.0, {"n": 0, "sums": {}}
    latest = check_start(workdir, resume)
    if latest is not None:
        state = load_state(latest, objective, optimizer, scaler, device)
        start, seconds, acc = int(state["step"]), float(state["seconds"]), state["log_acc"]
        rngs = state.get("rng", [])
        if info.rank < len(rngs):
            set_rng_state(rngs[info.rank])
    if info.main:
        workdir.mkdir(parents=True, exist_ok=True)
        _truncate_log(workdir / LOG_FILE, start)
    barrier(info)
    module: nn.Module = objective
    ddp = None
    if info.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        module = ddp = DistributedDataParallel(objective, device_ids=[device] if device.type == "cuda" else None)
    if cfg.compile:
        module = torch.compile(module)
    module.train()
    return _Run(objective, module, params, optimizer, scaler, amp_dtype, info, device, cfg.batch // info.world,
                start, seconds, acc, ddp)


def micro_batches(batch: dict, n: int) -> list[dict]:
    """``batch`` cut into ``n`` equal consecutive micro-batches (views along the sample axis): samples
    ``j*m .. (j+1)*m - 1`` of the rank's batch for micro-batch ``j``, ``m = len / n``."""
    if n == 1:
        return [batch]
    size = len(next(iter(batch.values()))) // n
    return [{k: v[j * size:(j + 1) * size] for k, v in batch.items()} for j in range(n)]


def _backward(run: _Run, batch: dict, scale: float) -> tuple[torch.Tensor, dict]:
    """Forward and backward of one (micro-)batch, the loss multiplied by ``scale`` before backward."""
    with torch.autocast(device_type=run.device.type, dtype=run.amp_dtype, enabled=run.amp_dtype is not None):
        loss, parts = run.module(batch)
    scaled = loss if scale == 1.0 else loss * scale
    (run.scaler.scale(scaled) if run.scaler is not None else scaled).backward()
    return loss, parts


def _update(run: _Run, batch: dict, lr: float, cfg: LoopConfig, name: str, step: int):
    """One optimiser step on ``batch`` (in ``cfg.accumulate`` micro-batches); returns ``(loss, parts)``,
    the means over the micro-batches."""
    import contextlib

    for group in run.optimizer.param_groups:
        group["lr"] = lr
    run.optimizer.zero_grad(set_to_none=True)
    micro = micro_batches(batch, cfg.accumulate)
    losses, sums = [], {}
    for j, part in enumerate(micro):
        last = j == len(micro) - 1
        with run.ddp.no_sync() if run.ddp is not None and not last else contextlib.nullcontext():
            loss, parts = _backward(run, part, 1.0 / len(micro))
        losses.append(loss.detach())
        for key, value in parts.items():
            sums[key] = sums.get(key, 0.0) + value
    if len(micro) > 1:
        loss = torch.stack(losses).mean()
        parts = {key: value / len(micro) for key, value in sums.items()}
    if run.scaler is not None:
        run.scaler.unscale_(run.optimizer)
    if cfg.grad_clip and cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(run.params, cfg.grad_clip)
    if run.scaler is not None:
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        run.optimizer.step()
    if not torch.isfinite(loss):
        raise UserError(f"{name}: the loss became {loss.item()} at step {step + 1}; lower the learning "
                        "rate or turn AMP off (recipe key amp: off)")
    return loss, parts


def _checkpoint(run: _Run, workdir: Path, done: int, seconds: float, acc: dict, name: str) -> None:
    rngs = [rng_state()]
    if run.info.world > 1:
        import torch.distributed as dist

        rngs = [None] * run.info.world
        dist.all_gather_object(rngs, rng_state())
    if run.info.main:
        save_state(workdir, done, run.objective, run.optimizer, run.scaler,
                   {"seconds": seconds, "log_acc": acc, "rng": rngs, "name": name, "world": run.info.world})
    barrier(run.info)


def _sources_line(name: str, data) -> str | None:
    """One line on what the data is drawn from (images used, too small, unreadable), if it says."""
    summary = data.sources() if hasattr(data, "sources") else {}
    parts = []
    for what, s in summary.items():
        extra = "".join(f", {s[k]} {label}" for k, label in (("too_small", "smaller than the crop, skipped"),
                                                            ("unreadable", "unreadable, skipped")) if s.get(k))
        parts.append(f"{what}: {s['used']} of {s['images']} images{extra}")
    return f"{name}: {'; '.join(parts)}" if parts else None


def train(objective: nn.Module, data, cfg: LoopConfig, workdir: str | Path, resume: bool = False,
          device: str | torch.device = "cpu", name: str = "train",
          on_checkpoint: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run the loop (see the module docstring); returns ``{"steps", "seconds", "last": last log record,
    "data": what the data was drawn from}``.

    ``workdir`` holds ``log.jsonl`` and ``state/``. Without ``resume``, an existing training state
    there is an error (never silently overwritten). ``on_checkpoint(step)`` runs after each save
    (tests use it to simulate a kill). One writer at a time: the main process holds
    ``workdir/train.lock`` (:func:`abair.filelock.training_lock`) throughout; a second is refused.
    """
    from abair.filelock import training_lock

    with training_lock(workdir, main=init_distributed(torch.device(device)).main):
        return _train(objective, data, cfg, workdir, resume, device, name, on_checkpoint)


def _train(objective: nn.Module, data, cfg: LoopConfig, workdir: str | Path, resume: bool,
           device: str | torch.device, name: str, on_checkpoint: Callable[[int], None] | None) -> dict[str, Any]:
    from tqdm import tqdm

    from .loader import default_workers, iterate_batches

    device, workdir = torch.device(device), Path(workdir)
    run = _setup(objective, cfg, workdir, resume, device, name)
    info, seconds = run.info, run.seconds
    workers = cfg.workers if cfg.workers is not None else default_workers(
        int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    line = _sources_line(name, data)
    bar = tqdm(total=cfg.steps, initial=run.start, desc=name, disable=not (cfg.progress and info.main),
               dynamic_ncols=True, leave=True)
    if line and info.main and cfg.progress:
        bar.write(line)
    meter = _Meter(run.acc, t_log=time.perf_counter())
    last: dict[str, Any] = {}
    log = open(workdir / LOG_FILE, "a") if info.main else None  # noqa: SIM115 (closed in finally)
    try:
        batches = iterate_batches(data, run.start, cfg.steps, info.rank, run.per_rank, device, workers,
                                  cfg.synthesis, cfg.prefetch, cfg.channels_last)
        for step, batch, wait, synth in batches:
            t0 = time.perf_counter()
            lr = lr_at(step, cfg)
            loss, parts = _update(run, batch, lr, cfg, name, step)
            compute = time.perf_counter() - t0
            seconds += wait + synth + compute
            meter.add(loss, parts, wait, synth, compute)
            done = step + 1
            bar.update(1)
            if done % cfg.log_every == 0 or done == cfg.steps:
                last = meter.record(name, done, lr, seconds, cfg.batch, device)
                if log is not None:
                    log.write(json.dumps(last) + "\n")
                    log.flush()
                bar.set_postfix(loss=f"{last['loss']:.4f}", lr=f"{lr:.2e}", samples_s=f"{last['samples_per_s']:.1f}",
                                wait=f"{100 * last['data_wait_s'] / max(last['step_s'] + last['data_wait_s'], 1e-9):.0f}%")
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                _checkpoint(run, workdir, done, seconds, meter.acc, name)
                if on_checkpoint is not None:
                    on_checkpoint(done)
    finally:
        bar.close()
        if log is not None:
            log.close()
    return {"steps": cfg.steps, "seconds": seconds, "last": last,
            "data": data.sources() if hasattr(data, "sources") else {}}
