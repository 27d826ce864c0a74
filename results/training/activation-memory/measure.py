"""Activation memory of one Phase-I (and Phase-II) training step of the `paper` preset at 128x128, per sample.

Run from the repository root (CPU only, a few minutes, about 6 GB of RAM for the real-tensor check):

    python results/training/activation-memory/measure.py

Writes ``runs.jsonl`` (one record per configuration) and ``table.md`` beside this file. What is
measured (bytes, not time; no GPU involved):

- ``saved``: the distinct storages autograd saves for the backward pass during the forward
  (``torch.autograd.graph.saved_tensors_hooks``), parameters excluded: the activations a step keeps
  between its forward and its backward.
- ``peak``: the most bytes alive at once, from the first op of the forward to the end of the backward,
  of every storage created during the step (a ``TorchDispatchMode`` adds each new output storage and a
  finaliser subtracts it when the storage is freed): saved activations, temporaries, activation
  gradients, the parameters' gradients and, under autocast, the bf16 copies of the weights. Not in
  it: the weights themselves, the optimiser state, the CUDA context and the allocator's rounding and
  fragmentation.

Batches 2 and 4 separate the per-sample cost (half the difference) from the fixed one (batch 1 is
listed too, but some reshapes of a one-image batch are views where a larger batch needs a copy). The model runs
on fake tensors (``FakeTensorMode``: shapes, dtypes and devices without data), so the paper model at
batch 2 costs no memory. ``bf16``: CPU autocast (convolutions and matrix products in bf16), forward
and backward; ``bf16-cuda``: the model as fake CUDA tensors under CUDA autocast (the GPU's op lists),
forward only (saved bytes), to check that the CPU lists save what the GPU's would. Two
configurations are also run on real CPU tensors (fp32, batch 1) to check that fake and real tensors
give the same bytes.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import weakref
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

HERE = Path(__file__).resolve().parent
CROP = 128
#: batch 1 is a special case (some reshapes of a one-image batch are views, not copies): the
#: per-sample cost is the slope between the two larger batches, the fixed cost its intercept
BATCHES = (1, 2, 4)
GIB = 2**30


@contextlib.contextmanager
def cuda_autocast(dtype: torch.dtype | None):
    """CUDA autocast without a GPU (``torch.autocast`` refuses to turn on when CUDA is unavailable);
    the dispatcher applies the same AutocastCUDA kernels to fake CUDA tensors as to real ones."""
    if dtype is None:
        yield
        return
    previous = (torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda"))
    torch.set_autocast_enabled("cuda", True)
    torch.set_autocast_dtype("cuda", dtype)
    torch.autocast_increment_nesting()
    try:
        yield
    finally:
        if torch.autocast_decrement_nesting() == 0:
            torch.clear_autocast_cache()
        torch.set_autocast_enabled("cuda", previous[0])
        torch.set_autocast_dtype("cuda", previous[1])


class LiveBytes(TorchDispatchMode):
    """Bytes of the storages created under this mode that are still alive; ``peak`` is the maximum."""

    def __init__(self, ignore: set[int]):
        super().__init__()
        self.ignore, self.live, self.now, self.peak = ignore, {}, 0, 0

    def _release(self, key: int) -> None:
        self.now -= self.live.pop(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key = storage._cdata
                if key not in self.live and key not in self.ignore:
                    self.live[key] = storage.nbytes()
                    self.now += storage.nbytes()
                    self.peak = max(self.peak, self.now)
                    weakref.finalize(storage, self._release, key)
        return out


class FixedAdapter(torch.nn.Module):
    """Phase II's objective (mode ``fixed:<name>``: the one adapter at weight 1) without the mode's
    data-dependent skip of zero-weight adapters, which fake tensors cannot evaluate."""

    def __init__(self, objective):
        super().__init__()
        self.objective = objective

    def forward(self, batch):
        from abair.train.losses import restoration_loss

        model, x = self.objective.model, batch["degraded"]
        with model.set_blend(torch.ones(len(x), 1, device=x.device), (self.objective.name,)):
            return restoration_loss(self.objective.loss, model.backbone(x), batch["clean"])


def step_memory(batch_size: int, precision: str, checkpointing: bool, fake: bool, phase: str = "phase1") -> dict:
    """Saved activations and peak step bytes of one forward + backward (see the module docstring) of
    Phase I (backbone + segmentation head, every parameter trained) or Phase II (one rank-4 LoRA
    adapter trained, everything else frozen).

    ``precision``: ``fp32``; ``bf16`` (CPU autocast; forward and backward); ``bf16-cuda`` (CUDA
    autocast on fake CUDA tensors: the forward only, as the autograd engine needs a real GPU to run
    a backward on CUDA tensors, so ``peak_bytes`` is None)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from abair.model import build
    from abair.model.adapters import AdapterSpec
    from abair.model.blocks import set_checkpointing
    from abair.train.phases import AdapterObjective, Phase1Objective

    device = "cuda" if precision == "bf16-cuda" else "cpu"
    amp = None if precision == "fp32" else torch.bfloat16
    if amp is not None and not fake:
        raise ValueError("bf16 is measured on fake tensors only")
    autocast = cuda_autocast(amp) if device == "cuda" else torch.autocast("cpu", amp, enabled=amp is not None)
    with FakeTensorMode() if fake else contextlib.nullcontext():
        torch.manual_seed(0)
        if phase == "phase1":
            objective = Phase1Objective(build("paper", adapters=0, seghead=True, device=device))
        else:
            model = build("paper", adapters=0, device=device)  # no estimator: Phase II does not run it
            model.add_adapter(AdapterSpec(name="rain"))  # LoRA, rank 4
            objective = FixedAdapter(AdapterObjective(model, "rain"))
        set_checkpointing(objective, checkpointing)
        with torch.device(device):
            x = torch.rand(batch_size, 3, CROP, CROP)
            batch = {"degraded": x, "clean": x.flip(-1).contiguous(),
                     "class_map": torch.randint(0, 6, (batch_size, CROP, CROP))}
        params = {p.untyped_storage()._cdata for p in objective.parameters()}
        before = params | {v.untyped_storage()._cdata for v in batch.values()}
        saved: dict[int, int] = {}

        def pack(t):
            storage = t.untyped_storage()
            if storage._cdata not in params:
                saved[storage._cdata] = storage.nbytes()
            return t

        t0 = time.perf_counter()
        with LiveBytes(before) as live:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast:
                loss, _ = objective(batch)
            saved_bytes = sum(saved.values())
            saved.clear()
            if device != "cuda":
                loss.backward()
        seconds = time.perf_counter() - t0
    return {"preset": "paper", "phase": phase, "crop": CROP, "batch": batch_size, "precision": precision,
            "checkpointing": checkpointing, "tensors": "fake" if fake else "real cpu",
            "saved_bytes": saved_bytes, "peak_bytes": live.peak if device != "cuda" else None,
            "seconds": round(seconds, 1)}


def main() -> int:
    sys.path.insert(0, str(HERE.parents[2]))
    torch.set_num_threads(1)
    runs = []
    for phase in ("phase1", "phase2"):
        for precision in ("fp32", "bf16", "bf16-cuda"):
            for checkpointing in (False, True):
                for batch in BATCHES:
                    runs.append(step_memory(batch, precision, checkpointing, fake=True, phase=phase))
                    print(json.dumps(runs[-1]), flush=True)
    for checkpointing in (False, True):
        runs.append(step_memory(1, "fp32", checkpointing, fake=False))
        print(json.dumps(runs[-1]), flush=True)
    (HERE / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    (HERE / "table.md").write_text(table(runs))
    print(table(runs))
    return 0


def table(runs: list[dict]) -> str:
    """Per-sample and fixed GiB (slope and intercept of batches 2 and 4), batch 1 as measured, and the
    real-tensor check."""
    lines = ["`paper` preset, 128x128 crops; CPU, measured bytes of saved activations and of the step's "
             "live storages (fake tensors), not a GPU timing. GiB = 2^30 bytes.", "",
             "| phase | precision | checkpointing | saved / sample | saved fixed | saved, batch 1 | peak / sample | "
             "peak fixed | peak, batch 1 |", "|---|---|---|---|---|---|---|---|---|"]
    fake = {(r["phase"], r["precision"], r["checkpointing"], r["batch"]): r for r in runs if r["tensors"] == "fake"}
    for phase, precision, ckpt in sorted({k[:3] for k in fake}, key=lambda k: (k[0], k[1] != "fp32", k[1], k[2])):
        one, two, four = (fake[(phase, precision, ckpt, b)] for b in BATCHES)
        cells = []
        for key in ("saved_bytes", "peak_bytes"):
            if one[key] is None:
                cells += ["-", "-", "-"]
                continue
            per = (four[key] - two[key]) / 2
            cells += [f"{per / GIB:.3f}", f"{(two[key] - 2 * per) / GIB:.3f}", f"{one[key] / GIB:.3f}"]
        lines.append(f"| {phase} | {precision} | {'on' if ckpt else 'off'} | " + " | ".join(cells) + " |")
    lines += ["", "Real CPU tensors (Phase I, fp32, batch 1) against fake ones, GiB:", "",
              "| checkpointing | saved (real) | saved (fake) | peak (real) | peak (fake) |", "|---|---|---|---|---|"]
    for r in (r for r in runs if r["tensors"] != "fake"):
        f = fake[("phase1", "fp32", r["checkpointing"], 1)]
        lines.append(f"| {'on' if r['checkpointing'] else 'off'} | {r['saved_bytes'] / GIB:.3f} | "
                     f"{f['saved_bytes'] / GIB:.3f} | {r['peak_bytes'] / GIB:.3f} | {f['peak_bytes'] / GIB:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
