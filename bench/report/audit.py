"""Protocol audit: the same restored images scored under every protocol.

For every saved restoration (``DIR/images/<method>/<dataset>/<image_id>.png``) and every protocol
(each entry of :func:`bench.protocols.list_protocols` with every backend that can compute it here:
the scikit-image reference, the exact ``@torch`` backend and, when pyiqa is installed, ``@pyiqa``;
columns are named by :attr:`~bench.protocols.Protocol.label`), the PNG and its ground truth are prepared the
protocol's way (:meth:`Protocol.prepare_pair`: e.g. the centre crop to a multiple of 16) and scored
(:meth:`Protocol.score`). Nothing is restored again.

By default the audit samples: :data:`DEFAULT_LIMIT` images of each method and dataset, spread evenly
over the set (the same images for every method); ``--audit-limit N`` takes N, ``--audit-limit all``
every saved image. The report names the sample.

The result says how far the conventions alone move each mean: ``spread`` is the largest minus the
smallest mean over the protocols, for a method, a dataset and a metric. Two caveats are written in
the report: the PNGs are 8-bit, so a protocol that does not round (``allinone-rgb``) scores a
slightly different image than the runner did (its ``recorded`` mean is shown beside it); and a
protocol whose crop differs from the one the run restored under sees a crop of the restoration,
not a restoration of the crop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from abair.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .grids import InputCache
    from .runs import Runs


@dataclass
class AuditResult:
    """``scores``: long per-image rows (run, method, dataset, image_id, protocol, metric, value);
    ``summary``: one row per (run, method, dataset, metric) with a mean per protocol, the recorded
    mean under each protocol the run used, and the spread; ``notes``: protocols or images skipped."""

    scores: pd.DataFrame
    summary: pd.DataFrame
    protocols: list[str]
    notes: list[str] = field(default_factory=list)


def available_protocols() -> tuple[list[str], list[str]]:
    """The protocol specs the audit scores by default, and notes on the others.

    Each protocol once, through its batched exact backend where it has one (``@torch``: the
    reference's numbers to the maxima of docs/PROTOCOLS.md, so its column carries the plain name), else
    its reference backend. Backends that are not exact (``@pyiqa``) answer a different question, how
    far a library moves the numbers, and are audited when ``--audit-protocols`` names them.
    """
    from bench.protocols import get_protocol, list_protocols

    specs, notes = [], []
    for base in list_protocols():
        if base.score_crop_multiple > 1 and base.input_crop_multiple == 1:
            # it differs from its cropping twin only by what the method saw, and the audit never restores
            notes.append(f"{base.name} not audited: it needs the restoration of the whole input (its records "
                         "are in the tables)")
            continue
        backend = "torch" if "torch" in base.exact_backends else base.backend
        try:
            specs.append(get_protocol(f"{base.name}@{backend}").spec)
        except UserError as exc:
            notes.append(f"{base.name} skipped: {exc}")
    return specs, notes


def _fastest_exact(protocol):
    """A plain protocol name is scored through its batched exact backend (same numbers, batched)."""
    from bench.protocols import get_protocol

    return get_protocol(f"{protocol.name}@torch") if "torch" in protocol.exact_backends else protocol


def column_names(chosen: list) -> list[str]:
    """One column per protocol: its spec (the plain name for an exact backend), or its label where
    two chosen protocols share a spec (``allinone-rgb`` and ``allinone-rgb@torch``)."""
    specs = [p.spec for p in chosen]
    return [p.spec if specs.count(p.spec) == 1 else p.label for p in chosen]


#: images per batched scoring call are capped at this many pixels (float64 statistics of SSIM)
BATCH_PIXELS = 1 << 21

#: images of each method and dataset the audit scores unless told otherwise: the spread between
#: protocols is a property of the conventions (colour space, rounding, crop, window), visible on a few
#: images; scoring every PNG of the main job under every protocol was most of the report's time
DEFAULT_LIMIT = 4

#: the ``--audit-limit`` value that audits every saved image
ALL = "all"


def resolve_limit(limit: int | str | None) -> int | None:
    """The audit's sample size: None -> :data:`DEFAULT_LIMIT`; ``"all"`` -> None (every image); a whole
    number >= 1 (or its text) -> itself; anything else is one UserError naming ``--audit-limit``."""
    if limit is None:
        return DEFAULT_LIMIT
    if isinstance(limit, str) and limit.strip().lower() == ALL:
        return None
    text = limit.strip() if isinstance(limit, str) else limit
    if isinstance(text, str) and text.isdigit():
        text = int(text)
    if isinstance(text, bool) or not isinstance(text, int) or text < 1:
        from abair.errors import shorten

        raise UserError(f"--audit-limit must be a whole number of images >= 1 or 'all', got {shorten(repr(limit))}")
    return text


def sample(ids: list[str], limit: int | None) -> list[str]:
    """``limit`` of ``ids`` spread evenly over them, in their order (all of them when ``limit`` is None
    or not smaller): ``sample(list("abcdefgh"), 3)`` -> ``["a", "c", "f"]``."""
    if limit is None or limit >= len(ids):
        return list(ids)
    return [ids[i * len(ids) // limit] for i in range(limit)]


def audit(runs: Runs, inputs: InputCache, *, protocols: list[str] | None = None, limit: int | str | None = None,
          datasets: list[str] | None = None) -> AuditResult:
    """Score saved restorations under every protocol: ``limit`` images per method and dataset spread
    evenly over the set (None: :data:`DEFAULT_LIMIT`; ``"all"``: every one; :func:`resolve_limit`).

    The images of one method and dataset are scored together: one batched call per protocol and
    image size on the batched backends (``@torch``, ``@pyiqa``), one call per image on ``@skimage``;
    the numbers are those of :meth:`Protocol.score` on each image.
    """
    import pandas as pd

    from abair.imageops import centre_crop
    from bench.protocols import get_protocol

    from .grids import read_png

    notes: list[str] = []
    limit = resolve_limit(limit)
    sampled = 0
    if protocols is None:
        protocols, notes = available_protocols()
    chosen = [_fastest_exact(get_protocol(p)) if "@" not in p else get_protocol(p) for p in protocols]
    names = column_names(chosen)
    rows = []
    for run, method in runs.methods():
        recs = runs.records[(runs.records["run"] == run) & (runs.records["method"] == method)]
        for dataset in dict.fromkeys(recs["dataset"]):
            if datasets and dataset not in datasets:
                continue
            ids = list(dict.fromkeys(recs.loc[recs["dataset"] == dataset, "image_id"]))
            ids = [i for i in ids if runs.image_path(run, method, dataset, i).exists()]
            items = []
            chosen_ids = sample(ids, limit)
            sampled += len(ids) - len(chosen_ids)
            for image_id in chosen_ids:
                try:
                    clean = inputs.clean(dataset, image_id)
                except UserError as exc:
                    notes.append(f"{dataset}: ground truth not available ({exc}); not audited")
                    break
                restored = read_png(runs.image_path(run, method, dataset, image_id))
                h, w = restored.shape[:2]
                items.append((image_id, restored, centre_crop(clean, h, w)))
            for protocol, column in zip(chosen, names, strict=True):
                for image_id, scores in _score_all(protocol, dataset, items, notes):
                    for metric, value in scores.items():
                        rows.append((run, method, dataset, image_id, column, metric, float(value)))
    if sampled:
        notes.insert(0, f"a sample: at most {limit} images of each method and dataset, spread evenly over the "
                     f"set ({sampled} saved images not scored); --audit-limit all scores every one")
    columns = ["run", "method", "dataset", "image_id", "protocol", "metric", "value"]
    scores = pd.DataFrame(rows, columns=columns)
    return AuditResult(scores, summarise(scores, runs.records, names), names, notes)


def audit_run_dirs(dirs: list[str], *, data_root: str | None = None, protocols: list[str] | None = None,
                   limit: int | str | None = None) -> AuditResult:
    """:func:`audit` of the run stores ``dirs`` (read again here), the test sets' ground truths found as
    the report finds them (``data_root``): the form a second process computes it in (plain arguments)."""
    from bench.datasets import DatasetOptions

    from .grids import InputCache
    from .runs import load_runs

    return audit(load_runs(dirs), InputCache(DatasetOptions(data_root=data_root)), protocols=protocols, limit=limit)


def _score_all(protocol, dataset: str, items: list, notes: list[str]):
    """``(image_id, {metric: value})`` for every (image_id, restored uint8, clean uint8) of ``items``."""
    import numpy as np
    import torch

    from bench.protocols.torch_backend import BatchedBackend

    prepared: dict[tuple, list] = {}
    for image_id, restored, clean in items:
        try:
            r, c = protocol.prepare_pair(restored, clean)
            protocol._check_window(*c.shape[:2])
        except UserError as exc:
            notes.append(f"{dataset}/{image_id} under {protocol.spec}: {exc}")
            continue
        prepared.setdefault(r.shape, []).append((image_id, r, c))
    batched = isinstance(protocol._backend(), BatchedBackend)
    for shape, group in prepared.items():
        if not batched:
            for image_id, r, c in group:
                yield image_id, protocol.score(r, c)
            continue
        per_call = max(1, BATCH_PIXELS // (shape[0] * shape[1]))
        for start in range(0, len(group), per_call):
            chunk = group[start:start + per_call]
            # uint8 NCHW: the backend takes the 8-bit levels as they are (nothing to clip or snap)
            restored = torch.from_numpy(np.stack([r for _, r, _ in chunk])).permute(0, 3, 1, 2).contiguous()
            clean = torch.from_numpy(np.stack([c for _, _, c in chunk])).permute(0, 3, 1, 2).contiguous()
            yield from zip((i for i, _, _ in chunk), protocol.score_batch(restored, clean), strict=True)


def summarise(scores: pd.DataFrame, records: pd.DataFrame, protocols: list[str]) -> pd.DataFrame:
    """Means per protocol (columns), ``recorded <protocol>`` means from the run's own records on the
    same images, and ``spread`` (max - min over the audited protocols) per (run, method, dataset, metric)."""
    import pandas as pd

    keys = ["run", "method", "dataset", "metric"]
    if scores.empty:
        return pd.DataFrame(columns=[*keys, "n", *protocols, "spread"])
    means = scores.pivot_table(index=keys, columns="protocol", values="value", aggfunc="mean", sort=False)
    means = means.reindex(columns=[p for p in protocols if p in means.columns])
    n = scores.groupby(keys, sort=False)["image_id"].nunique().rename("n")
    out = pd.concat([n, means], axis=1)
    out["spread"] = means.max(axis=1) - means.min(axis=1)
    audited = scores[["run", "method", "dataset", "image_id"]].drop_duplicates()
    rec = records.merge(audited, on=["run", "method", "dataset", "image_id"])
    if not rec.empty:
        recorded = rec.pivot_table(index=keys, columns="protocol", values="value", aggfunc="mean", sort=False)
        recorded.columns = [f"recorded {c}" for c in recorded.columns]
        out = out.join(recorded)
    return out.reset_index()
