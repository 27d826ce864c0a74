"""Find a real test set on disk and pair its files by the rules of :mod:`.table` (names only).

Discovery order: ``--dataset-path NAME=PATH`` (or ``FAMILY=PATH``) first, trying every layout of the
set on that folder; otherwise every layout's folders under the data root, in table order. Path
components are matched case-insensitively (``rain100L`` finds ``Rain100L``). Nothing is decoded
here; :mod:`.check` decodes every image to find truncated files and size mismatches.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from abair.errors import UserError

from .table import IMAGE_EXTENSIONS, Layout, Rule, SetSpec

IGNORED_FILES = {"thumbs.db", "desktop.ini"}


@dataclass(frozen=True)
class FilePair:
    """One pair's files: ``clean`` always; ``degraded`` is None for clean-only sets."""

    image_id: str
    clean: Path
    degraded: Path | None = None


@dataclass(frozen=True)
class Problem:
    """Something wrong with a set's files; ``file`` is relative to the set's folder."""

    kind: str  # missing-partner | extra-file | unexpected-file | duplicate-id | count | size-mismatch | unreadable
    file: str
    detail: str
    image_id: str | None = None

    def line(self) -> str:
        return f"{self.kind}: {self.detail}"


@dataclass
class Scan:
    spec: SetSpec
    layout: Layout
    folder: Path
    pairs: list[FilePair] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        """Ids of degraded files whose clean partner is missing."""
        return [p.image_id for p in self.problems if p.kind == "missing-partner" and p.image_id]

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.folder).as_posix()
        except ValueError:
            return str(path)


def natural_key(text: str) -> list:
    """Sort key putting ``rain-2`` before ``rain-10`` (digit runs compare as numbers)."""
    return [(0, int(t), t) if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", text) if t]


def is_image_name(name: str) -> bool:
    if name.startswith(".") or name.lower() in IGNORED_FILES:
        return False
    return name.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS if "." in name else False


class _Tree:
    """Case-insensitive, cached directory lookups."""

    def __init__(self):
        self._cache: dict[Path, list[tuple[str, bool]]] = {}
        self._lower: dict[Path, dict[str, list[tuple[str, bool]]]] = {}

    def entries(self, folder: Path) -> list[tuple[str, bool]]:
        """``[(name, is_dir)]`` of ``folder`` (empty if unreadable)."""
        if folder not in self._cache:
            out: list[tuple[str, bool]] = []
            try:
                with os.scandir(folder) as it:
                    for e in it:
                        try:
                            out.append((e.name, e.is_dir()))
                        except OSError:
                            out.append((e.name, False))
            except OSError:
                pass
            self._cache[folder] = sorted(out)
        return self._cache[folder]

    def child(self, folder: Path, name: str) -> tuple[Path, bool] | None:
        """The entry ``name`` of ``folder``: the exact spelling if present, else a case variant."""
        if name in (".", ""):
            return folder, True
        if folder not in self._lower:  # an index, so that pairing 300k files stays linear
            index: dict[str, list[tuple[str, bool]]] = {}
            for entry in self.entries(folder):
                index.setdefault(entry[0].lower(), []).append(entry)
            self._lower[folder] = index
        hits = self._lower[folder].get(name.lower())
        if not hits:
            return None
        exact = [e for e in hits if e[0] == name]
        actual, is_dir = (exact or hits)[0]
        return folder / actual, is_dir

    def resolve(self, base: Path, rel: str, want_dir: bool | None = None) -> Path | None:
        path, is_dir = base, True
        for part in rel.split("/"):
            if not is_dir:
                return None
            hit = self.child(path, part)
            if hit is None:
                return None
            path, is_dir = hit
        if want_dir is not None and is_dir != want_dir:
            return None
        return path

    def glob(self, base: Path, pattern: str, files: bool = True) -> list[tuple[str, Path]]:
        """``(canonical relative path, actual path)`` for every match; literal components keep the
        pattern's spelling in the canonical path, ``*`` components the actual name. The last
        component matches image files (``files``) or folders."""
        level: list[tuple[str, Path]] = [("", base)]
        parts = pattern.split("/")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            want_dir = not (last and files)
            nxt = []
            for canon, folder in level:
                if part == "*":
                    for name, is_dir in self.entries(folder):
                        if is_dir != want_dir or name.startswith("."):
                            continue
                        if not is_dir and not is_image_name(name):
                            continue
                        nxt.append((f"{canon}/{name}" if canon else name, folder / name))
                else:
                    hit = self.child(folder, part)
                    if hit and hit[1] == want_dir and (want_dir or is_image_name(hit[0].name)):
                        nxt.append((f"{canon}/{part}" if canon else part, hit[0]))
            level = nxt
        return level


def rule_present(tree: _Tree, folder: Path, rule: Rule) -> bool:
    """A layout is present when the folder of any of its inputs globs exists (for a pattern without
    a folder part: when the set folder holds at least one image) and so does the fixed folder part
    of its clean-partner template (``gt/`` of ``gt/norain-{n}.png``)."""
    if rule.target is not None:
        head = rule.target.rpartition("/")[0]
        if head and "{" not in head and tree.resolve(folder, head, want_dir=True) is None:
            return False
    for pattern in rule.inputs:
        head, _, _tail = pattern.rpartition("/")
        if head:
            if tree.glob(folder, head, files=False):
                return True
        elif tree.glob(folder, pattern):
            return True
    return False


def _fields(canon: str, match: re.Match) -> dict[str, str]:
    name = canon.rsplit("/", 1)[-1]
    stem, _, ext = name.rpartition(".")
    return {"name": name, "stem": stem, "ext": ext, **{k: v for k, v in match.groupdict().items() if v is not None}}


def _resolve_target(tree: _Tree, folder: Path, rule: Rule, target_rel: str) -> tuple[Path | None, str]:
    """The clean partner named by ``target_rel`` (with ``rule.target_exts``: the first extension that
    exists) and the name to report when it is missing."""
    if not rule.target_exts:
        return tree.resolve(folder, target_rel, want_dir=False), target_rel
    for ext in rule.target_exts:
        hit = tree.resolve(folder, f"{target_rel}.{ext}", want_dir=False)
        if hit is not None:
            return hit, f"{target_rel}.{ext}"
    return None, f"{target_rel}.{{{','.join(rule.target_exts)}}}"


def _fullmatch(pattern: str | None):
    return re.compile(pattern, re.IGNORECASE).fullmatch if pattern else (lambda _text: None)


def pair_files(spec: SetSpec, layout: Layout, folder: Path, tree: _Tree | None = None) -> Scan:
    """Apply ``layout``'s rule to ``folder``: the complete pairs (natural order) and every problem."""
    tree = tree or _Tree()
    rule = layout.rule
    scan = Scan(spec, layout, folder)
    pattern = re.compile(rule.match, re.IGNORECASE)
    excluded, side = _fullmatch(rule.exclude), _fullmatch(rule.side)
    claimed: set[Path] = set()
    seen: dict[str, str] = {}
    listed: list[tuple[str, Path]] = []
    for glob in rule.inputs:
        listed += tree.glob(folder, glob)
    candidates = [(c, p) for c, p in listed if not excluded(c) and not side(c)]
    inputs = {p for _c, p in candidates}
    for canon, path in sorted(candidates, key=lambda c: natural_key(c[0])):
        m = pattern.fullmatch(canon)
        rel = scan.rel(path)
        if not m:
            scan.problems.append(Problem("unexpected-file", rel, f"{rel} does not follow the naming rule '{rule.describe}'"))
            continue
        fields = _fields(canon, m)
        image_id = rule.image_id.format(**fields)
        target = None
        if rule.target is not None:
            target, target_rel = _resolve_target(tree, folder, rule, rule.target.format(**fields))
            if target is None:
                scan.problems.append(
                    Problem("missing-partner", rel, f"{rel} has no clean partner {target_rel}", image_id)
                )
                continue
            claimed.add(target)
        if image_id in seen:
            scan.problems.append(
                Problem("duplicate-id", rel, f"{rel} and {seen[image_id]} both give image id '{image_id}'", image_id)
            )
            continue
        seen[image_id] = rel
        if target is None:
            scan.pairs.append(FilePair(image_id, clean=path))
        else:
            scan.pairs.append(FilePair(image_id, clean=target, degraded=path))
    if rule.target is not None and rule.extras:
        for canon, path in tree.glob(folder, rule.extras):
            if path not in claimed and path not in inputs and not side(canon):
                rel = scan.rel(path)
                scan.problems.append(Problem("extra-file", rel, f"{rel} has no degraded partner"))
    n_missing = sum(p.kind == "missing-partner" for p in scan.problems)
    found = len(scan.pairs)
    if spec.count is not None and found != spec.count and found + n_missing != spec.count:
        scan.problems.append(
            Problem("count", "", f"{found} complete pairs found, {spec.count} expected ({rule.describe})")
        )
    return scan


def _layout_summary(spec: SetSpec) -> str:
    return "; ".join(f"{lay.name}: {', '.join(lay.roots)}" for lay in spec.layouts)


def locate(spec: SetSpec, options) -> tuple[Layout, Path, _Tree]:
    """Find ``spec``'s folder and layout, or raise a one-line :class:`UserError` saying where we looked."""
    tree = _Tree()
    paths = options.dataset_paths or {}
    override = paths.get(spec.name) or paths.get(spec.family)
    if override:
        key = spec.name if spec.name in paths else spec.family
        folder = Path(override).expanduser()
        if not folder.is_dir():
            raise UserError(f"{spec.name}: --dataset-path {key}={override} is not a folder")
        for layout in spec.layouts:
            if rule_present(tree, folder, layout.rule):
                return layout, folder, tree
        rules = "; ".join(f"{lay.name}: {lay.rule.describe}" for lay in spec.layouts)
        raise UserError(
            f"{spec.name}: no known layout in --dataset-path {key}={folder} (looked for {rules}); "
            "see docs/DATASETS.md"
        )
    where = "" if spec.is_test or not spec.download else f"; get it from: {spec.download}"
    if not options.data_root:
        raise UserError(
            f"{spec.name}: no data root given; pass --data-root DIR (or set ABAIR_DATA) to the folder holding "
            f"the {'test' if spec.is_test else 'training'} sets, or --dataset-path {spec.family}=PATH (layouts "
            f"searched under the root: {_layout_summary(spec)}){where}"
        )
    root = Path(options.data_root).expanduser()
    if not root.is_dir():
        raise UserError(f"{spec.name}: data root {root} (from --data-root or ABAIR_DATA) is not a folder")
    for layout in spec.layouts:
        for rel in layout.roots:
            folder = tree.resolve(root, rel, want_dir=True)
            if folder is not None and rule_present(tree, folder, layout.rule):
                return layout, folder, tree
    raise UserError(
        f"{spec.name}: not found under data root {root} (searched {_layout_summary(spec)}); put it in one of "
        f"these places, pass --dataset-path {spec.family}=PATH, or point --data-root/ABAIR_DATA elsewhere "
        f"(see docs/DATASETS.md){where}"
    )


def scan_set(spec: SetSpec, options) -> Scan:
    layout, folder, tree = locate(spec, options)
    return pair_files(spec, layout, folder, tree)


_SUMMARY = {
    "missing-partner": "{n} of {expected} pairs missing their clean partner (e.g. {example})",
    "extra-file": "{n} clean files without a degraded partner (e.g. {example})",
    "unexpected-file": "{n} files not following the naming rule '{rule}' (e.g. {example})",
    "duplicate-id": "{n} duplicate image ids (e.g. {example})",
    "size-mismatch": "{n} pairs whose images differ in size (e.g. {example})",
    "unreadable": "{n} unreadable or truncated images (e.g. {example})",
}


def summarise_problems(scan: Scan, problems: list[Problem] | None = None) -> str:
    """One clause per kind of problem, e.g. ``3 of 100 pairs missing their clean partner (e.g. ...)``."""
    problems = scan.problems if problems is None else problems
    clauses = []
    for kind, template in _SUMMARY.items():
        hits = [p for p in problems if p.kind == kind]
        if hits:
            example = hits[0].file if kind != "missing-partner" else hits[0].detail.replace(" has no clean partner ", " -> ")
            clauses.append(
                template.format(n=len(hits), expected=scan.spec.count if scan.spec.count is not None else "the",
                                example=example, rule=scan.layout.rule.describe)
            )
    clauses += [p.detail for p in problems if p.kind == "count"]
    return "; ".join(clauses)


def broken_set_error(scan: Scan) -> UserError:
    return UserError(
        f"{scan.spec.name}: {summarise_problems(scan)} under {scan.folder} (layout {scan.layout.name}); fix the "
        f"files (see 'abair-bench datasets check {scan.spec.name}') or pass --allow-partial"
    )
