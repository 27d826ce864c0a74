"""The run manifest (``DIR/manifest.json``): what reproduces a run directory's records.

One entry per method (its config, tiling included), dataset (content hash, recipe, count) and
protocol (settings), and one per invocation (command, times, world size, CPU thread count, seeds,
options, git state, package versions, device). A rerun that would mix another method config or
other data into the directory is refused, also when ``manifest.json`` was lost: ``configs.json``
(:func:`record_configs`) repeats every method config and data hash the records were made with, and
records that neither file describes are refused. A dataset's entry lists, under ``image_files``, the
saved-image file names of its ids that are not ``<id>.png`` (:func:`bench.store.file_stem`).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone

from abair.errors import UserError

from .store import CONFIGS, MANIFEST, RunStore, renamed_images


def environment(spec) -> dict:
    from .environment import device_info, git_state, package_versions

    return {"git": git_state(), "versions": package_versions(), "device": device_info(spec.device)}


def start_manifest(store: RunStore, spec, methods: dict, datasets: dict, protocols: dict, *, world: int,
                   seed: int) -> dict:
    """Create or extend the manifest with this invocation; refuse to mix method configs or data in one directory.

    ``protocols`` maps each dataset name to the protocols it is scored under; ``world`` is the number
    of processes (torchrun ranks), ``seed`` the torch seed.
    """
    saved = store.read_manifest()
    configs = store.read_configs()
    if saved is None and configs is None and store.has_records():
        raise UserError(f"{store.root} holds records but no {MANIFEST} or {CONFIGS} saying which method configs "
                        f"made them; restore {MANIFEST}, or move the records aside, or use a new --out")
    known = [saved or {}, configs or {}]
    manifest = saved or {
        "format": "abair-bench-run/1",
        "run_id": uuid.uuid4().hex[:12],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "methods": {},
        "datasets": {},
        "protocols": {},
        "invocations": [],
    }
    for name, method in methods.items():
        config = method_config(method, spec)
        for old in (k["methods"].get(name) for k in known if "methods" in k):
            if old is not None and old != _jsonable(config):
                raise UserError(
                    f"{store.root} already holds method '{name}' with another config ("
                    f"{'; '.join(config_diff(old, _jsonable(config)))}); use a new --out directory"
                )
        manifest["methods"][name] = config
    for name, dataset in datasets.items():
        info = dataset.describe()
        for old in (k["datasets"].get(name) for k in known if "datasets" in k):
            if isinstance(old, dict) and old.get("sha256") != info.get("sha256"):
                raise UserError(
                    f"{store.root} was made with different '{name}' data (hash {old.get('sha256', '?')[:12]} != "
                    f"{info.get('sha256', '?')[:12]}); use a new --out directory"
                )
        renamed = renamed_images(dataset.image_ids())
        if renamed:
            info["image_files"] = renamed
        manifest["datasets"][name] = info
        for protocol in protocols[name]:
            manifest["protocols"][protocol.spec] = protocol.settings()
    manifest["invocations"].append(
        {
            "command": spec.command,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "finished": None,
            "world_size": world,
            "threads": threads(),
            "seeds": {"torch_manual_seed": seed},
            "options": {
                "limit": spec.limit, "device": spec.device, "save_images": spec.save_images,
                "tile": spec.tile, "tile_overlap": spec.tile_overlap, "tile_blend": spec.tile_blend,
                "batch": spec.batch,
            },
            **environment(spec),
        }
    )
    return manifest


def record_configs(store: RunStore, manifest: dict) -> None:
    """Add the manifest's method configs and data hashes to ``configs.json`` (never removing one):
    what the next run checks its own against when ``manifest.json`` is lost."""
    configs = store.read_configs() or {"format": "abair-bench-configs/1", "methods": {}, "datasets": {}}
    configs["methods"].update(_jsonable(manifest["methods"]))
    configs["datasets"].update({name: {"sha256": info.get("sha256")} for name, info in manifest["datasets"].items()
                                if isinstance(info, dict)})
    store.write_configs(configs)


def config_diff(old, new, prefix: str = "", limit: int = 4) -> list[str]:
    """What differs between two JSON-like configs, one short phrase per key (dotted paths), at most
    ``limit`` of them: ``["h_factor: 0.8 in the store, 2.0 now", "tiling: absent in the store, {...} now"]``."""
    from abair.errors import shorten

    def show(value) -> str:
        return "absent" if value is _MISSING else shorten(json.dumps(value, sort_keys=True, default=str), 60)

    out: list[str] = []
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            a, b = old.get(key, _MISSING), new.get(key, _MISSING)
            if a != b:
                path = f"{prefix}{key}"
                if isinstance(a, dict) and isinstance(b, dict):
                    out += config_diff(a, b, f"{path}.", limit)
                else:
                    out.append(f"{path}: {show(a)} in the store, {show(b)} now")
    elif old != new:
        out.append(f"{prefix.rstrip('.') or 'config'}: {show(old)} in the store, {show(new)} now")
    if len(out) > limit:
        out = out[:limit] + [f"and {len(out) - limit} more"]
    return out


_MISSING = object()


def method_config(method, spec) -> dict:
    """The method's config plus, when its images are cut into tiles, the tiling (it changes the output)."""
    config = method.config()
    if spec.tile is not None and getattr(method, "tileable", True):
        config = {**config, "tiling": {"tile": spec.tile, "overlap": spec.tile_overlap, "blend": spec.tile_blend}}
    return config


def threads() -> dict:
    """The CPU thread count the records were made with (float results can depend on it)."""
    import torch

    return {"torch": torch.get_num_threads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))
