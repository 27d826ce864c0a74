"""Google Landmarks Dataset v2 (GLDv2) train images as clean corpora: ``gldv2-train`` (the images
``train.csv`` lists, about 4.1M) and ``gldv2-train-clean`` (the cleaned subset ``train_clean.csv``
lists, about 1.6M).

Official layout (cvdfoundation/google-landmark, ``download-dataset.sh``): the set's folder holds
``train/`` with the 500 ``images_NNN.tar`` shards extracted in it, each image at
``train/<a>/<b>/<c>/<id>.jpg`` (``id``: 16 lowercase hex digits; ``a``, ``b``, ``c``: its first
three), and the metadata ``train.csv`` (``id,url,landmark_id``) and ``train_clean.csv``
(``landmark_id,images``, the images a space-separated list of ids) beside ``train/`` (or in
``metadata/`` or in ``train/``). Each set needs only its own list.

**The index.** Listing millions of files takes minutes, so it is done once: the names found under
``train/`` are parsed to uint64 ids, each list is intersected with them, and each set's ids are
saved as a sorted ``.npy`` array (8 bytes an image) that every reader memory-maps
(:class:`abair.train.sources.HexIdSource` derives the path from the id): loader workers share its
pages instead of each holding millions of path strings. The index lives in ``<folder>/.abair-index/``
when that can be written, else in ``$XDG_CACHE_HOME/abair-bench/gldv2-<hash of the folder>/``
(``~/.cache`` without ``XDG_CACHE_HOME``). Its key is the size and modification time of the lists
and the modification and change times of ``train/`` and its 4,368 hex sub-folders, found by their
derived names (checking the key lists no folder): extracting another shard (which adds files to
leaf folders, changing their times even where tar restores the recorded modification time) or
editing a list rebuilds the index on the next open.

The shard an image comes from cannot be told from its id (the tar files are not split by id), so a
check names how many listed images are missing, examples, and the leaf folders that hold none of
their listed images; the official download script, run again, fetches, verifies (md5) and extracts
the shards again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

from abair.errors import UserError

#: set name -> the metadata list that names its images
LISTS = {"gldv2-train": "train.csv", "gldv2-train-clean": "train_clean.csv"}
LIST_URL = "https://s3.amazonaws.com/google-landmark/metadata/{}"
IMAGES = "train"
RULE = "train/<a>/<b>/<c>/<16 hex id>.jpg"
INDEX_DIR = ".abair-index"
VERSION = 1
#: images decoded by 'datasets check' without --limit (a full decode of millions takes hours)
CHECK_SAMPLE = 1000

_HEX = "0123456789abcdef"
_NAME = re.compile(r"[0-9a-f]{16}\.jpg")
_ID = re.compile(r"[0-9a-f]{16}")


def id_path(value: int) -> str:
    """The path of image id ``value`` (uint64) relative to the set's folder."""
    h = f"{int(value):016x}"
    return f"{IMAGES}/{h[0]}/{h[1]}/{h[2]}/{h}.jpg"


def leaf_folders() -> list[str]:
    """``a/b/c`` of the 4,096 leaf folders, in order."""
    return [f"{a}/{b}/{c}" for a in _HEX for b in _HEX for c in _HEX]


def list_file(folder: Path, name: str) -> Path | None:
    """Where the metadata list ``name`` lies: beside ``train/``, in ``metadata/`` or in ``train/``."""
    for where in (folder, folder / "metadata", folder / IMAGES):
        if (where / name).is_file():
            return where / name
    return None


def _times(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_ctime_ns]


def index_key(folder: Path) -> str:
    """What the index depends on (see the module docstring), hashed."""
    images = folder / IMAGES
    parts: list = [VERSION, str(folder.resolve())]
    for name in LISTS.values():
        path = list_file(folder, name)
        st = os.stat(path) if path else None
        parts.append([str(path), st.st_size, st.st_mtime_ns] if st else None)
    parts.append(_times(images))
    for a in _HEX:
        top = _times(images / a)
        parts.append(top)
        if top is None:
            continue
        for b in _HEX:
            mid = _times(images / a / b)
            parts.append(mid)
            if mid is not None:
                parts += [_times(images / a / b / c) for c in _HEX]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def cache_dirs(folder: Path) -> list[Path]:
    """The index's folder beside the data, then the per-user cache folder."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return [folder / INDEX_DIR, base / "abair-bench" / f"gldv2-{tag}"]


class Index:
    """An opened index: ``meta`` per set (counts, problems), ``ids_file(name)`` its sorted ids."""

    def __init__(self, folder: Path, where: Path, meta: dict):
        self.folder, self.where, self.meta = folder, where, meta

    def ids_file(self, name: str) -> Path:
        return self.where / f"{name}.npy"

    def set_meta(self, name: str) -> dict:
        """The set's counts and problems; one-line UserError when its list is missing."""
        info = self.meta["sets"].get(name)
        if info is None:
            raise UserError(f"{name}: {LISTS[name]} is not in {self.folder} (nor in its metadata/ or {IMAGES}/ "
                            f"folder); download it from {LIST_URL.format(LISTS[name])} (the download script "
                            "fetches the images only)")
        return info


def open_index(folder: str | Path, log=None) -> Index:
    """The index of the GLDv2 folder ``folder`` (holding ``train/``): reused when its key matches,
    else built (minutes for millions of files) and saved. ``log``: called with one line when a build
    starts and ends (default: stderr)."""
    folder = Path(folder)
    key = index_key(folder)
    for where in cache_dirs(folder):
        meta = _load_meta(where)
        if meta and meta.get("key") == key and all((where / f"{n}.npy").is_file() for n in meta["sets"]):
            return Index(folder, where, meta)
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    started = time.perf_counter()
    log(f"gldv2: indexing {folder / IMAGES} once (4,096 folders; the index is reused until the folder changes)")
    meta, arrays = _build(folder)
    meta["key"] = key
    where = _save(folder, meta, arrays)
    log(f"gldv2: indexed {meta['on_disk']:,} images in {time.perf_counter() - started:.0f} s -> {where}")
    return Index(folder, where, meta)


def _load_meta(where: Path) -> dict | None:
    try:
        return json.loads((where / "meta.json").read_text())
    except (OSError, ValueError):
        return None


def _walk(images: Path):
    """The ids of every ``a/b/c/<id>.jpg`` under ``images`` (sorted uint64) and the files off the rule."""
    from array import array

    import numpy as np

    ids = array("Q")
    odd: list[str] = []
    n_odd = 0
    for leaf in leaf_folders():
        prefix = leaf.replace("/", "")
        try:
            with os.scandir(images / leaf) as it:
                for entry in it:
                    name = entry.name
                    if _NAME.fullmatch(name) and name.startswith(prefix) and entry.is_file():
                        ids.append(int(name[:16], 16))
                    elif not name.startswith("."):
                        n_odd += 1
                        if len(odd) < 3:
                            odd.append(f"{IMAGES}/{leaf}/{name}")
        except (FileNotFoundError, NotADirectoryError):
            continue
    return np.unique(np.frombuffer(ids, dtype=np.uint64)), n_odd, odd


def _parse_ids(path: Path, clean: bool):
    """The ids of ``train.csv`` (first column) or ``train_clean.csv`` (space-separated second column)."""
    from array import array

    import numpy as np

    ids = array("Q")
    want = "landmark_id,images" if clean else "id,"
    with open(path, encoding="utf-8", errors="replace") as f:
        header = f.readline().strip()
        if not header.startswith(want):
            raise UserError(f"{path}: the first line should start with '{want}' (the official header), got "
                            f"'{header[:60]}'")
        for number, line in enumerate(f, 2):
            if not line.strip():
                continue
            fields = line.split(",", 1)
            values = fields[1].strip().strip('"').split() if clean and len(fields) > 1 else [fields[0]]
            for value in values:
                if not _ID.fullmatch(value):
                    raise UserError(f"{path}, line {number}: '{value[:40]}' is not a 16-digit hex image id")
                ids.append(int(value, 16))
    return np.unique(np.frombuffer(ids, dtype=np.uint64))


def _examples(values, n: int = 3) -> list[str]:
    return [id_path(v) for v in values[:n]]


def _build(folder: Path) -> tuple[dict, dict]:
    import numpy as np

    found, n_odd, odd = _walk(folder / IMAGES)
    meta: dict = {"version": VERSION, "on_disk": int(len(found)), "unexpected": n_odd, "unexpected_examples": odd,
                  "sets": {}}
    arrays = {}
    leaves_found = np.unique(found >> np.uint64(52))
    for name, listed_name in LISTS.items():
        path = list_file(folder, listed_name)
        if path is None:
            continue
        listed = _parse_ids(path, clean=listed_name != "train.csv")
        chosen = np.intersect1d(listed, found, assume_unique=True)
        missing = np.setdiff1d(listed, found, assume_unique=True)
        empty = np.setdiff1d(np.unique(missing >> np.uint64(52)), leaves_found, assume_unique=True)
        info = {"list": str(path.relative_to(folder)), "listed": int(len(listed)), "found": int(len(chosen)),
                "missing": int(len(missing)), "missing_examples": _examples(missing),
                "empty_leaves": int(len(empty)),
                "empty_leaf_examples": [f"{IMAGES}/{'/'.join(f'{int(v):03x}')}" for v in empty[:5]]}
        if listed_name == "train.csv":  # every image on disk should be listed there
            extra = np.setdiff1d(found, listed, assume_unique=True)
            info.update(not_listed=int(len(extra)), not_listed_examples=_examples(extra))
        meta["sets"][name] = info
        arrays[name] = chosen
    return meta, arrays


def _save(folder: Path, meta: dict, arrays: dict) -> Path:
    """Write the arrays, then ``meta.json`` (last: a half-written index is never trusted), into the first
    cache folder that can be written; atomic renames, so concurrent builders do no harm."""
    import numpy as np

    errors = []
    for where in cache_dirs(folder):
        try:
            where.mkdir(parents=True, exist_ok=True)
            tag = f"{os.getpid()}-{time.time_ns()}"
            for name, values in arrays.items():
                tmp = where / f".{name}.{tag}.npy"
                np.save(tmp, np.ascontiguousarray(values, dtype=np.uint64))
                os.replace(tmp, where / f"{name}.npy")
            tmp = where / f".meta.{tag}.json"
            tmp.write_text(json.dumps(meta, indent=1) + "\n")
            os.replace(tmp, where / "meta.json")
            return where
        except OSError as exc:
            errors.append(f"{where}: {exc.strerror or exc}")
    raise UserError(f"gldv2: the file index could not be written ({'; '.join(errors)}); make one of these "
                    "folders writable or set XDG_CACHE_HOME to a writable folder")


def problems(name: str, index: Index) -> list:
    """The set's problems as :class:`~.scan.Problem` lines (missing images, files off the rule, images
    not listed in train.csv)."""
    from .scan import Problem

    info = index.set_meta(name)
    out = []
    if info["missing"]:
        leaves = ""
        if info["empty_leaves"]:
            leaves = (f"; {info['empty_leaves']} leaf folders hold none of their listed images (e.g. "
                      f"{', '.join(info['empty_leaf_examples'][:3])})")
        out.append(Problem(
            "missing-images", info["missing_examples"][0],
            f"{info['missing']:,} of the {info['listed']:,} images {info['list']} lists are not on disk (e.g. "
            f"{', '.join(info['missing_examples'])}){leaves}; the shard (images_NNN.tar) of an image cannot be told "
            "from its id: run the official download script again (it fetches, checks and extracts every shard)"))
    if index.meta["unexpected"]:
        out.append(Problem(
            "unexpected-file", index.meta["unexpected_examples"][0],
            f"{index.meta['unexpected']:,} files do not follow the naming rule '{RULE}' (e.g. "
            f"{', '.join(index.meta['unexpected_examples'])})"))
    if info.get("not_listed"):
        out.append(Problem(
            "not-listed", info["not_listed_examples"][0],
            f"{info['not_listed']:,} images are not listed in {info['list']} (e.g. "
            f"{', '.join(info['not_listed_examples'])})"))
    return out


def _locate(spec, options) -> tuple:
    from .scan import locate

    layout, folder, _tree = locate(spec, options)
    return layout, folder


def find(spec, options, allow_partial: bool = False):
    """The :class:`~bench.datasets.training.TrainingFiles` of a GLDv2 set: its images as a
    memory-mapped :class:`~abair.train.sources.HexIdSource` (``source``), never a list of paths."""
    from abair.train.sources import HexIdSource
    from bench.datasets.training import TrainingFiles

    layout, folder = _locate(spec, options)
    index = open_index(folder)
    info = index.set_meta(spec.name)
    found = problems(spec.name, index)
    if found and not allow_partial:
        raise UserError(f"{spec.name}: {'; '.join(p.detail for p in found)} under {folder} (layout {layout.name}); "
                        f"fix the files (see 'abair-bench datasets check {spec.name}') or pass --allow-partial")
    if not info["found"]:
        raise UserError(f"{spec.name}: none of the {info['listed']:,} images {info['list']} lists is under "
                        f"{folder / IMAGES} (rule '{RULE}')")
    return TrainingFiles(name=spec.name, kind="clean", degradations=spec.degradations, clean=(), pairs=(),
                         folder=folder, layout=layout.name, expected=info["listed"], split=spec.split,
                         problems=tuple(p.line() for p in found),
                         source=HexIdSource(folder / IMAGES, index.ids_file(spec.name)))


def check(spec, options, decoded=None, limit: int | None = None, progress=None):
    """``datasets check`` of a GLDv2 set: counts from the index, its problems, and the decode of an
    even sample of ``limit`` images (default :data:`CHECK_SAMPLE`)."""
    import numpy as np

    from .check import Report, deep_problems
    from .scan import FilePair, Scan

    try:
        layout, folder = _locate(spec, options)
        index = open_index(folder)
        info = index.set_meta(spec.name)
    except UserError as exc:
        return Report(spec.name, "not-found", expected=spec.count, message=str(exc), split=spec.split)
    ids = np.load(index.ids_file(spec.name), mmap_mode="r") if info["found"] else np.zeros(0, np.uint64)
    n = CHECK_SAMPLE if limit is None else limit
    step = max(1, -(-len(ids) // max(n, 1)))
    chosen = ids[::step][:n]
    scan = Scan(spec, layout, folder, pairs=[FilePair(f"{int(v):016x}", clean=folder / id_path(v)) for v in chosen])
    tick = None if progress is None else (lambda done, total: progress(spec.name, done, total))
    found = problems(spec.name, index) + deep_problems(scan, decoded, None, tick)
    return Report(spec.name, "broken" if found else "ok", layout=layout.name, rule=f"{RULE}, listed in {info['list']}",
                  folder=str(folder), found=info["found"], expected=info["listed"], problems=found, split=spec.split,
                  clean_found=info["found"], decoded=len(chosen) if len(chosen) < info["found"] else None,
                  unit="images")
