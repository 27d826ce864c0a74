"""``abair-bench train``: the three ABAIR training phases, adding an adapter, retraining the estimator.

::

    abair-bench train phase1|phase2|phase3|all --recipe tiny --out DIR [--resume] [--set KEY=VALUE ...]
    abair-bench train adapter --name jpeg --checkpoint IN --out OUT [--recipe R] [--replace]
    abair-bench train estimator --checkpoint IN --out OUT [--recipe R]
    abair-bench train bench-data --phase 1 --crop 128 --batch 32 --workers 2 [--synthesis device]

Multi-process (DDP): ``torchrun --nproc_per_node N -m bench.cli train ...``. The training code lives in
:mod:`abair.train`; this module parses arguments and finds the training data a recipe names with
the benchmark's dataset loaders. Nothing heavy is imported at module level.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from pathlib import Path

PHASE_ACTIONS = ("phase1", "phase2", "phase3", "all")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train ABAIR: phase1|phase2|phase3|all from a recipe, add an adapter, retrain the estimator",
        description="Train ABAIR (see docs/TRAINING.md). Phases write into --out; an interrupted run "
        "continues exactly with --resume. Run under torchrun for DDP.",
    )
    actions = parser.add_subparsers(dest="train_action", metavar="ACTION", required=True)
    helps = {
        "phase1": "Phase I: backbone + segmentation head on CutMix degradations -> DIR/phase1/backbone.safetensors",
        "phase2": "Phase II: one adapter per degradation on the frozen backbone -> DIR/phase2/NAME/adapter.safetensors",
        "phase3": "Phase III: the estimator over the Phase-II adapters -> DIR/model.safetensors",
        "all": "Phases I, II and III in sequence -> DIR/model.safetensors",
    }
    for action in PHASE_ACTIONS:
        p = actions.add_parser(action, help=helps[action], description=helps[action])
        _common(p)
        p.add_argument("--out", required=True, help="run directory (created)")
        if action in ("phase2", "phase3"):
            p.add_argument("--checkpoint", help="the Phase-I backbone file (default DIR/phase1/backbone.safetensors)")
        if action in ("phase2", "all"):
            p.add_argument("--jobs", type=int, default=1,
                           help="Phase II: train this many adapters at a time in parallel CPU processes, the "
                           "longest first (the same files as one at a time; e.g. 2 with the tiny recipe's one "
                           "thread per job on 2 cores)")
        p.set_defaults(func=_with_hints(phase_command))
    adapter = actions.add_parser(
        "adapter", help="add one adapter to a trained model and train it alone (others untouched)",
        description="Add adapter NAME to the model in --checkpoint, train it with everything else frozen "
        "(Phase II settings of the recipe) and write the model with the new adapter to --out. "
        "Then retrain the estimator ('abair-bench train estimator').")
    adapter.add_argument("--name", required=True, help="degradation of the new adapter (e.g. jpeg, bitdepth, snow)")
    adapter.add_argument("--checkpoint", required=True, help="the trained model to extend")
    adapter.add_argument("--out", required=True, help="output model file (.safetensors) or directory")
    adapter.add_argument("--replace", action="store_true",
                         help="retrain an adapter the model already has: the new one takes its place and the "
                         "estimator keeps scoring it (no estimator retrain needed)")
    _common(adapter, default_recipe=None)
    adapter.set_defaults(func=_with_hints(adapter_command))
    est = actions.add_parser(
        "estimator", help="retrain the estimator over every adapter of a model (Phase III)",
        description="Replace the estimator of --checkpoint by a fresh one over all its adapters, train it "
        "(Phase III settings of the recipe) and write the model to --out.")
    est.add_argument("--checkpoint", required=True, help="the model whose estimator is retrained")
    est.add_argument("--out", required=True, help="output model file (.safetensors) or directory")
    _common(est, default_recipe=None)
    est.set_defaults(func=_with_hints(estimator_command))
    bench = actions.add_parser(
        "bench-data", help="measure the data pipeline and the optimiser step of a phase: which one bounds training",
        description="Measure, one after the other in this process, the phase's batches through the training "
        "data pipeline (workers, pinned memory, synthesis) and the phase's optimiser step on one fixed batch, "
        "both in samples/s, and say which one bounds training. Nothing is written.")
    bench.add_argument("--phase", required=True, choices=("1", "2", "3"), help="the training phase")
    bench.add_argument("--crop", type=int, help="crop size in px (default: the recipe's for that phase)")
    bench.add_argument("--batch", type=int, help="global batch (default: the recipe's for that phase)")
    bench.add_argument("--steps", type=int, default=10, help="measured steps of each (after 2 warm-up steps)")
    bench.add_argument("--adapter", help="Phase II: the adapter whose data is measured (default: the recipe's first)")
    bench.add_argument("--no-step", action="store_true", help="measure the pipeline only")
    bench.add_argument("--per-degradation", action="store_true",
                       help="also time the synthesis of one sample with each degradation operator")
    bench.add_argument("--json", action="store_true", help="print the result as one JSON object")
    _common(bench)
    bench.set_defaults(func=_with_hints(bench_data_command))


#: the command-line way to do what a training error message asks for (the library names no flags)
_HINTS = (
    ("resume this run", "--resume continues it; another --out starts afresh"),
    ("resume it or choose another output directory", "--resume continues it; another --out starts afresh"),
    ("train into a new output directory", "--out chooses the directory"),
    ("give the backbone file", "--checkpoint gives the backbone file"),
    ("train Phase I into the same output directory", "abair-bench train phase1 --out DIR"),
    ("train Phase II into the same output directory", "abair-bench train phase2 --out DIR"),
    ("adapters trained at a time", "--jobs"),
    ("adapters trained in parallel", "drop --jobs"),
    ("recipe override", "--set KEY=VALUE"),
    ("recipe key '", "--set KEY=VALUE"),
    ("allow the data change", "--allow-data-change goes on with the changed data"),
)


def _with_hints(command):
    """``command`` with the command-line hint of :data:`_HINTS` appended to a library error."""
    import functools

    @functools.wraps(command)
    def run(args):
        from abair.errors import UserError

        try:
            return command(args)
        except UserError as exc:
            text = str(exc)
            hints = [hint for key, hint in _HINTS if key in text]
            if not hints:
                raise
            raise UserError(f"{text} ({'; '.join(dict.fromkeys(hints))})") from None

    return run


def _common(p: argparse.ArgumentParser, default_recipe: str | None = "tiny") -> None:
    p.add_argument("--recipe", default=default_recipe,
                   help="tiny, small, paper or a YAML file" + (f" (default {default_recipe})" if default_recipe
                                                                else " (default: the checkpoint's preset)"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a recipe value at any depth, e.g. phase1.steps=100 or "
                   "phase2.per_adapter.blur.steps=5 (repeatable); a phase2 value reaches every adapter, "
                   "replacing the recipe file's per_adapter entries for that key")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in the same --out")
    p.add_argument("--allow-data-change", action="store_true",
                   help="with --resume: go on although the training data's files changed since the run started "
                   "(their fingerprint is in DIR/data.json)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda:LOCAL_RANK if available, else cpu)")
    data_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def data_options(p: argparse.ArgumentParser) -> None:
    """The options that say where training images come from and how batches are made."""
    p.add_argument("--clean-data", action="append", default=[], metavar="SET",
                   help="clean images for Phase I, synthetic Phase II and Phase III: a registered training set "
                   "(e.g. div2k-train), a folder (searched recursively), a text file listing image paths, or "
                   "hf:<dir>; repeatable; replaces the recipe's data.clean (default: the embedded train pool)")
    p.add_argument("--train-data", action="append", default=[], metavar="DEGRADATION=SET",
                   help="that degradation's training set: a registered training set (e.g. rain=rain100l-train), "
                   "clean images to synthesise it on (noise=bsd400,wed), hf:<dir> pairs, or a test set; "
                   "repeatable; replaces the recipe's data.train entry")
    p.add_argument("--data-root", help="folder holding the datasets (default $ABAIR_DATA)")
    p.add_argument("--dataset-path", action="append", metavar="NAME=PATH",
                   help="read the training set NAME from PATH instead of searching the data root (repeatable)")
    p.add_argument("--allow-partial", action="store_true",
                   help="train on the complete pairs of a training set with missing files (named in the log)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="data loader processes per training process, 0 to the usable CPU cores (default: from "
                   "the CPU count; 0: load in the training process); batches are the same whatever N")
    p.add_argument("--synthesis", choices=("auto", "workers", "device"),
                   help="where degradations are made: in the loader workers, or batched on the training device "
                   "(default auto: the device on CUDA, the workers on the CPU)")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip unreadable training images (counted in the log) instead of stopping at the first")


def _command_line() -> str:
    return "abair-bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _with_data_args(recipe: dict, args) -> dict:
    """The recipe with the command line's data options written into its ``data`` block (re-checked)."""
    from abair.children import check_count
    from abair.degradations import DEGRADATIONS
    from abair.errors import UserError, unknown_name
    from abair.train.recipes import validate

    data = recipe.setdefault("data", {})
    if getattr(args, "workers", None) is not None:
        check_count(args.workers, "--workers", low=0)
    if getattr(args, "clean_data", None):
        data["clean"] = list(args.clean_data)
    for item in getattr(args, "train_data", None) or []:
        if "=" not in item:
            raise UserError(f"--train-data expects DEGRADATION=SET, got '{item}'")
        name, sets = item.split("=", 1)
        if name not in DEGRADATIONS:
            raise unknown_name("degradation in --train-data", name, DEGRADATIONS)
        parts = [s for s in sets.split(",") if s]
        if not parts:
            raise UserError(f"--train-data {name}= names no training set")
        data.setdefault("train", {})[name] = parts if len(parts) > 1 else parts[0]
    for key in ("workers", "synthesis"):
        if getattr(args, key, None) is not None:
            data[key] = getattr(args, key)
    if getattr(args, "skip_bad", False):
        data["skip_bad"] = True
    if getattr(args, "synthesis", None) == "device" and data.get("stream") == "rank":
        raise UserError("--synthesis device needs the per-sample data stream; this recipe uses "
                        "data.stream 'rank' (set --set data.stream=sample)")
    validate(recipe, f"recipe '{recipe['name']}'")
    return recipe


def _train_data(recipe: dict, args, action: str, only: str | None = None):
    """The recipe's training data found on disk (every missing set named in one line); a
    ``--train-data`` that this action would not read is refused first."""
    from bench.datasets.train_inputs import train_data

    from .run import parse_dataset_paths

    _check_train_data_used(recipe, args, action, only)
    return train_data(recipe, action, args.data_root, parse_dataset_paths(args.dataset_path),
                      allow_partial=args.allow_partial, only=only)


def _train_data_users(recipe: dict, action: str, only: str | None) -> set[str] | None:
    """The degradations whose training set ``action`` reads (None: any, it depends on the checkpoint)."""
    model, p1 = recipe["model"], recipe["phase1"]
    real_p3 = recipe["phase3"].get("real_fraction", 0) > 0  # Phase III on real crops of the task sets
    used: set[str] = set()
    if action in ("phase1", "all") and p1.get("data") == "task-only":
        used |= set(p1.get("degradations", model["adapters"]))
    if action in ("phase2", "all") or (action == "phase3" and real_p3):
        used |= set(model["adapters"])
    if action == "adapter":
        used.add(only)
    if action == "estimator" and real_p3:
        return None
    return used


def _check_train_data_used(recipe: dict, args, action: str, only: str | None) -> None:
    """One line for a ``--train-data DEGRADATION=SET`` that ``action`` would silently ignore."""
    from abair.errors import UserError

    used = _train_data_users(recipe, action, only)
    for item in getattr(args, "train_data", None) or []:
        name = item.split("=", 1)[0]
        if used is not None and name not in used:
            reads = ", ".join(sorted(used)) if used else "none"
            raise UserError(f"--train-data {item}: this training reads no training set for '{name}' (it reads "
                            f"those of: {reads}); drop it")


#: recipe keys that change how fast training runs, never what it computes (free to change on resume)
_SPEED_ONLY = ("workers", "prefetch")
#: memory settings, free to change on resume like the number of processes: they change float
#: rounding, never the data (``accumulate`` per phase and per adapter, ``checkpointing``)
_MEMORY_ONLY = ("accumulate",)


def _same_recipe(a: dict, b: dict) -> bool:
    import copy

    a, b = copy.deepcopy(a), copy.deepcopy(b)
    for r in (a, b):
        for key in _SPEED_ONLY:
            r.get("data", {}).pop(key, None)
        r.pop("checkpointing", None)
        blocks = [r.get(p, {}) for p in ("phase1", "phase2", "phase3")]
        blocks += list(r.get("phase2", {}).get("per_adapter", {}).values())
        for block in blocks:
            for key in _MEMORY_ONLY:
                block.pop(key, None)
    return a == b


def _check_recipe(out: Path, recipe: dict, resume: bool) -> None:
    """Refuse (UserError) a resume of ``out`` with another recipe than its ``recipe.yaml``."""
    import yaml

    from abair.errors import UserError

    saved = out / "recipe.yaml"
    if saved.is_file() and resume:
        previous = yaml.safe_load(saved.read_text())
        if not _same_recipe(previous, recipe):
            raise UserError(f"'{saved}' holds another recipe than this one; resume with the same --recipe and "
                            "--set values, or choose another --out")


def _save_run_info(out: Path, recipe: dict, resume: bool) -> None:
    import yaml

    _check_recipe(out, recipe, resume)
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "recipe.yaml"
    saved.write_text(yaml.safe_dump(recipe, sort_keys=False))
    with open(out / "command.txt", "a") as f:
        f.write(_command_line() + "\n")


@contextlib.contextmanager
def _writing(folder: Path, data, args, refuse=None):
    """Hold ``folder``'s training lock (the main process), run ``refuse()`` (the start's other
    refusals, so that a refused start writes nothing there), then check and record the training
    data's fingerprint there (:mod:`abair.train.fingerprint`); yields whether this is the main process."""
    from abair.filelock import training_lock
    from abair.train.fingerprint import check_data
    from abair.train.loop import default_device, init_distributed

    main = init_distributed(args.device or default_device()).main
    with training_lock(folder, main=main):
        if refuse is not None:
            refuse()
        if main:
            check_data(folder, data, args.resume, args.allow_data_change)
        yield main


def phase_command(args) -> int:
    from abair.children import check_count
    from abair.train import phases
    from abair.train.recipes import load_recipe

    recipe = _with_data_args(load_recipe(args.recipe, args.overrides), args)
    out = Path(args.out)
    if args.train_action in ("phase2", "all"):
        check_count(args.jobs, "--jobs")  # before Phase I of 'all' runs for hours
    data = _train_data(recipe, args, args.train_action)

    def refuse():
        phases.check_phases_start(recipe, out, args.train_action, args.resume)
        _check_recipe(out, recipe, args.resume)

    with _writing(out, data, args, refuse) as main:
        if main:
            _save_run_info(out, recipe, args.resume)
        progress = not args.no_progress
        meta = {"command": _command_line()}
        common = {"resume": args.resume, "device": args.device, "progress": progress}
        action = args.train_action
        if action == "phase1":
            result = phases.run_phase1(recipe, out, data=data, **common)
        elif action == "phase2":
            result = phases.run_phase2(recipe, out, backbone=args.checkpoint, data=data, jobs=args.jobs, **common)
        elif action == "phase3":
            result = phases.finish_phase3(recipe, out, backbone=args.checkpoint, meta=meta, data=data, **common)
        else:
            result = phases.run_all(recipe, out, meta=meta, jobs=args.jobs, data=data, **common)
    if main:
        shown = ", ".join(str(p) for p in result.values()) if isinstance(result, dict) else str(result)
        print(f"{action}: wrote {shown}")
    return 0


def _outputs(out: str, suffix: str) -> tuple[Path, Path]:
    """``--out`` as (model file, work directory for logs and training state)."""
    path = Path(out)
    if path.suffix == ".safetensors":
        return path, path.with_name(path.stem + f".{suffix}")
    return path / "model.safetensors", path


def _recipe_for(args) -> dict:
    from abair.model.checkpoint import read_config
    from abair.train.recipes import SHIPPED, load_recipe

    name = args.recipe
    if name is None:
        preset = read_config(args.checkpoint).get("model", {}).get("preset")
        name = preset if preset in SHIPPED else "tiny"
    return _with_data_args(load_recipe(name, args.overrides), args)


def _check_out(model_file: Path, resume: bool) -> None:
    from abair.errors import UserError

    if model_file.exists() and not resume:
        raise UserError(f"'{model_file}' already exists; choose another --out (or --resume an interrupted run)")


def _done(model_file: Path, resume: bool) -> bool:
    if resume and model_file.exists():
        print(f"{model_file} is complete; nothing to resume")
        return True
    return False


def adapter_command(args) -> int:
    from abair.train import phases
    from abair.train.loop import check_start

    recipe = _recipe_for(args)
    model_file, workdir = _outputs(args.out, f"train-{args.name}")
    _check_out(model_file, args.resume)
    if _done(model_file, args.resume):
        return 0
    data = _train_data(recipe, args, "adapter", only=args.name)
    with _writing(workdir, data, args, lambda: check_start(workdir, args.resume)):
        phases.add_adapter(args.checkpoint, args.name, recipe, model_file, workdir, resume=args.resume,
                           device=args.device, data=data, progress=not args.no_progress,
                           meta={"command": _command_line()}, replace=args.replace)
    if args.replace:
        print(f"adapter {args.name}: retrained in place, wrote {model_file}")
    else:
        print(f"adapter {args.name}: wrote {model_file} (retrain the estimator: abair-bench train estimator "
              f"--checkpoint {model_file} --out OUT)")
    return 0


def estimator_command(args) -> int:
    from abair.train import phases
    from abair.train.loop import check_start

    recipe = _recipe_for(args)
    model_file, workdir = _outputs(args.out, "train-estimator")
    _check_out(model_file, args.resume)
    if _done(model_file, args.resume):
        return 0
    data = _train_data(recipe, args, "estimator")
    with _writing(workdir, data, args, lambda: check_start(workdir, args.resume)):
        phases.retrain_estimator(args.checkpoint, recipe, model_file, workdir, resume=args.resume,
                                 device=args.device, progress=not args.no_progress,
                                 meta={"command": _command_line()}, data=data)
    print(f"estimator: wrote {model_file}")
    return 0


def bench_data_command(args) -> int:
    import json

    import torch

    from abair.children import usable_cores
    from abair.train.benchdata import advice, bench_data, rate
    from abair.train.loader import default_workers
    from abair.train.loop import default_device
    from abair.train.recipes import load_recipe

    recipe = _with_data_args(load_recipe(args.recipe, args.overrides), args)
    phase = f"phase{args.phase}"
    data = _train_data(recipe, args, phase if phase != "phase2" else "adapter",
                       only=args.adapter or recipe["model"]["adapters"][0])
    block = recipe.get("data", {})
    workers = block.get("workers", default_workers())
    device = torch.device(args.device or default_device())
    result = bench_data(recipe, args.phase, args.crop, args.batch, workers, block.get("synthesis", "auto"),
                        device, args.steps, adapter=args.adapter, data=data, step=not args.no_step,
                        per_degradation=args.per_degradation)
    cores = usable_cores()
    if args.json:
        print(json.dumps({**result.as_dict(), "advice": advice(result, cores), "cores": cores,
                          "threads": torch.get_num_threads()}))
        return 0
    print(f"{phase} ({recipe['name']} recipe), crop {result.crop}, batch {result.batch}, {result.workers} workers, "
          f"synthesis on {'the device' if result.synthesis == 'device' else 'the workers'}, device {result.device}, "
          f"{cores} cores")
    print(f"  pipeline alone: {rate(result.pipeline_samples_s):>9} samples/s")
    if result.step_samples_s is not None:
        print(f"  step alone:     {rate(result.step_samples_s):>9} samples/s")
    for name, ms in result.per_degradation_ms.items():
        print(f"  synthesis of one {result.crop}x{result.crop} sample, {name:<9} {ms:8.2f} ms")
    print(f"  {advice(result, cores)}")
    return 0
