"""The training data's fingerprint: has it changed since a training folder started?

A fingerprint is cheap: no image is read. For each part of :class:`~abair.train.inputs.TrainData`
(``clean``, and ``train.<degradation>`` per training set) it is the number of files and a SHA-256
over the sorted ``(name relative to the part's common folder, size in bytes, mtime in ns)`` of every
file the part's sources list (a folder-backed source such as a saved Hugging Face dataset lists its
folder). Relative names keep it the same when the data root moves; a file added, removed, renamed,
rewritten or touched changes it. The embedded train pool (no files) has none.

:func:`check_data` records the fingerprints in ``folder/data.json`` when a training command starts
(parts it does not read keep their record) and, on resume, first refuses a part whose files changed
unless the change is allowed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from abair.errors import UserError

DATA_FILE = "data.json"


def _files(source: Any) -> list[str] | None:
    """The files behind ``source`` (duck-typed over the sources of :mod:`abair.train.sources` and the
    benchmark's dataset-backed ones); None when it has none (images in memory)."""
    if source is None:
        return None
    if hasattr(source, "paths"):  # FileSource
        return [str(p) for p in source.paths]
    if hasattr(source, "sources"):  # ConcatSource
        parts = [_files(s) for s in source.sources]
        return None if all(p is None for p in parts) else [f for p in parts if p for f in p]
    if hasattr(source, "degraded") and hasattr(source, "clean"):  # PairSource
        parts = [_files(source.degraded), _files(source.clean)]
        return None if all(p is None for p in parts) else [f for p in parts if p for f in p]
    dataset = getattr(source, "dataset", None)  # a benchmark test set used as training pairs
    scan = getattr(dataset, "scan", None)
    if scan is not None:
        return [str(f) for pair in scan.pairs for f in (pair.clean, pair.degraded) if f is not None]
    folder = getattr(dataset, "folder", None) or getattr(source, "ref", None)  # a dataset saved to disk
    if folder and Path(folder).is_dir():
        return [str(p) for p in sorted(Path(folder).rglob("*")) if p.is_file()]
    return None


def fingerprint(source: Any) -> dict[str, Any] | None:
    """``{"files": N, "sha256": hex}`` of a source's files (see the module docstring), or None."""
    files = _files(source)
    if files is None:
        return None
    files = sorted(set(os.path.abspath(f) for f in files))
    root = os.path.commonpath(files) if files else ""
    if len(files) == 1:
        root = os.path.dirname(root)
    digest = hashlib.sha256()
    for path in files:
        try:
            st = os.stat(path)
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size, mtime = -1, -1  # gone: the digest says so
        digest.update(f"{os.path.relpath(path, root)}\0{size}\0{mtime}\n".encode())
    return {"files": len(files), "sha256": digest.hexdigest()}


def fingerprints(data) -> dict[str, dict[str, Any]]:
    """The fingerprint of each part of a :class:`~abair.train.inputs.TrainData` (None: the embedded pool)."""
    if data is None:
        return {}
    parts = {"clean": data.clean, **{f"train.{name}": source for name, source in data.tasks.items()}}
    out = {}
    for key, source in parts.items():
        value = fingerprint(source)
        if value is not None:
            out[key] = value
    return out


def check_data(folder: str | Path, data, resume: bool, allow_change: bool = False) -> dict[str, dict[str, Any]]:
    """Record the data's fingerprints in ``folder/data.json``; on ``resume``, first refuse (UserError)
    a part recorded before whose files changed, unless ``allow_change``. Returns what was written."""
    path = Path(folder) / DATA_FILE
    now = fingerprints(data)
    before: dict[str, Any] = {}
    if path.is_file():
        try:
            before = json.loads(path.read_text()).get("parts", {})
        except (ValueError, AttributeError):
            before = {}
    if resume and not allow_change:
        for key, value in now.items():
            old = before.get(key)
            if old is not None and old != value:
                raise UserError(f"the training data changed since this training started: {key} has {value['files']} "
                                f"files, {old['files']} then (fingerprints in {path} differ); resume with the "
                                "same data, or allow the data change to go on with it")
    recorded = {**before, **now}  # parts this command does not read keep their record
    Path(folder).mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"parts": recorded}, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return recorded
