"""Run a sweep: its points as datasets through the ordinary runner, then the estimator's probabilities.

The records go to the run store exactly as ``abair-bench run`` writes them (one row per method,
point, image, protocol and metric; the same manifest, lock, resume, ``--jobs`` and readers). For every
ABAIR method that blends by its estimator (``abair-sw``, ``abair-oh``), the estimator's probability
of each adapter is recorded per image too, as rows of protocol ``estimator`` and metric ``p:<adapter>``
(value in [0, 1], ``seconds`` the estimator's time); reports of runs ignore that protocol. The
estimator sees what the method sees: the protocol's input crop, padded to the method's multiple.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

ESTIMATOR_PROTOCOL = "estimator"
PROBABILITY_PREFIX = "p:"
ESTIMATOR_SETTINGS = {
    "what": "the degradation estimator's probability of each adapter, per image (metric p:<adapter>), "
            "for ABAIR methods that blend by it (sw, oh)",
    "input": "the default protocol's input crop of the degraded image, reflect-padded to the method's multiple",
}


@dataclass
class SweepRequest:
    """Everything ``abair-bench sweep`` was asked to do (the rest of a run as in :class:`bench.runner.RunSpec`)."""

    out: str
    methods: list[str]
    spec: str = "default"
    source: str = "test-pool"
    images: int | None = None  # None: the spec's ``images`` (all of the source when it has none)
    limit: int | None = None
    method_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkpoint: str | None = None
    dataset_options: Any = None
    device: str = "cpu"
    batch: int = 1
    save_images: bool = False
    progress: bool = True
    command: str | None = None


def build(request: SweepRequest):
    """``(spec, datasets)``: the parsed spec and one dataset per point (nothing run yet)."""
    from abair.errors import UserError

    from .points import CleanSource, make_datasets
    from .spec import load_spec

    spec = load_spec(request.spec)
    images = request.images if request.images is not None else spec.images
    if images is not None and (isinstance(images, bool) or not isinstance(images, int) or images < 1):
        raise UserError(f"--images must be a positive number of images, got {images!r}")
    source = CleanSource(request.source, images, request.dataset_options)
    return spec, make_datasets(spec.points, source, spec.name)


def run_sweep(request: SweepRequest):
    """Run ``request``; returns the runner's summary on rank 0 (None on other ranks)."""
    from bench.runner import RunSpec, run

    _spec, datasets = build(request)
    extra = {"command": request.command} if request.command else {}
    run_spec = RunSpec(out=request.out, methods=request.methods, datasets=datasets, method_args=request.method_args,
                       checkpoint=request.checkpoint, dataset_options=request.dataset_options, limit=request.limit,
                       device=request.device, save_images=request.save_images, batch=request.batch,
                       progress=request.progress, **extra)
    summary = run(run_spec)
    if summary is not None:
        record_estimator(run_spec)
    return summary


def _estimating(methods: dict) -> dict:
    """The methods whose blend follows their estimator (ABAIR ``sw`` and ``oh``)."""
    return {name: m for name, m in methods.items()
            if getattr(m, "mode", None) in ("sw", "oh") and hasattr(getattr(m, "model", None), "estimate")}


def record_estimator(run_spec) -> int:
    """Append the estimator rows missing from the run store (under its lock); returns how many."""
    import torch

    from abair.imageops import uint8_to_tensor
    from bench.padding import pad_to_multiple
    from bench.runner import _make_methods, _protocols_for
    from bench.store import RunStore, row_key

    methods = _estimating(_make_methods(run_spec))
    if not methods:
        return 0
    store = RunStore(run_spec.out)
    added = 0
    with store.lock():
        done = store.done_keys()
        manifest = store.read_manifest()
        run_id = manifest["run_id"]
        for method in methods.values():
            names = list(method.model.adapter_names)
            for dataset in run_spec.datasets:
                protocol = _protocols_for(dataset, run_spec)[0]
                ids = dataset.image_ids()[: run_spec.limit] if run_spec.limit else dataset.image_ids()
                rows = []
                for image_id in ids:
                    keys = [(method.name, dataset.name, image_id, ESTIMATOR_PROTOCOL, PROBABILITY_PREFIX + n)
                            for n in names]
                    if all(k in done for k in keys):
                        continue
                    pair = dataset.load(image_id)
                    degraded, clean = protocol.prepare_pair(pair.degraded, pair.clean)
                    x = pad_to_multiple(uint8_to_tensor(degraded)[None], int(getattr(method, "multiple_of", 1)))
                    start = time.perf_counter()
                    with torch.inference_mode():
                        p = method.model.estimate(x.to(run_spec.device))[0].tolist()
                    seconds = time.perf_counter() - start
                    h, w = clean.shape[:2]
                    rows += [{"run_id": run_id, "method": method.name, "dataset": dataset.name, "task": dataset.task,
                              "image_id": image_id, "protocol": ESTIMATOR_PROTOCOL, "metric": key[-1],
                              "value": float(value), "seconds": seconds, "height": h, "width": w}
                             for key, value in zip(keys, p, strict=True)]
                rows = [r for r in rows if row_key(r) not in done]
                store.records.append(rows)
                added += len(rows)
        if manifest.get("protocols", {}).get(ESTIMATOR_PROTOCOL) != ESTIMATOR_SETTINGS:
            manifest.setdefault("protocols", {})[ESTIMATOR_PROTOCOL] = ESTIMATOR_SETTINGS
            store.write_manifest(manifest)
    if added and run_spec.progress:
        print(f"abair-bench: recorded the estimator's probabilities of {', '.join(methods)} "
              f"({added} rows, protocol '{ESTIMATOR_PROTOCOL}')", file=sys.stderr)
    return added
