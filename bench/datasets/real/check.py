"""``abair-bench datasets check``: pair by name, then decode every image (Pillow) to find truncated or
unreadable files and pairs whose two images differ in size. Every problem names its file.

For large training corpora ``limit`` decodes an evenly spread sample of at most that many pairs
(every k-th in natural order; pairing by name still covers every file) and ``progress`` is called
as decoding goes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from abair.errors import UserError

from .scan import Problem, Scan, scan_set
from .table import SETS


@dataclass
class Report:
    name: str
    status: str  # ok | broken | not-found | embedded
    layout: str = ""
    rule: str = ""
    folder: str = ""
    found: int = 0
    expected: int | None = 0
    problems: list[Problem] = field(default_factory=list)
    message: str = ""
    split: str = "test"
    clean_found: int = 0  # distinct clean files among the pairs
    decoded: int | None = None  # pairs decoded when fewer than found (a --limit sample)
    unit: str = "pairs"  # "images" for clean-only sets

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "embedded")

    def lines(self) -> list[str]:
        if self.status == "not-found":
            message = self.message.removeprefix(f"{self.name}: ")
            return [f"{self.name}: NOT FOUND: {message}"]
        if self.status == "embedded":
            return [f"{self.name}: ok (embedded set, {self.found} pairs made in memory; no files to check)"]
        head = f"{self.name}: {'ok' if self.status == 'ok' else 'BROKEN'}"
        if self.expected is None:
            more = f"{self.clean_found} distinct clean images; " if self.unit == "pairs" else ""
            count = f"  {self.unit}: {self.found} found ({more}no fixed count)"
        else:
            count = f"  {self.unit}: {self.found} found / {self.expected} expected"
        out = [f"{head}  layout {self.layout} at {self.folder} ({self.rule})", count]
        if self.decoded is not None:
            out.append(f"  decoded: a sample of {self.decoded} of {self.found} {self.unit} (--limit); the others "
                       "were listed by name only")
        out += [f"  - {p.line()}" for p in self.problems]
        return out


class _Decoded:
    """Decode each file once per command (families share files: cbsd68-s15/25/50, gopro sets)."""

    def __init__(self):
        self._cache: dict[Path, tuple[tuple[int, int] | None, str | None]] = {}

    def __call__(self, path: Path) -> tuple[tuple[int, int] | None, str | None]:
        if path not in self._cache:
            from .images import decode, verify

            reason = verify(path)
            size = None
            if reason is None:
                image, _ = decode(path)
                size = (image.shape[1], image.shape[0])
            self._cache[path] = (size, reason)
        return self._cache[path]


def sample(items: list, limit: int | None) -> list:
    """At most ``limit`` items spread evenly over ``items`` (every k-th, from the first); all if no limit."""
    if limit is None or len(items) <= limit:
        return list(items)
    step = -(-len(items) // max(limit, 1))
    return list(items[::step])[:limit]


def deep_problems(scan: Scan, decoded: _Decoded | None = None, limit: int | None = None,
                  progress=None) -> list[Problem]:
    """Unreadable/truncated images and size mismatches among ``scan``'s complete pairs (a ``limit``
    sample of them); ``progress(done, total)`` is called after each pair."""
    decoded = decoded or _Decoded()
    problems = []
    pairs = sample(scan.pairs, limit)
    for done, fp in enumerate(pairs, 1):
        if progress is not None:
            progress(done, len(pairs))
        sizes = {}
        for path in (fp.degraded, fp.clean):
            if path is None:
                continue
            size, reason = decoded(path)
            rel = scan.rel(path)
            if reason is not None:
                problems.append(Problem("unreadable", rel, f"{rel}: {reason}", fp.image_id))
            sizes[rel] = size
        if fp.degraded is not None and None not in sizes.values() and len(set(sizes.values())) > 1:
            (d, ds), (c, cs) = sizes.items()
            problems.append(
                Problem("size-mismatch", d, f"{d} is {ds[0]}x{ds[1]} but {c} is {cs[0]}x{cs[1]}", fp.image_id)
            )
    return problems


def check_set(name: str, options, decoded: _Decoded | None = None, limit: int | None = None,
              progress=None) -> Report:
    """Check one registered (or ``hf:``) set; never raises for a missing or broken set. ``limit``:
    decode at most that many pairs (an even sample); ``progress(name, done, total)`` as it goes."""
    if name.startswith("hf:"):
        return _check_hf(name, options)
    if name not in SETS:
        from bench.datasets import get_dataset

        dataset = get_dataset(name, options)  # embedded: unknown names raise the did-you-mean error
        return Report(name, "embedded", found=len(dataset), expected=len(dataset))
    spec = SETS[name]
    from . import gldv2

    if name in gldv2.LISTS:  # millions of files: counted from the index, a sample decoded
        return gldv2.check(spec, options, decoded, limit, progress)
    try:
        scan = scan_set(spec, options)
    except UserError as exc:
        return Report(name, "not-found", expected=spec.count, message=str(exc), split=spec.split)
    step = None if progress is None else (lambda done, total: progress(name, done, total))
    problems = scan.problems + deep_problems(scan, decoded, limit, step)
    return Report(
        name,
        "broken" if problems else "ok",
        layout=scan.layout.name,
        rule=scan.layout.rule.describe,
        folder=str(scan.folder),
        found=len(scan.pairs),
        expected=spec.count,
        problems=problems,
        split=spec.split,
        clean_found=len({p.clean for p in scan.pairs}),
        decoded=len(sample(scan.pairs, limit)) if limit is not None and len(scan.pairs) > limit else None,
        unit="pairs" if scan.layout.rule.target is not None else "images",
    )


def _check_hf(name: str, options) -> Report:
    from .hf import load_hf

    try:
        dataset = load_hf(name, options)
    except UserError as exc:
        return Report(name, "not-found", message=str(exc))
    problems = []
    for image_id in dataset.image_ids():
        try:
            dataset.load(image_id)
        except Exception as exc:  # report, do not stop
            problems.append(Problem("unreadable", image_id, f"{image_id}: {exc}", image_id))
    n = len(dataset)
    return Report(name, "broken" if problems else "ok", layout="huggingface", rule="rows degraded/clean/image_id",
                  folder=str(dataset.folder or dataset.ref), found=n, expected=n, problems=problems)
