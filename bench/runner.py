"""The runner: methods x datasets x protocols -> one record per (image, protocol, metric).

Per image: load the 8-bit pair, apply each protocol's input crop (protocols sharing a crop share
one restoration), pad to the method's multiple, restore (timed), crop back, clip to [0, 1], score.
Records are appended as each image finishes; a rerun skips what is done. Under ``torchrun`` each
rank takes a disjoint slice of every dataset's images and writes its own shard; rank 0 merges.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from abair.errors import UserError

from .store import RunStore

TORCH_SEED = 0


@dataclass
class RunSpec:
    """Everything ``abair-bench run`` was asked to do."""

    out: str
    methods: list[str]
    datasets: list[str]
    protocols: list[str] | None = None  # None: each dataset's default protocol
    method_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkpoint: str | None = None  # shortcut for every method that takes a checkpoint
    dataset_options: Any = None
    limit: int | None = None
    device: str = "cpu"
    save_images: bool = False
    tile: int | None = None
    tile_overlap: int = 32
    tile_blend: str = "linear"
    progress: bool = True
    command: str = field(default_factory=lambda: shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]))


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1

    @property
    def active(self) -> bool:
        return self.world > 1


def _init_distributed() -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return _Dist(dist.get_rank(), dist.get_world_size())


def _barrier(d: _Dist) -> None:
    if d.active:
        import torch.distributed as dist

        dist.barrier()


def _check_device(device: str) -> None:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device} asked for, but torch sees no CUDA device; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda")):
        raise UserError(f"unknown device '{device}'; use cpu, cuda or cuda:N")


def _make_methods(spec: RunSpec) -> dict[str, Any]:
    import inspect

    from .methods import create_method

    methods = {}
    for name in spec.methods:
        options = dict(spec.method_args.get(name, {}))
        if spec.checkpoint and "checkpoint" not in options:
            from .methods import factory_accepts

            if factory_accepts(name, "checkpoint"):
                options["checkpoint"] = spec.checkpoint
        method = create_method(name, **options)
        if inspect.ismethod(getattr(method, "to", None)):
            method = method.to(spec.device) or method
        methods[method.name] = method
    return methods


def _protocols_for(dataset, spec: RunSpec):
    from .protocols import get_protocol

    return [get_protocol(p) for p in (spec.protocols or [dataset.default_protocol])]


def _environment(spec: RunSpec) -> dict:
    from .environment import device_info, git_state, package_versions

    return {"git": git_state(), "versions": package_versions(), "device": device_info(spec.device)}


def _start_manifest(store: RunStore, spec: RunSpec, methods, datasets, dist: _Dist) -> dict:
    """Create or extend the manifest; refuse to mix different method configs in one run directory."""
    manifest = store.read_manifest() or {
        "format": "abair-bench-run/1",
        "run_id": uuid.uuid4().hex[:12],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "methods": {},
        "datasets": {},
        "protocols": {},
        "invocations": [],
    }
    for name, method in methods.items():
        config = method.config()
        old = manifest["methods"].get(name)
        if old is not None and old != _jsonable(config):
            raise UserError(
                f"{store.root} already holds method '{name}' with another config ({old} != {config}); "
                "use a new --out directory"
            )
        manifest["methods"][name] = config
    for name, dataset in datasets.items():
        info = dataset.describe()
        old = manifest["datasets"].get(name)
        if old is not None and old.get("sha256") != info.get("sha256"):
            raise UserError(
                f"{store.root} was made with different '{name}' data (hash {old.get('sha256', '?')[:12]} != "
                f"{info.get('sha256', '?')[:12]}); use a new --out directory"
            )
        manifest["datasets"][name] = info
        for protocol in _protocols_for(dataset, spec):
            manifest["protocols"][protocol.spec] = protocol.settings()
    manifest["invocations"].append(
        {
            "command": spec.command,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "finished": None,
            "world_size": dist.world,
            "seeds": {"torch_manual_seed": TORCH_SEED},
            "options": {
                "limit": spec.limit, "device": spec.device, "save_images": spec.save_images,
                "tile": spec.tile, "tile_overlap": spec.tile_overlap, "tile_blend": spec.tile_blend,
            },
            **_environment(spec),
        }
    )
    return manifest


def _jsonable(obj):
    import json

    return json.loads(json.dumps(obj, default=str))


def _restore(method, batch, context, spec: RunSpec):
    from .padding import restore_padded

    if spec.tile:
        from .tiling import restore_tiled

        return restore_tiled(method, batch, context, tile=spec.tile, overlap=spec.tile_overlap, blend=spec.tile_blend)
    return restore_padded(method, batch, context)


def _score_image(method, dataset, pair, protocols, spec: RunSpec, run_id: str, images_dir: Path | None):
    """Restore one pair once per distinct input crop and score it under each protocol; returns rows."""
    import torch

    from abair.imageops import tensor_to_float_array, tensor_to_uint8, uint8_to_tensor
    from baselines.base import RestoreContext

    context = RestoreContext(dataset.name, dataset.task, (pair.image_id,), tuple(dataset.degradations))
    by_crop: dict[int, list] = {}
    for protocol in protocols:
        by_crop.setdefault(protocol.input_crop_multiple, []).append(protocol)
    rows = []
    for group in by_crop.values():
        degraded, clean = group[0].prepare_pair(pair.degraded, pair.clean)
        x = uint8_to_tensor(degraded).unsqueeze(0).to(spec.device)
        if spec.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.inference_mode():
            y = _restore(method, x, context, spec)
        if spec.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        if not torch.isfinite(y).all():
            raise UserError(f"method '{method.name}' returned NaN or inf on {dataset.name}/{pair.image_id}")
        restored = tensor_to_float_array(y)
        if images_dir is not None:
            _save_png(images_dir / safe_name(method.name) / safe_name(dataset.name) / f"{pair.image_id}.png",
                      tensor_to_uint8(y))
        h, w = clean.shape[:2]
        for protocol in group:
            for metric, value in protocol.score(restored, clean).items():
                rows.append(
                    {
                        "run_id": run_id, "method": method.name, "dataset": dataset.name, "task": dataset.task,
                        "image_id": pair.image_id, "protocol": protocol.spec, "metric": metric,
                        "value": float(value), "seconds": seconds, "height": h, "width": w,
                    }
                )
    return rows


def safe_name(name: str) -> str:
    """A method or dataset name as one folder name (``hf:/data/x`` -> ``hf__data_x``)."""
    return "".join(c if c.isalnum() or c in "-+._" else "_" for c in name)


def _save_png(path: Path, image) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    Image.fromarray(image).save(tmp)
    os.replace(tmp, path)


def run(spec: RunSpec):
    """Execute ``spec``; returns the summary DataFrame (rank 0) or None (other ranks)."""
    import torch

    from .datasets import get_dataset

    _check_device(spec.device)
    dist = _init_distributed()
    torch.manual_seed(TORCH_SEED)
    methods = _make_methods(spec)
    datasets = {name: get_dataset(name, spec.dataset_options) for name in spec.datasets}
    protocols = {name: _protocols_for(ds, spec) for name, ds in datasets.items()}
    store = RunStore(spec.out, shard=dist.rank if dist.active else None)
    manifest = None
    if dist.rank == 0:
        manifest = _start_manifest(store, spec, methods, datasets, dist)
        store.write_manifest(manifest)
    _barrier(dist)
    run_id = (manifest or store.read_manifest())["run_id"]

    done = store.done_keys()
    work = []
    skipped = []
    for method in methods.values():
        for name, dataset in datasets.items():
            reason = method.skip_reason(dataset) if hasattr(method, "skip_reason") else None
            if reason:
                skipped.append({"method": method.name, "dataset": name, "reason": reason})
                if dist.rank == 0:
                    print(f"abair-bench: skipping {method.name} on {name}: {reason}", file=sys.stderr)
                continue
            all_ids = dataset.image_ids()
            check = getattr(method, "check", None)
            if callable(check):
                check(name, all_ids)  # the whole set, so --limit never makes the other files look "extra"
            ids = all_ids[: spec.limit] if spec.limit else all_ids
            specs = [p.spec for p in protocols[name]]
            for image_id in ids[dist.rank :: dist.world]:
                todo = [p for p, s in zip(protocols[name], specs, strict=True) if (method.name, name, image_id, s) not in done]
                if todo:
                    work.append((method, dataset, image_id, todo))

    images_dir = Path(spec.out) / "images" if spec.save_images else None
    from tqdm import tqdm

    bar = tqdm(
        total=len(work), desc=f"rank {dist.rank}" if dist.active else "run", unit="img",
        disable=not spec.progress, file=sys.stderr, position=dist.rank, leave=True,
    )
    for method, dataset, image_id, todo in work:
        bar.set_postfix_str(f"{method.name} {dataset.name}", refresh=False)
        pair = dataset.load(image_id)
        store.writer.append(_score_image(method, dataset, pair, todo, spec, run_id, images_dir))
        bar.update(1)
    bar.close()

    _barrier(dist)
    if dist.rank != 0:
        return None
    if dist.active:
        store.merge_shards()
    manifest["invocations"][-1]["skipped"] = skipped
    manifest["invocations"][-1]["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    store.write_manifest(manifest)
    return summarise(spec.out, methods=list(methods), datasets=spec.datasets)


def summarise(run_dir, methods=None, datasets=None):
    """Mean per method x dataset x protocol x metric (and image count) from a run's records."""
    from .store import load_records

    df = load_records(run_dir)
    if methods is not None:
        df = df[df["method"].isin(methods)]
    if datasets is not None:
        df = df[df["dataset"].isin(datasets)]
    summary = (
        df.groupby(["method", "dataset", "protocol", "metric"], sort=False)["value"]
        .agg(mean="mean", n="count")
        .reset_index()
    )
    return summary
