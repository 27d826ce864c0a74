"""How fast a training phase can go, and what bounds it: the data pipeline or the optimiser step.

:func:`bench_data` measures, in one process and one after the other,

- the **pipeline** alone: the phase's batches through :func:`abair.train.loader.iterate_batches`
  (the workers, pinned memory, device synthesis exactly as training uses them), consumed as fast
  as they come: samples per second;
- the **step** alone: forward, backward and AdamW update of the phase's objective on one fixed
  batch on the device: samples per second;
- optionally the **synthesis cost per degradation**: milliseconds to degrade one ``crop x crop``
  sample with each operator at its default severities (on the CPU, one thread of work, as in a
  loader worker; or on the device).

Training runs at about the smaller of the two rates when the pipeline overlaps the step (workers
> 0); with ``workers=0`` the two add up. Rates are global samples per second of one process.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch

from abair.errors import UserError


@dataclass
class BenchResult:
    phase: str
    crop: int
    batch: int
    workers: int
    synthesis: str
    device: str
    steps: int
    pipeline_samples_s: float
    step_samples_s: float | None
    per_degradation_ms: dict[str, float] = field(default_factory=dict)

    @property
    def bound(self) -> str:
        if self.step_samples_s is None:
            return "unknown"
        return "data" if self.pipeline_samples_s < self.step_samples_s else "step"

    def as_dict(self) -> dict:
        return {**asdict(self), "bound": self.bound}


def _phase_data(recipe: dict, phase: str, crop: int, adapter: str, data, seed: int):
    from .data import EstimatorData, Phase1Data, SingleData
    from .inputs import TrainData
    from .phases import _stream

    inputs = data or TrainData()
    stream = _stream(recipe)
    if phase == "phase1":
        block = recipe["phase1"]
        return Phase1Data(crop, block.get("degradations", recipe["model"]["adapters"]), block.get("data", "cutmix"),
                          seed, pool=inputs.clean, pairs=inputs.pairs(), **stream)
    if phase == "phase2":
        from .recipes import adapter_recipe

        block = adapter_recipe(recipe, adapter)["phase2"]
        pool, pairs = inputs.adapter_inputs(adapter)
        return SingleData(crop, adapter, seed, pool=pool, pairs=pairs, params=block["params"],
                          soft_clean=block.get("soft_clean", 0.0), **stream)
    return EstimatorData(crop, recipe["model"]["adapters"], recipe["phase3"].get("mixed_fraction", 0.25),
                         recipe["model"].get("estimator_activation", "softmax"), seed, pool=inputs.clean, **stream)


def _objective(recipe: dict, phase: str, adapter: str):
    from abair.model import build
    from abair.model.adapters import AdapterSpec

    from .phases import AdapterObjective, EstimatorObjective, Phase1Objective
    from .recipes import adapter_recipe

    preset = recipe["model"]["preset"]
    if phase == "phase1":
        block = recipe["phase1"]
        return Phase1Objective(build(preset, adapters=0, seghead=True), block.get("seg_weight", 0.1),
                               block.get("aux_seg", True), block.get("loss", "l1"))
    if phase == "phase2":
        r = adapter_recipe(recipe, adapter)
        model = build(preset, adapters=0)
        model.add_adapter(AdapterSpec(name=adapter, type=r["model"].get("adapter_type", "lora"),
                                      rank=int(r["model"].get("rank", 4))))
        return AdapterObjective(model, adapter, r["phase2"].get("loss", "l1"))
    return EstimatorObjective(build(preset, adapters=list(recipe["model"]["adapters"])))


def _time_pipeline(data, batch: int, device: torch.device, workers: int, synthesis: str, steps: int,
                   warmup: int) -> float:
    from .loader import iterate_batches

    it = iterate_batches(data, 0, warmup + steps, 0, batch, device, workers, synthesis)
    for _ in range(warmup):
        next(it)
    t0 = time.perf_counter()
    for _ in it:
        pass
    return steps * batch / (time.perf_counter() - t0)


def _time_step(recipe: dict, phase: str, adapter: str, fixed: dict, device: torch.device, steps: int,
               warmup: int) -> float:
    from .loop import LoopConfig, _amp

    objective = _objective(recipe, phase, adapter).to(device)
    params = [p for p in objective.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    amp = _amp(LoopConfig(steps=1, batch=1, lr=1.0, amp=recipe.get("amp", "auto")), device)
    batch = {k: v.to(device) for k, v in fixed.items()}
    objective.train()

    def one():
        with torch.autocast(device_type=device.type, dtype=amp, enabled=amp is not None):
            loss, _ = objective(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        one()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps * len(next(iter(fixed.values()))) / (time.perf_counter() - t0)


def synthesis_cost(crop: int, device: torch.device, repeats: int = 8) -> dict[str, float]:
    """Milliseconds to degrade one (3, crop, crop) float32 sample with each operator (default
    severities, a fresh generator per sample), mean over ``repeats`` samples after one warm-up."""
    from abair.degradations import DEGRADATIONS, apply, make_generator

    clean = torch.rand(3, crop, crop, generator=torch.Generator().manual_seed(0)).to(device)
    out = {}
    for name in DEGRADATIONS:
        apply(name, clean, make_generator(0))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for i in range(repeats):
            apply(name, clean, make_generator(i + 1))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        out[name] = 1000 * (time.perf_counter() - t0) / repeats
    return out


PHASES = {"1": "phase1", "2": "phase2", "3": "phase3"}


def bench_data(recipe: dict, phase: str, crop: int | None = None, batch: int | None = None, workers: int = 0,
               synthesis: str = "auto", device: str | torch.device = "cpu", steps: int = 10, warmup: int = 2,
               adapter: str | None = None, data=None, step: bool = True,
               per_degradation: bool = False) -> BenchResult:
    """Measure the pipeline and the step of ``phase`` (``1``/``2``/``3`` or ``phaseN``) as the recipe
    builds them, at ``crop`` and global ``batch`` (None: the recipe's; 0 or less is an error).
    ``synthesis``: ``auto``/``workers``/``device`` (the result names the one used). ``adapter``: the
    Phase-II adapter (default: the recipe's first). ``step=False`` skips the step measurement."""
    phase = PHASES.get(str(phase), str(phase))
    if phase not in PHASES.values():
        raise UserError(f"phase must be 1, 2 or 3, got '{phase}'")
    if steps < 1 or warmup < 0:
        raise UserError(f"steps must be >= 1 and warm-up >= 0, got {steps} and {warmup}")
    device = torch.device(device)
    block = recipe[phase]
    crop = int(block.get("crop", 64) if crop is None else crop)
    batch = int(block["batch"] if batch is None else batch)
    adapter = adapter or recipe["model"]["adapters"][0]
    if crop % 8 or crop < 8 or batch < 1:
        raise UserError(f"crop must be a positive multiple of 8 and batch >= 1, got crop {crop}, batch {batch}")
    if recipe.get("threads", 0) > 0 and device.type == "cpu":
        torch.set_num_threads(int(recipe["threads"]))
    data_obj = _phase_data(recipe, phase, crop, adapter, data, int(recipe.get("seed", 0)))
    from .data import resolve_synthesis

    synthesis = resolve_synthesis(synthesis, device, data_obj.order)
    pipeline = _time_pipeline(data_obj, batch, device, workers, synthesis, steps, warmup)
    step_rate = None
    if step:
        step_rate = _time_step(recipe, phase, adapter, data_obj.batch(0, 0, batch), device, steps, warmup)
    costs = synthesis_cost(crop, device) if per_degradation else {}
    return BenchResult(phase, crop, batch, workers, synthesis, str(device), steps, pipeline, step_rate, costs)


def rate(samples_s: float) -> str:
    """A rate in samples/s with 3 significant digits (``0.0291``, ``12.3``, ``1234``), never rounded to 0."""
    if samples_s >= 99.95:
        return f"{samples_s:.0f}"
    return f"{samples_s:#.3g}"


def advice(result: BenchResult, cores: int) -> str:
    """One sentence on what bounds training and what would help."""
    if result.bound == "unknown":
        return "step not measured"
    ratio = result.step_samples_s / result.pipeline_samples_s
    if result.bound == "step":
        return (f"step-bound: the pipeline delivers {1 / ratio:.1f}x what the step consumes; more workers "
                "would not help")
    tips = []
    if result.workers < max(0, cores - 1):
        tips.append(f"more loader workers (up to {max(1, cores - 1)} on {cores} cores)")
    if result.synthesis == "workers" and result.device.startswith("cuda"):
        tips.append("synthesis on the device")
    if not tips:
        tips.append("fewer or cheaper degradations per sample, smaller source images (decode cost), or "
                    "a machine with more cores")
    return f"data-bound: the step could take {ratio:.1f}x more samples/s; try " + " or ".join(tips)
