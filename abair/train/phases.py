"""The three training phases of ABAIR (and adding a degradation), over :func:`abair.train.loop.train`.

- **Phase I** (:func:`run_phase1`): backbone + segmentation head, every parameter trained.
  Loss ``L1(restored, clean) + seg_weight * CE(seg_logits, class_map)``; Table 6 switches:
  ``phase1.data`` = ``cutmix`` | ``synthetic`` | ``task-only`` and ``phase1.aux_seg`` (False: L1 only,
  the head is frozen and unused). ``phase1.loss`` / ``phase2.loss`` / ``phase2.per_adapter.<name>.loss``
  swap L1 for another restoration loss of :mod:`abair.train.losses` (``charbonnier``, ``psnr``). Output: ``<out>/phase1/backbone.safetensors`` (with the head).
- **Phase II** (:func:`run_phase2`): for each degradation, the Phase-I backbone frozen, one fresh
  adapter (``model.adapter_type``, default LoRA, of rank ``model.rank``) trained alone with mode
  ``fixed:<name>`` and the phase's restoration loss (default L1); ``phase2.per_adapter.<name>`` can
  give one adapter its own type, rank, loss and settings (the shipped ``tiny`` blur adapter: a
  rank-16 Conv-LoRA with the PSNR loss and soft clean targets). Each adapter starts from the same
  backbone and never sees the others. Output: ``<out>/phase2/<name>/adapter.safetensors``.
- **Phase III** (:func:`run_phase3`): everything frozen but a fresh estimator, trained on single and
  mixed degradations (``phase3.real_fraction`` of the samples: degraded crops of the task
  training sets, each labelled with its task).
  Loss: cross-entropy against the soft targets (softmax estimator: one-hot, or
  1/2 + 1/2 for two degradations) or binary cross-entropy against multi-hot targets (sigmoid
  estimator), plus ``restoration_weight * L1`` of the ``sw`` restoration when that weight is > 0
  (the gradient then flows through the frozen backbone and adapters to the estimator).
- **Adding a degradation** (:func:`add_adapter`): one new adapter trained inside a finished model,
  every other tensor frozen (the existing adapters stay byte-identical), then Phase III again.

All objectives are ``nn.Module``\\ s returning ``(loss, parts)`` so DDP can wrap them. Fresh tensors
(Phase-I model, each adapter, each estimator) are initialised from seeds derived from the recipe's
seed and their name, so a phase rerun alone starts from the same weights.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from abair.children import check_count, die_with_parent, stop_pool
from abair.degradations import seed_from_string
from abair.errors import UserError

from .data import DEFAULT_SOFT_RADIUS, EstimatorData, Phase1Data, SingleData
from .inputs import TrainData
from .loop import LoopConfig, barrier, check_start, default_device, init_distributed, train
from .losses import get_loss, restoration_loss

PHASES = ("phase1", "phase2", "phase3")
BACKBONE_FILE = "phase1/backbone.safetensors"
MODEL_FILE = "model.safetensors"


# -- objectives --------------------------------------------------------------------------------------
class Phase1Objective(nn.Module):
    """Restoration loss (``loss``, default L1; :mod:`abair.train.losses`) + ``seg_weight`` x
    cross-entropy of the segmentation head on the class map."""

    def __init__(self, model, seg_weight: float = 0.1, aux_seg: bool = True, loss: str = "l1"):
        super().__init__()
        get_loss(loss)
        self.model = model
        self.seg_weight = float(seg_weight)
        self.aux_seg = bool(aux_seg)
        self.loss = loss
        if not self.aux_seg and model.seghead is not None:
            model.seghead.requires_grad_(False)

    def forward(self, batch: dict[str, torch.Tensor]):
        x, clean = batch["degraded"], batch["clean"]
        if not self.aux_seg:
            return restoration_loss(self.loss, self.model(x, mode="none"), clean)
        restored, logits = self.model.pretrain_forward(x)
        loss, parts = restoration_loss(self.loss, restored, clean)
        ce = F.cross_entropy(logits.float(), batch["class_map"])
        return loss + self.seg_weight * ce, {**parts, "ce": ce.detach()}


class AdapterObjective(nn.Module):
    """Phase II: the restoration loss (``loss``, default L1) of ``model(x, mode="fixed:<name>")``;
    only adapter ``name`` is trainable."""

    def __init__(self, model, name: str, loss: str = "l1"):
        super().__init__()
        get_loss(loss)
        self.model = model
        self.name = name
        self.loss = loss
        model.requires_grad_(False)
        for p in model.adapter_parameters(name):
            p.requires_grad_(True)

    def forward(self, batch: dict[str, torch.Tensor]):
        restored = self.model(batch["degraded"], mode=f"fixed:{self.name}")
        return restoration_loss(self.loss, restored, batch["clean"])


class EstimatorObjective(nn.Module):
    """Phase III: classification loss on the estimator's logits (+ optional blended L1); only the
    estimator is trainable. Logs ``acc``: the share of images whose arg-max is one of their classes."""

    def __init__(self, model, restoration_weight: float = 0.0):
        super().__init__()
        if model.estimator is None:
            raise ValueError("the model has no estimator to train")
        self.model = model
        self.restoration_weight = float(restoration_weight)
        model.requires_grad_(False)
        model.estimator.requires_grad_(True)

    def forward(self, batch: dict[str, torch.Tensor]):
        x, target = batch["degraded"], batch["target"]
        logits = self.model.estimator(x).float()
        if self.model.estimator.cfg.activation == "softmax":
            cls = -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
        else:
            cls = F.binary_cross_entropy_with_logits(logits, target)
        hit = target.gather(1, logits.argmax(dim=1, keepdim=True)).squeeze(1) > 0
        parts = {"cls": cls.detach(), "acc": hit.float().mean()}
        loss = cls
        if self.restoration_weight > 0:
            weights = self.model.estimator.probabilities(logits)
            with self.model.set_blend(weights):
                restored = self.model.backbone(x)
            l1 = F.l1_loss(restored.float(), batch["clean"])
            loss = loss + self.restoration_weight * l1
            parts["l1"] = l1.detach()
        return loss, parts


# -- helpers ---------------------------------------------------------------------------------------
def _seeded(recipe: dict, *parts) -> None:
    torch.manual_seed(seed_from_string("abair-train-init", recipe.get("seed", 0), *parts))


def _save_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def _adapter_file(out: Path, name: str) -> Path:
    """Phase II's output for adapter ``name``: ``<out>/phase2/<name>/adapter.safetensors``."""
    return out / "phase2" / name / "adapter.safetensors"


def check_phases_start(recipe: dict, out: str | Path, action: str, resume: bool) -> None:
    """Refuse (UserError) a start without ``resume`` of ``action`` (``phase1``, ``phase2``, ``phase3``
    or ``all``) into ``out`` where a phase it trains already has its output or a training state: the
    refusals the phases give, here before the command writes anything into ``out``."""
    if resume:
        return
    out = Path(out)
    steps = {"phase1": [(out / BACKBONE_FILE, out / "phase1")],
             "phase2": [(_adapter_file(out, name), out / "phase2" / name) for name in recipe["model"]["adapters"]],
             "phase3": [(out / MODEL_FILE, out / "phase3")]}
    for phase in steps if action == "all" else [action]:
        for final, workdir in steps[phase]:
            _check_fresh(final, False)
            check_start(workdir, False)


def _check_fresh(path: Path, resume: bool) -> bool:
    """True when ``path`` (a phase's final output) exists and the phase can be skipped."""
    if path.exists():
        if resume:
            return True
        raise UserError(f"'{path}' already exists; resume this run or choose another output directory")
    return False


def _adapter_spec(recipe: dict, name: str):
    from abair.model.adapters import AdapterSpec

    m = recipe["model"]
    return AdapterSpec(name=name, type=m.get("adapter_type", "lora"), rank=int(m.get("rank", 4)))


def _summary(result: dict[str, Any], started: float) -> dict[str, Any]:
    return {"steps": result["steps"], "train_seconds": round(result["seconds"], 1),
            "wall_seconds": round(time.time() - started, 1), "last": result["last"], "data": result.get("data", {})}


def _stream(recipe: dict) -> dict[str, Any]:
    """The data classes' stream settings from the recipe's ``data`` block."""
    data = recipe.get("data", {})
    return {"stream": data.get("stream", "sample"), "skip_bad": bool(data.get("skip_bad", False))}


# -- Phase I -----------------------------------------------------------------------------------------
def run_phase1(recipe: dict, out: str | Path, resume: bool = False, device: str | None = None,
               data: TrainData | None = None, progress: bool = True) -> Path:
    """Pre-train backbone + segmentation head; returns ``<out>/phase1/backbone.safetensors``."""
    from abair.model import build
    from abair.model.checkpoint import save

    out = Path(out)
    final = out / BACKBONE_FILE
    if _check_fresh(final, resume):
        return final
    device = device or default_device()
    info = init_distributed(device)
    block = recipe["phase1"]
    _seeded(recipe, "phase1")
    model = build(recipe["model"]["preset"], adapters=0, seghead=True)
    objective = Phase1Objective(model, block.get("seg_weight", 0.1), block.get("aux_seg", True),
                                block.get("loss", "l1"))
    inputs = data or TrainData()
    batches = Phase1Data(block.get("crop", 64), block.get("degradations", recipe["model"]["adapters"]),
                         block.get("data", "cutmix"), recipe.get("seed", 0), pool=inputs.clean,
                         pairs=inputs.pairs(), **_stream(recipe))
    started = time.time()
    result = train(objective, batches, LoopConfig.from_recipe(recipe, "phase1", progress), out / "phase1",
                   resume=resume, device=device, name="phase1")
    if info.main:
        model.to("cpu")
        save(model, final, include_seghead=True, extra={"phase": "phase1", "recipe": recipe["name"]})
        _save_json(out / "phase1" / "summary.json", _summary(result, started))
    barrier(info)
    return final


# -- Phase II ----------------------------------------------------------------------------------------
def train_adapter(model, name: str, recipe: dict, workdir: str | Path, resume: bool = False,
                  device: str | None = None, data: TrainData | None = None, progress: bool = True) -> dict:
    """Add adapter ``name`` to ``model`` (seeded init) and train it alone, everything else frozen.

    The recipe's ``phase2`` settings apply, overridden by ``phase2.per_adapter.<name>`` when present
    (steps, crop, lr, ..., ``loss``, ``rank``, and ``params``: fixed degradation parameters of the data).

    Returns the loop's summary. The model's other tensors are never changed.
    """
    if name in model.adapter_specs:
        raise UserError(f"the model already has an adapter '{name}'; its adapters: {', '.join(model.adapter_names)}")
    from .recipes import adapter_recipe

    device = device or default_device()
    recipe = adapter_recipe(recipe, name)  # phase2 with this adapter's own settings (phase2.per_adapter)
    block = recipe["phase2"]
    _seeded(recipe, "adapter", name)
    model.add_adapter(_adapter_spec(recipe, name))
    objective = AdapterObjective(model, name, block.get("loss", "l1"))
    pool, pairs = (data or TrainData()).adapter_inputs(name)
    batches = SingleData(block.get("crop", 64), name, recipe.get("seed", 0), pool=pool, pairs=pairs,
                         params=block["params"], soft_clean=block.get("soft_clean", 0.0),
                         soft_radius=block.get("soft_radius", DEFAULT_SOFT_RADIUS), **_stream(recipe))
    return train(objective, batches, LoopConfig.from_recipe(recipe, "phase2", progress), workdir,
                 resume=resume, device=device, name=f"phase2:{name}")


def run_phase2(recipe: dict, out: str | Path, backbone: str | Path | None = None, resume: bool = False,
               device: str | None = None, data: TrainData | None = None,
               progress: bool = True, jobs: int = 1) -> dict[str, Path]:
    """Train one adapter per ``model.adapters`` on the frozen Phase-I backbone, each independently.

    ``jobs`` > 1 (CPU, not under torchrun): train that many adapters at a time, each in its own
    process (the recipe's ``threads`` each), the longest (most ``steps``) first; since every adapter
    starts from the backbone file with its own seeds, the files are the same as with ``jobs=1``.
    Returns ``{name: <out>/phase2/<name>/adapter.safetensors}``.
    """
    from abair.model.checkpoint import load

    out = Path(out)
    backbone = Path(backbone) if backbone else out / BACKBONE_FILE
    if not backbone.is_file():
        raise UserError(f"Phase II needs the Phase-I backbone '{backbone}'; train Phase I "
                        "into the same output directory first, or give the backbone file")
    check_count(jobs, "the number of adapters trained at a time")  # 1 .. the usable cores
    device = device or default_device()
    present = load(backbone).adapter_names
    if present:
        raise UserError(f"'{backbone}' already has adapters ({', '.join(present)}); "
                        "Phase II starts from a Phase-I backbone")
    info = init_distributed(device)
    files = {name: _adapter_file(out, name) for name in recipe["model"]["adapters"]}
    todo = [name for name, final in files.items() if not _check_fresh(final, resume)]
    tasks = [(recipe, name, out, backbone, resume, device, data, progress) for name in todo]
    if jobs > 1 and info.world == 1 and len(tasks) > 1:
        if torch.device(device).type != "cpu":
            raise UserError("adapters trained in parallel run as CPU processes; on a GPU train one at a time")
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        from .recipes import adapter_recipe

        tasks.sort(key=lambda t: -adapter_recipe(recipe, t[1])["phase2"]["steps"])  # longest first
        tasks = [(*t[:-1], False) for t in tasks]  # interleaved progress bars would be unreadable
        with ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=get_context("spawn"),
                                 initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
            try:
                for _ in pool.map(_train_one_adapter, tasks):
                    pass
            except BaseException:  # Ctrl-C, or one adapter failed: the others stop too
                stop_pool(pool)
                raise
        return files
    for task in tasks:
        _train_one_adapter(task)
        barrier(info)
    return files


def _train_one_adapter(task: tuple) -> None:
    """Phase II for one adapter: the backbone from its file, the adapter trained and saved (rank 0)."""
    from abair.model.checkpoint import load, save_adapter

    recipe, name, out, backbone, resume, device, data, progress = task
    final = _adapter_file(out, name)
    model = load(backbone)
    started = time.time()
    result = train_adapter(model, name, recipe, out / "phase2" / name, resume, device, data, progress)
    if init_distributed(device).main:
        model.to("cpu")
        save_adapter(model, name, final, extra={"phase": "phase2", "recipe": recipe["name"]})
        _save_json(final.parent / "summary.json", _summary(result, started))


# -- Phase III ---------------------------------------------------------------------------------------
def run_phase3(model, recipe: dict, workdir: str | Path, resume: bool = False, device: str | None = None,
               activation: str | None = None, progress: bool = True, data: TrainData | None = None) -> dict:
    """Replace the estimator by a fresh one over the model's adapters and train it alone (in place).

    ``activation``: ``softmax``/``sigmoid``; default: the model's current estimator setting. The
    recipe's ``model.estimator`` (``input_size``, ``widths``, ``depth``), when given, replaces the
    preset's estimator size; the new configuration is stored in the model (and its checkpoint).
    """
    from abair.model.estimator import EstimatorConfig

    device = device or default_device()
    block = recipe["phase3"]
    cfg = model.config.estimator or EstimatorConfig()
    if activation is not None and activation != cfg.activation:
        cfg = dataclasses.replace(cfg, activation=activation)
    sizes = {k: tuple(v) if isinstance(v, list) else v for k, v in recipe["model"].get("estimator", {}).items()}
    if sizes:
        cfg = dataclasses.replace(cfg, **sizes)
    # the native-scale window it trains on is the one it is shown at test time (abair/model/estimator.py)
    cfg = dataclasses.replace(cfg, window=int(block.get("crop", 128)))
    if not model.adapter_names:
        raise UserError("Phase III needs a model with adapters (run Phase II first)")
    _seeded(recipe, "estimator", *model.adapter_names)
    model.reset_estimator(cfg)
    objective = EstimatorObjective(model, block.get("restoration_weight", 0.0))
    inputs = data or TrainData()
    batches = EstimatorData(block.get("crop", 128), model.adapter_names, block.get("mixed_fraction", 0.25),
                            cfg.activation, recipe.get("seed", 0), pool=inputs.clean, **_stream(recipe),
                            real=inputs.tasks, real_fraction=block.get("real_fraction", 0.0))
    return train(objective, batches, LoopConfig.from_recipe(recipe, "phase3", progress), workdir,
                 resume=resume, device=device, name="phase3")


def assemble(recipe: dict, out: str | Path, backbone: str | Path | None = None):
    """The Phase-I backbone with every Phase-II adapter of ``out`` loaded (checked by fingerprint)."""
    from abair.model.checkpoint import load, load_adapter

    out = Path(out)
    backbone = Path(backbone) if backbone else out / BACKBONE_FILE
    if not backbone.is_file():
        raise UserError(f"Phase III needs the Phase-I backbone '{backbone}'; run phase1 and phase2 first")
    model = load(backbone)
    for name in recipe["model"]["adapters"]:
        path = _adapter_file(out, name)
        if not path.is_file():
            raise UserError(f"Phase III needs adapter '{path}'; train Phase II into the same output directory first")
        load_adapter(model, path)
    return model


def finish_phase3(recipe: dict, out: str | Path, backbone: str | Path | None = None, resume: bool = False,
                  device: str | None = None, progress: bool = True, meta: dict | None = None,
                  data: TrainData | None = None) -> Path:
    """Assemble backbone + adapters, train the estimator, write ``<out>/model.safetensors`` (+ .json)."""

    out = Path(out)
    final = out / MODEL_FILE
    if _check_fresh(final, resume):
        return final
    device = device or default_device()
    info = init_distributed(device)
    model = assemble(recipe, out, backbone)
    started = time.time()
    result = run_phase3(model, recipe, out / "phase3", resume, device,
                        recipe["model"].get("estimator_activation", "softmax"), progress, data)
    if info.main:
        model.to("cpu")
        _save_json(out / "phase3" / "summary.json", _summary(result, started))
        write_model(model, final, recipe, out, meta)
    barrier(info)
    return final


def write_model(model, path: str | Path, recipe: dict, out: str | Path | None = None,
                meta: dict | None = None) -> Path:
    """Save the model (no segmentation head) and a JSON sidecar with the recipe and phase summaries."""
    from abair.model.checkpoint import save

    path = Path(path)
    summaries = {}
    if out is not None:
        for p in sorted(Path(out).glob("**/summary.json")):
            summaries[str(p.parent.relative_to(out))] = json.loads(p.read_text())
    extra = {"recipe": recipe["name"], **(meta or {})}
    save(model, path, extra=extra)
    _save_json(path.with_suffix(".json"), {"checkpoint": path.name, "recipe": recipe, "phases": summaries,
                                            "adapters": list(model.adapter_names), **(meta or {})})
    return path


def run_all(recipe: dict, out: str | Path, resume: bool = False, device: str | None = None,
            progress: bool = True, meta: dict | None = None, jobs: int = 1, data: TrainData | None = None) -> Path:
    """Phase I, II (``jobs`` adapters at a time) and III in sequence; returns ``<out>/model.safetensors``."""
    run_phase1(recipe, out, resume, device, data=data, progress=progress)
    run_phase2(recipe, out, resume=resume, device=device, data=data, progress=progress, jobs=jobs)
    return finish_phase3(recipe, out, resume=resume, device=device, progress=progress, meta=meta, data=data)


# -- adding a degradation ------------------------------------------------------------------------------
def add_adapter(checkpoint: str | Path, name: str, recipe: dict, out: str | Path, workdir: str | Path,
                resume: bool = False, device: str | None = None, data: TrainData | None = None,
                progress: bool = True, meta: dict | None = None, replace: bool = False) -> Path:
    """Load a model, add and train adapter ``name`` (everything else frozen), save it to ``out``.

    The estimator is kept as it was (it still scores the old adapters; ``sw``/``oh`` ask for a
    retrain until :func:`retrain_estimator` runs).

    ``replace``: retrain an adapter the model already has. The old one is dropped, the new one is
    trained exactly as Phase II would train it (same seed, data and settings) and takes the old
    one's place in the adapter order, so the estimator keeps scoring it: Phase III trains the
    estimator on classification alone and never runs the adapters (with ``restoration_weight`` > 0
    it did, and retraining it is advised).
    """
    from abair.model.checkpoint import load

    device = device or default_device()
    info = init_distributed(device)
    model = load(checkpoint)
    order = list(model.adapter_names)
    if replace:
        if name not in model.adapter_specs:
            raise UserError(f"cannot replace adapter '{name}': '{checkpoint}' has none; its adapters: "
                            f"{', '.join(order) or 'none'}")
        model.remove_adapter(name)
    started = time.time()
    result = train_adapter(model, name, recipe, workdir, resume, device, data, progress)
    if replace:
        model.order_adapters(order)
    if info.main:
        model.to("cpu")
        _save_json(Path(workdir) / "summary.json", _summary(result, started))
        write_model(model, out, recipe, workdir, {"base_checkpoint": str(checkpoint),
                                                  ("replaced" if replace else "added"): name, **(meta or {})})
    barrier(info)
    return Path(out)


def retrain_estimator(checkpoint: str | Path, recipe: dict, out: str | Path, workdir: str | Path,
                      resume: bool = False, device: str | None = None, progress: bool = True,
                      meta: dict | None = None, data: TrainData | None = None) -> Path:
    """Load a model and train a fresh estimator over all its adapters (Phase III); save it to ``out``."""
    from abair.model.checkpoint import load

    device = device or default_device()
    info = init_distributed(device)
    model = load(checkpoint)
    started = time.time()
    result = run_phase3(model, recipe, workdir, resume, device, progress=progress, data=data)
    if info.main:
        model.to("cpu")
        _save_json(Path(workdir) / "summary.json", _summary(result, started))
        write_model(model, out, recipe, workdir, {"base_checkpoint": str(checkpoint), **(meta or {})})
    barrier(info)
    return Path(out)
