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
  the global batch, split evenly over the ranks; rank ``r`` draws its own batches (seeded by rank);
- a checkpoint every ``checkpoint_every`` steps and at the end, written atomically (a temporary
  directory renamed into ``workdir/state/step-XXXXXXXX``; the two newest are kept): the objective's
  tensors (``model.safetensors``), the optimiser's tensors (``optim.safetensors``) and, in
  ``state.json``, the step, the optimiser's hyper-parameters, the scaler, the cumulative seconds,
  the log accumulators and the RNG states (torch, CUDA, NumPy, Python) of every rank. No pickle.
  ``resume=True`` restarts from the newest complete one and ends bit-identical to an uninterrupted
  run on CPU (the data of step ``s`` depends only on ``(seed, rank, s)``);
- a tqdm progress bar and a JSONL log ``workdir/log.jsonl``: one record every ``log_every`` steps
  with ``step``, ``loss`` and each loss part (means over the steps since the previous record, on
  rank 0), ``lr``, ``it_s`` (steps per second since the previous record) and ``seconds``
  (cumulative training wall time, resumed runs included). On resume, records after the
  checkpoint's step are dropped first so the log reads as one uninterrupted run.
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

from abair.errors import UserError

STATE_DIR = "state"
LOG_FILE = "log.jsonl"
KEEP = 2


@dataclass
class LoopConfig:
    """Optimisation settings of one phase (a recipe's phase block plus the recipe's seed/amp)."""

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

    @classmethod
    def from_recipe(cls, recipe: dict, phase: str, progress: bool = True) -> LoopConfig:
        block = recipe[phase]
        keys = ("steps", "batch", "lr", "min_lr", "weight_decay", "warmup", "grad_clip", "checkpoint_every",
                "log_every")
        return cls(**{k: block[k] for k in keys if k in block}, amp=recipe.get("amp", "auto"),
                   threads=int(recipe.get("threads", 0)), seed=int(recipe.get("seed", 0)), progress=progress)


def lr_at(step: int, cfg: LoopConfig) -> float:
    """Learning rate of update ``step`` (0-based): linear warm-up, then cosine from ``lr`` to ``min_lr``."""
    if cfg.warmup > 0 and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    span = max(1, cfg.steps - cfg.warmup - 1)
    t = min(1.0, (step - cfg.warmup) / span)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * t))


# -- distributed -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def default_device() -> str:
    """``cuda:LOCAL_RANK`` when CUDA is available, else ``cpu``."""
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"


def init_distributed(device: str | torch.device) -> DistInfo:
    """Join the process group ``torchrun`` describes (gloo on CPU, NCCL on CUDA); no-op when alone."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(torch.device(device))
        dist.init_process_group(backend)
    return DistInfo(dist.get_rank(), dist.get_world_size())


def barrier(info: DistInfo) -> None:
    if info.world > 1:
        import torch.distributed as dist

        dist.barrier()


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
                        "resume with the same recipe and inputs, or start a new --out")
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
                        "resume with the same recipe, or start a new --out") from None
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


def train(objective: nn.Module, data, cfg: LoopConfig, workdir: str | Path, resume: bool = False,
          device: str | torch.device = "cpu", name: str = "train",
          on_checkpoint: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run the loop (see the module docstring); returns ``{"steps", "seconds", "last": last log record}``.

    ``workdir`` holds ``log.jsonl`` and ``state/``. Without ``resume``, an existing training state
    there is an error (never silently overwritten). ``on_checkpoint(step)`` runs after each save
    (tests use it to simulate a kill).
    """
    from tqdm import tqdm

    device = torch.device(device)
    workdir = Path(workdir)
    if device.type == "cpu" and cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    info = init_distributed(device)
    if cfg.batch % info.world:
        raise UserError(f"{name}: batch {cfg.batch} does not split over {info.world} processes; "
                        "use a multiple of the process count")
    per_rank = cfg.batch // info.world
    objective.to(device)
    params = [p for p in objective.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{name}: nothing to train (no parameter requires a gradient)")
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    amp_dtype = _amp(cfg, device)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None

    start, seconds, acc = 0, 0.0, {"n": 0, "sums": {}}
    latest = latest_state(workdir)
    if latest is not None and not resume:
        raise UserError(f"'{workdir}' already holds a training state ({latest.name}); pass --resume to "
                        "continue it or choose another --out")
    if latest is not None:
        state = load_state(latest, objective, optimizer, scaler, device)
        start, seconds, acc = int(state["step"]), float(state["seconds"]), state["log_acc"]
        rngs = state.get("rng", [])
        if info.rank < len(rngs):
            set_rng_state(rngs[info.rank])
    log_path = workdir / LOG_FILE
    if info.main:
        workdir.mkdir(parents=True, exist_ok=True)
        _truncate_log(log_path, start)
    barrier(info)

    module: nn.Module = objective
    if info.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        module = DistributedDataParallel(objective, device_ids=[device] if device.type == "cuda" else None)
    module.train()

    bar = tqdm(total=cfg.steps, initial=start, desc=name, disable=not (cfg.progress and info.main),
               dynamic_ncols=True, leave=True)
    last: dict[str, Any] = {}
    t_log = time.perf_counter()
    steps_since = 0
    log = open(log_path, "a") if info.main else None  # noqa: SIM115 (closed in finally)
    try:
        for step in range(start, cfg.steps):
            t0 = time.perf_counter()
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = {k: v.to(device, non_blocking=True) for k, v in data.batch(step, info.rank, per_rank).items()}
            with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                loss, parts = module(batch)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            if cfg.grad_clip and cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            if not torch.isfinite(loss):
                raise UserError(f"{name}: the loss became {loss.item()} at step {step + 1}; lower the learning "
                                "rate (--set PHASE.lr=...) or turn AMP off (--set amp=off)")
            seconds += time.perf_counter() - t0
            steps_since += 1
            acc["n"] += 1
            for key, value in {"loss": loss, **parts}.items():
                acc["sums"][key] = acc["sums"].get(key, 0.0) + float(value.detach())
            done = step + 1
            bar.update(1)
            if done % cfg.log_every == 0 or done == cfg.steps:
                now = time.perf_counter()
                record = {"phase": name, "step": done}
                record.update({k: v / acc["n"] for k, v in acc["sums"].items()})
                record.update(lr=lr, it_s=steps_since / max(now - t_log, 1e-9), seconds=round(seconds, 3))
                acc = {"n": 0, "sums": {}}
                t_log, steps_since = now, 0
                last = record
                if log is not None:
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{lr:.2e}")
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                rngs = [rng_state()]
                if info.world > 1:
                    import torch.distributed as dist

                    rngs = [None] * info.world
                    dist.all_gather_object(rngs, rng_state())
                if info.main:
                    save_state(workdir, done, objective, optimizer, scaler,
                               {"seconds": seconds, "log_acc": acc, "rng": rngs, "name": name})
                barrier(info)
                if on_checkpoint is not None:
                    on_checkpoint(done)
    finally:
        bar.close()
        if log is not None:
            log.close()
    return {"steps": cfg.steps, "seconds": seconds, "last": last}
