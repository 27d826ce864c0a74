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
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from abair.distributed import DistInfo, barrier, init_distributed
from abair.errors import UserError

from .local_jobs import program_name
from .run_manifest import record_configs, start_manifest
from .store import IMAGES, SHARDS, RunStore

TORCH_SEED = 0


@dataclass
class RunSpec:
    """Everything ``abair-bench run`` was asked to do."""

    out: str
    methods: list[str]
    datasets: list[str]  # names, or Dataset objects built by the caller (sweep points)
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
    batch: int = 1  # images restored per call, up to each method's max_batch (same size, same protocols)
    progress: bool = True
    command: str = field(default_factory=lambda: shlex.join([program_name(), *sys.argv[1:]]))


def _check_device(device: str) -> None:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device} asked for, but torch sees no CUDA device; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda")):
        raise UserError(f"unknown device '{device}'; use cpu, cuda or cuda:N")


def _check_spec(spec: RunSpec) -> None:
    """Refuse what would silently run something else than asked: no method, a limit of 0 or less, a bad tiling."""
    if isinstance(spec.batch, bool) or not isinstance(spec.batch, int) or spec.batch < 1:
        raise UserError(f"the batch size must be a positive number of images, got {spec.batch!r}")
    if not spec.methods:
        raise UserError("no method to run; give at least one (see 'abair-bench methods list')")
    if not str(spec.out).strip():
        raise UserError("no run directory given (out is empty); give a folder path")
    if spec.limit is not None and (isinstance(spec.limit, bool) or not isinstance(spec.limit, int) or spec.limit < 1):
        raise UserError(f"--limit must be a positive number of images, got {spec.limit!r}")
    if spec.tile is not None:
        from .tiling import check_tiling

        check_tiling(spec.tile, spec.tile_overlap, spec.tile_blend)


def _make_methods(spec: RunSpec) -> dict[str, Any]:
    """Build every method with its options; refuse options for no method and two methods with one record name."""
    import inspect

    from .method_args import assign, refuse_unmatched
    from .methods import create_method, factory_accepts, record_name

    per_method, unmatched = assign(spec.methods, spec.method_args)
    if all(record_name(name) for name in spec.methods):  # every record name is known: refuse before building
        refuse_unmatched(unmatched, spec.methods, [])
    methods, made_from = {}, {}
    for name in spec.methods:
        options = per_method[name]
        if spec.checkpoint and "checkpoint" not in options and factory_accepts(name, "checkpoint"):
            options["checkpoint"] = spec.checkpoint
        method = create_method(name, **options)
        late = unmatched.pop(method.name, None) if method.name != name else None
        if late:  # options under a plug-in's record name, known only now
            method = create_method(name, **options, **late)
        if method.name in methods:
            raise UserError(f"methods '{made_from[method.name]}' and '{name}' both record their results as "
                            f"'{method.name}'; run them into separate --out directories")
        if inspect.ismethod(getattr(method, "to", None)):
            method = method.to(spec.device) or method
        methods[method.name], made_from[method.name] = method, name
    refuse_unmatched(unmatched, spec.methods, list(methods))
    return methods


def _protocols_for(dataset, spec: RunSpec):
    from .protocols import RUNNER_BACKEND, get_protocol

    # a bare protocol name is scored by the exact torch backend (same numbers as the scikit-image
    # reference, same spec); name@skimage selects the reference itself
    return [get_protocol(p, default_backend=RUNNER_BACKEND) for p in (spec.protocols or [dataset.default_protocol])]


def _restore(method, batch, context, spec: RunSpec):
    from .padding import restore_padded

    if spec.tile is not None:
        from .tiling import restore_tiled

        return restore_tiled(method, batch, context, tile=spec.tile, overlap=spec.tile_overlap, blend=spec.tile_blend)
    return restore_padded(method, batch, context)


def _score_batch(method, dataset, pairs, protocols, spec: RunSpec, run_id: str, images_dir: Path | None):
    """Restore ``pairs`` (same dataset, same protocols) once per distinct input crop, as one batch
    when their prepared inputs share a size (else one at a time), and score each image under each
    protocol; returns rows. ``seconds`` of an image is its batch's restoration time divided by the
    batch size."""
    import torch

    from abair.imageops import uint8_to_tensor

    by_crop: dict[int, list] = {}
    for protocol in protocols:
        by_crop.setdefault(protocol.input_crop_multiple, []).append(protocol)
    rows = []
    for n_group, group in enumerate(by_crop.values()):
        # a protocol with another input crop restores the image again (e.g. allinone-rgb-uncropped:
        # the method's own pipeline on the whole input); the saved PNG is the first protocol's restoration
        save_to = images_dir if n_group == 0 else None
        prepared = [group[0].prepare_pair(pair.degraded, pair.clean) for pair in pairs]
        chunks = [list(range(len(pairs)))] if len({d.shape for d, _ in prepared}) == 1 else \
            [[i] for i in range(len(pairs))]
        for chunk in chunks:
            x = torch.stack([uint8_to_tensor(prepared[i][0]) for i in chunk]).to(spec.device)
            ids = tuple(pairs[i].image_id for i in chunk)
            y, seconds = _timed_restore(method, dataset, x, ids, spec)
            for j, i in enumerate(chunk):
                rows += _image_rows(method, dataset, pairs[i].image_id, y[j:j + 1], prepared[i][1], group,
                                    seconds / len(chunk), run_id, save_to)
    return rows


#: how far outside [0, 1] a restored value may lie and still be clipped (float rounding, a network's
#: overshoot); further out (a method returning 0..255, or values centred on 0) is refused
OUTPUT_TOLERANCE = 0.5


def _timed_restore(method, dataset, x, image_ids: tuple[str, ...], spec: RunSpec):
    """``(restored batch, seconds)``. What ``method.restore`` returns must be a float tensor in
    [0, 1] (up to :data:`OUTPUT_TOLERANCE`): anything else (numpy, None, a list, uint8, values up to
    255, NaN or inf), or an exception in ``restore``, is a one-line error naming the method, the
    dataset/image and what was wrong."""
    import torch

    from baselines.base import RestoreContext

    context = RestoreContext(dataset.name, dataset.task, image_ids, tuple(dataset.degradations))
    where = f"{dataset.name}/{image_ids[0] if len(image_ids) == 1 else ', '.join(image_ids)}"
    if spec.device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.inference_mode():
        y = _restore(_CheckedRestore(method, where), x, context, spec)
    if spec.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if not torch.isfinite(y).all():
        raise UserError(f"method '{method.name}' returned NaN or inf on {where}")
    flat = y.detach().flatten(1)
    for j, (high, low) in enumerate(zip(flat.amax(1).tolist(), flat.amin(1).tolist(), strict=True)):
        if high > 1 + OUTPUT_TOLERANCE or low < -OUTPUT_TOLERANCE:
            values = f"values up to {round(high, 4)}" if high > 1 + OUTPUT_TOLERANCE else f"values down to {round(low, 4)}"
            raise UserError(f"method '{method.name}' returned {values} on {dataset.name}/{image_ids[j]}: restore() "
                            "must return floats in [0, 1]")
    return y, seconds


class _CheckedRestore:
    """``method`` (its attributes read through) whose ``restore`` answers a float tensor or raises a
    one-line :class:`UserError` naming the method, ``where`` and the exception or what it returned."""

    def __init__(self, method, where: str):
        self._method, self._where = method, where

    def __getattr__(self, attribute: str):
        return getattr(self._method, attribute)

    def restore(self, batch, context):
        import torch

        from abair.errors import shorten

        name = self._method.name
        try:
            out = self._method.restore(batch, context)
        except UserError:
            raise
        except Exception as exc:  # a plug-in's bug: one line, the records written so far stay
            raise UserError(f"method '{name}' raised {type(exc).__name__} on {self._where}: "
                            f"{shorten(exc, 300)}") from exc
        if not isinstance(out, torch.Tensor):
            kind = "None" if out is None else f"a {_type_name(out)}"
            raise UserError(f"method '{name}' returned {kind} on {self._where}: restore() must return a float "
                            "torch tensor (N, 3, H, W) in [0, 1]")
        if not out.is_floating_point():
            raise UserError(f"method '{name}' returned a {out.dtype} tensor on {self._where}: restore() must "
                            "return floats in [0, 1] (divide 8-bit levels by 255)")
        return out


def _type_name(value) -> str:
    """``numpy.ndarray``, ``list``: the type of ``value`` as its users write it."""
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__.split('.')[0]}.{kind.__qualname__}"


def _image_rows(method, dataset, image_id: str, y, clean, protocols, seconds: float, run_id: str,
                images_dir: Path | None) -> list[dict]:
    """The rows of one restored image (float (1, 3, H, W)) under each protocol; saves its PNG
    (named by :func:`bench.store.image_path`: the only path made from data)."""
    from abair.imageops import tensor_to_float_array, tensor_to_uint8

    from .store import writable_image_path

    restored = tensor_to_float_array(y)
    if images_dir is not None:
        _save_png(writable_image_path(images_dir, method.name, dataset.name, image_id), tensor_to_uint8(y))
    h, w = clean.shape[:2]
    return [
        {"run_id": run_id, "method": method.name, "dataset": dataset.name, "task": dataset.task,
         "image_id": image_id, "protocol": protocol.spec, "metric": metric, "value": float(value),
         "seconds": seconds, "height": h, "width": w}
        for protocol in protocols for metric, value in protocol.score(restored, clean).items()
    ]


#: zlib level of the restored PNGs: lossless at any level; 1 encodes a 128x128 tile 3x faster than
#: Pillow's default 6 for files ~8% larger (encoding is on the runner's critical path)
PNG_COMPRESS_LEVEL = 1


def _save_png(path: Path, image) -> None:
    """Write ``path`` atomically through ``.<name>.tmp`` (no saved name starts with a dot), never
    through a symbolic link: the temporary file is opened with ``O_NOFOLLOW``, the rename replaces."""
    from PIL import Image

    tmp = path.with_name(f".{path.name}.tmp")
    if tmp.is_symlink():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as fh:
        Image.fromarray(image).save(fh, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    os.replace(tmp, path)


def run(spec: RunSpec):
    """Execute ``spec``; returns the summary DataFrame (rank 0) or None (other ranks).

    Rank 0 holds the run directory's lock (:mod:`bench.runlock`) from before the manifest is read
    until the records are merged; a second writer is refused.
    """
    import torch

    from .datasets import get_dataset

    _check_spec(spec)
    _check_device(spec.device)
    dist = init_distributed(backend="gloo")
    torch.manual_seed(TORCH_SEED)
    methods = _make_methods(spec)
    datasets = {getattr(d, "name", d): get_dataset(d, spec.dataset_options) if isinstance(d, str) else d
                for d in spec.datasets}
    protocols = {name: _protocols_for(ds, spec) for name, ds in datasets.items()}
    pairs, skipped = _pairs(methods, datasets, dist)
    store = RunStore(spec.out, shard=dist.rank if dist.active else None)
    with store.lock() if dist.rank == 0 else nullcontext():
        return _run_locked(spec, store, methods, datasets, protocols, pairs, skipped, dist)


def _pairs(methods, datasets, dist: DistInfo):
    """``(pairs, skipped)``: the (method, dataset, image ids) to score, each checked by the method
    (``check``) before anything is written, and the pairs a method cannot score with the reason."""
    pairs, skipped = [], []
    for method in methods.values():
        for name, dataset in datasets.items():
            reason = (_plugin_call(method, "skip_reason", name, dataset) if hasattr(method, "skip_reason")
                      else None)
            if reason:
                skipped.append({"method": method.name, "dataset": name, "reason": reason})
                if dist.rank == 0:
                    print(f"abair-bench: skipping {method.name} on {name}: {reason}", file=sys.stderr)
                continue
            all_ids = dataset.image_ids()
            if callable(getattr(method, "check", None)):  # the whole set: --limit never makes files look "extra"
                _plugin_call(method, "check", name, name, all_ids)
            pairs.append((method, name, dataset, all_ids))
    return pairs, skipped


def _plugin_call(method, hook: str, dataset: str, *args):
    """``method.<hook>(*args)``, its exceptions (a plug-in's bug) turned into one line naming the method,
    the hook and the dataset; a :class:`UserError` (a refusal the method words itself) passes unchanged."""
    from abair.errors import shorten

    try:
        return getattr(method, hook)(*args)
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"method '{method.name}' raised {type(exc).__name__} in {hook}() on {dataset}: "
                        f"{shorten(exc, 300)}") from exc


def _repair(record_file) -> None:
    dropped = record_file.repair()
    if dropped:
        print(f"abair-bench: dropped the partial last line of {record_file.path} ({dropped} bytes, a write cut "
              "short); its image is recomputed", file=sys.stderr)


def _run_locked(spec: RunSpec, store: RunStore, methods, datasets, protocols, pairs, skipped, dist: DistInfo):
    manifest = done = None
    if dist.rank == 0:
        _repair(store.records)
        done = store.done_keys()  # a damaged row is refused before anything is written
        manifest = start_manifest(store, spec, methods, datasets, protocols, world=dist.world, seed=TORCH_SEED)
        record_configs(store, manifest)
        store.write_manifest(manifest)
        if not dist.active:
            _merge_interrupted_shards(store)
    else:  # while rank 0 hashes every set for the manifest, make this rank's own images
        for dataset in datasets.values():
            ids = dataset.image_ids()
            dataset.prefetch((ids[: spec.limit] if spec.limit is not None else ids)[dist.rank::dist.world])
    barrier(dist)
    if dist.active:
        _repair(store.writer)
    run_id = (manifest or store.read_manifest())["run_id"]
    done = store.done_keys() if done is None else done
    work, scope = _plan(spec, pairs, protocols, done, dist)
    _execute(work, done, store, spec, run_id, dist)
    barrier(dist)
    if dist.rank != 0:
        return None
    if dist.active:
        store.merge_shards()
    manifest["invocations"][-1]["skipped"] = skipped
    manifest["invocations"][-1]["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    store.write_manifest(manifest)
    return summarise(spec.out, scope=scope)


def _merge_interrupted_shards(store: RunStore) -> None:
    """A one-process run into a directory a sharded run left unmerged: its shards' rows go into
    records.csv first (one line), so the summary and every reader count them."""
    shards = store.shard_files()
    for shard in shards:
        _repair(shard)
    added = store.merge_shards() if shards else 0
    if added:
        print(f"abair-bench: merged {added} record rows of an unfinished sharded run ({store.root / SHARDS}) into "
              f"{store.records.path}", file=sys.stderr)


def _plan(spec: RunSpec, pairs, protocols, done: set, dist: DistInfo):
    """``(work, scope)``: the images this rank restores, each with the protocols missing any
    (protocol, metric) row in ``done``; and the ``(method, dataset, image_id, protocol)`` this
    invocation covers on all ranks (what the summary counts)."""
    work, scope = [], set()
    for method, name, dataset, all_ids in pairs:
        ids = all_ids[: spec.limit] if spec.limit is not None else all_ids
        for index, image_id in enumerate(ids):
            scope.update((method.name, name, image_id, p.spec) for p in protocols[name])
            if index % dist.world != dist.rank:
                continue
            todo = [p for p in protocols[name]
                    if any((method.name, name, image_id, p.spec, m) not in done for m in p.metrics)]
            if todo:
                work.append((method, dataset, image_id, todo))
    return work, scope


def _execute(work, done, store: RunStore, spec: RunSpec, run_id: str, dist: DistInfo) -> None:
    """Restore and score each planned image; append only rows not written before (an image that was
    incomplete keeps the rows it had)."""
    from tqdm import tqdm

    from .store import row_key

    images_dir = Path(spec.out) / IMAGES if spec.save_images else None
    bar = tqdm(
        total=len(work), desc=f"rank {dist.rank}" if dist.active else "run", unit="img",
        disable=not spec.progress, file=sys.stderr, position=dist.rank, leave=True,
    )
    for method, dataset, items in _batches(work, spec):
        bar.set_postfix_str(f"{method.name} {dataset.name}", refresh=False)
        pairs = [dataset.load(image_id) for image_id, _ in items]
        rows = _score_batch(method, dataset, pairs, items[0][1], spec, run_id, images_dir)
        store.writer.append([r for r in rows if row_key(r) not in done])  # one write per batch
        bar.update(len(items))
    bar.close()


def _batches(work, spec: RunSpec):
    """Consecutive work items of one method, dataset and protocol list, at most ``spec.batch`` and the
    method's ``max_batch`` at a time (one at a time when tiling): ``(method, dataset, [(id, todo)])``."""
    current, key = [], None
    for method, dataset, image_id, todo in work:
        limit = 1 if spec.tile is not None else max(1, min(spec.batch, int(getattr(method, "max_batch", 1))))
        item_key = (id(method), dataset.name, tuple(p.spec for p in todo))
        if current and (item_key != key or len(current) >= limit):
            yield current[0][0], current[0][1], [(i, t) for _, _, i, t in current]
            current = []
        current.append((method, dataset, image_id, todo))
        key = item_key
    if current:
        yield current[0][0], current[0][1], [(i, t) for _, _, i, t in current]


def summarise(run_dir, methods=None, datasets=None, scope=None):
    """Mean per method x dataset x protocol x metric, the number of images it averages (``n``) and
    their mean restoration time (``seconds`` per image, wall seconds; a batch's time / its size).

    ``methods``/``datasets`` keep only those; ``scope`` (a set of ``(method, dataset, image_id,
    protocol)``) keeps only the records of those images, so a summary counts what was scored.
    """
    import pandas as pd

    from .store import load_records

    df = load_records(run_dir)
    if methods is not None:
        df = df[df["method"].isin(methods)]
    if datasets is not None:
        df = df[df["dataset"].isin(datasets)]
    if scope is not None and not scope:
        df = df.iloc[0:0]
    elif scope is not None:
        keys = ["method", "dataset", "image_id", "protocol"]
        df = df[pd.MultiIndex.from_frame(df[keys].astype(str)).isin(list(scope))]
    summary = (
        df.groupby(["method", "dataset", "protocol", "metric"], sort=False)["value"]
        .agg(mean="mean", n="count")
        .join(df.groupby(["method", "dataset", "protocol", "metric"], sort=False)["seconds"].mean())
        .reset_index()
    )
    return summary
