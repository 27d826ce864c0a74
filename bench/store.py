"""The run store: ``records.csv`` (long/tidy, append-only) and ``manifest.json`` in one directory.

Crash safety: all rows of one image are formatted first and written with a single ``os.write`` on
an ``O_APPEND`` descriptor, so ``kill -9`` can lose only the image in flight. Should a write ever be
cut short (full disk), the trailing partial line is ignored by every reader (with one line on
stderr) and removed only by the next writer, which holds the directory's lock
(:mod:`bench.runlock`). Readers open the files read-only: a report never changes a run store.
A rerun into the same directory reads what is done and skips it; an image missing any of its
(protocol, metric) rows, or holding a ``nan`` value, is recomputed and only those rows are appended.
Rows with the same key (method, dataset, image, protocol, metric) are read once: a number wins over
``nan`` (a recomputed row replaces its ``nan`` row), else the first row is kept, with a warning.
A row that is not 11 fields, or whose value, seconds, height or width is not a number, is one error
line naming the file and line. Writers never write through a symbolic link (git-annex and DVC
checkouts leave files as links): a linked store file or folder is refused. ``configs.json`` repeats
the method configs and data hashes of the manifest, so a lost ``manifest.json`` still guards them.
Saved restorations go to ``images/<method>/<dataset>/<file>`` with names from :func:`file_stem`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import string
import sys
from collections.abc import Iterable
from pathlib import Path

from abair.errors import UserError

COLUMNS = (
    "run_id", "method", "dataset", "task", "image_id", "protocol", "metric", "value", "seconds", "height", "width",
)
KEY_COLUMNS = ("method", "dataset", "image_id", "protocol", "metric")
HEADER = ",".join(COLUMNS) + "\n"
RECORDS = "records.csv"
MANIFEST = "manifest.json"
CONFIGS = "configs.json"
SHARDS = "shards"
IMAGES = "images"
#: the numeric columns and their types (every reader checks them)
NUMERIC = {"value": float, "seconds": float, "height": int, "width": int}
#: the longest file or folder name (without ``.png``) :func:`file_stem` gives, in characters
NAME_MAX = 100
_SAFE = frozenset(string.ascii_letters + string.digits + "-+._")
_HASHED = re.compile(r"-[0-9a-f]{12}$")
#: what a run manifest's top-level keys hold (a writer needs them all; a report reads what is there)
MANIFEST_KEYS = {"run_id": str, "methods": dict, "datasets": dict, "protocols": dict, "invocations": list}


def warn(message: str) -> None:
    """One warning line on stderr."""
    print(f"abair-bench: warning: {message}", file=sys.stderr)


def refuse_link(path: Path) -> None:
    """UserError when ``path`` is a symbolic link: a writer never writes through one (a linked
    ``records.csv`` of a git-annex or DVC checkout would append into the shared object)."""
    if os.path.islink(path):
        raise UserError(f"{path} is a symbolic link (to {os.readlink(path)}); a run never writes through links: "
                        "replace it by a copy of its target (git annex unlock, dvc unprotect) or use a new --out")


def file_stem(name: str) -> str:
    """A method name, dataset name or image id as one safe file or folder name (without ``.png``).

    A name of ASCII letters, digits and ``-+._``, not starting with ``.``, at most :data:`NAME_MAX`
    characters and not ending like a hashed name stays as it is; any other gets its unsafe characters
    replaced by ``_``, is cut to fit and ends in ``-`` plus the first 12 hex digits of the SHA-256 of
    the whole name (``../x`` -> ``_._x-<hash>``, ``hf:/data/x`` -> ``hf__data_x-<hash>``), so two
    names never share a file. Every writer and reader of saved images uses it.
    """
    stem = "".join(c if c in _SAFE else "_" for c in name)
    if stem.startswith("."):
        stem = "_" + stem[1:]
    if stem == name and 0 < len(name) <= NAME_MAX and not _HASHED.search(name):
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{stem[: NAME_MAX - 13] or '_'}-{digest}"


def image_file(image_id: str) -> str:
    """The saved restoration's file name of an image id (see :func:`file_stem`)."""
    return f"{file_stem(image_id)}.png"


def image_path(images_dir: str | os.PathLike, method: str, dataset: str, image_id: str) -> Path:
    """``images_dir/<method>/<dataset>/<file>.png``: where a run saves (and a report finds) a restoration."""
    return Path(images_dir) / file_stem(method) / file_stem(dataset) / image_file(image_id)


def writable_image_path(images_dir: str | os.PathLike, method: str, dataset: str, image_id: str) -> Path:
    """:func:`image_path`, its folders created; UserError when the file or a folder is a symbolic link."""
    path = image_path(images_dir, method, dataset, image_id)
    for folder in (path.parents[2], path.parents[1], path.parent):
        refuse_link(folder)
        folder.mkdir(exist_ok=True)
    refuse_link(path)
    return path


def renamed_images(image_ids: Iterable[str]) -> dict[str, str]:
    """``{image id: file name}`` of the ids whose saved file is not ``<id>.png`` (for the manifest)."""
    return {i: image_file(i) for i in image_ids if image_file(i) != f"{i}.png"}


def parse_rows(text: str, path: Path) -> list[dict]:
    """The rows (dicts of strings) of records text whose header was checked; UserError naming the
    line when a row is not 11 fields or a numeric column (:data:`NUMERIC`) holds no number."""
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    rows = []
    for fields in reader:
        if len(fields) != len(COLUMNS):
            _bad_row(path, reader.line_num, f"has {len(fields)} fields, not {len(COLUMNS)}")
        row = dict(zip(COLUMNS, fields, strict=True))
        for column, kind in NUMERIC.items():
            try:
                kind(row[column])
            except ValueError:
                _bad_row(path, reader.line_num, f"has {column} '{row[column][:40]}', not a number")
        rows.append(row)
    return rows


def _bad_row(path: Path, line: int, what: str) -> None:
    raise UserError(f"{path} line {line} {what}: the file was changed by hand or by another program; delete "
                    "that line (a rerun of 'abair-bench run' recomputes its image) or use another run directory")


def is_done(row: dict) -> bool:
    """Whether a record counts as done: its value is a number other than ``nan`` (``inf``, the PSNR
    of identical images, is done); a ``nan`` row is recomputed by the next run."""
    return not math.isnan(float(row["value"]))


def manifest_problem(manifest, complete: bool) -> str | None:
    """What makes ``manifest`` (parsed JSON) no run manifest, or None: not an object, or a top-level
    key (:data:`MANIFEST_KEYS`) of another type; ``complete``: every key must be there (a writer)."""
    if not isinstance(manifest, dict):
        return f"it holds a JSON {type(manifest).__name__}, not an object"
    for key, kind in MANIFEST_KEYS.items():
        if key not in manifest:
            if complete:
                return f"it has no '{key}'"
        elif not isinstance(manifest[key], kind):
            return f"its '{key}' is {json.dumps(manifest[key])[:40]}, not a JSON {kind.__name__}"
    return None


def read_json(path: Path, what_to_do: str):
    """The parsed JSON of ``path`` (None when absent); UserError naming it when it is not valid JSON."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); {what_to_do}") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}; {what_to_do}") from None


def read_complete(path: Path, quiet: bool = False) -> str:
    """The text of a records file up to its last newline (read-only); a partial last line is ignored
    with one warning line (none when ``quiet``, or when no line is complete: the caller decides)."""
    with open(path, "rb") as fh:
        data = fh.read()
    end = data.rfind(b"\n") + 1
    if 0 < end < len(data) and not quiet:
        warn(f"{path} ends in a partial line (a write cut short: {len(data) - end} bytes); it is ignored, "
             "and the next run into this directory recomputes its image")
    return data[:end].decode("utf-8", errors="replace")


def _header_of(text: str, path: Path) -> None:
    """UserError unless ``text`` (complete lines) is empty or starts with the records header."""
    header = text.split("\n", 1)[0]
    if text and header != HEADER.rstrip("\n"):
        raise UserError(f"{path} is not an abair-bench records file (header '{header[:120]}'); use a new --out")


class RecordFile:
    """One append-only CSV of records (the run's ``records.csv`` or one rank's shard).

    Opening creates the file with its header when missing and checks the header otherwise; it
    changes nothing else. :meth:`repair` (writers only, under the run's lock) drops a partial last line.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        refuse_link(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # only the process that creates the file writes its header (torchrun ranks open it at once)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            _header_of(read_complete(self.path, quiet=True), self.path)
        except OSError as exc:
            raise UserError(f"cannot create {self.path}: {exc.strerror or exc}; use a run directory you can "
                            "write to") from None
        else:
            try:
                os.write(fd, HEADER.encode())
            finally:
                os.close(fd)

    def repair(self) -> int:
        """Drop a trailing partial line (no final newline) left by an interrupted write; returns the
        number of bytes dropped. Only the writer holding the run's lock calls this (and so learns at
        once when the file cannot be written)."""
        with os.fdopen(self._open(os.O_RDWR), "rb+") as fh:
            data = fh.read()
            keep = data.rfind(b"\n") + 1
            if keep < len(data):
                fh.truncate(keep)
        return len(data) - keep

    def _open(self, flags: int) -> int:
        """A descriptor on the file itself, never through a symbolic link; UserError when it cannot be written."""
        refuse_link(self.path)
        try:
            return os.open(self.path, flags | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise UserError(f"cannot write {self.path}: {exc.strerror or exc}; make it writable (chmod u+w) or "
                            "use a new --out") from None

    def _write_text(self, text: str) -> None:
        fd = self._open(os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            if os.fstat(fd).st_size == 0:  # created but left empty by a crash: each file has one writer
                text = HEADER + text
            data = text.encode()
            written = os.write(fd, data)
            if written != len(data):  # pragma: no cover - only on a full disk
                raise OSError(f"short write to {self.path}")
        finally:
            os.close(fd)

    def append(self, rows: Iterable[dict]) -> None:
        """Append rows (dicts with :data:`COLUMNS` keys) in one write."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        for row in rows:
            writer.writerow([_fmt(row[c]) for c in COLUMNS])
        if buf.tell():
            self._write_text(buf.getvalue())

    def rows(self) -> list[dict]:
        """Every complete row as strings (a partial last line is ignored with a warning; a damaged row
        is a UserError, see :func:`parse_rows`)."""
        return parse_rows(read_complete(self.path), self.path)

    def done_keys(self) -> set[tuple[str, ...]]:
        """``(method, dataset, image_id, protocol, metric)`` of every row that is done (:func:`is_done`)."""
        return {row_key(r) for r in self.rows() if is_done(r)}


def _fmt(value) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


class RunStore:
    """A run directory. ``shard`` (a rank number) selects ``shards/records-rank<k>.csv`` for writing.

    Opening creates the directory and an empty ``records.csv``; writing is for the holder of
    :meth:`lock` (under ``torchrun``, rank 0 holds it for the job).
    """

    def __init__(self, out_dir: str | os.PathLike, shard: int | None = None):
        self.root = Path(out_dir)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create run directory {self.root}: {exc.strerror or exc}; "
                            "give a folder path you can write to") from None
        self.records = RecordFile(self.root / RECORDS)
        if shard is not None:
            refuse_link(self.root / SHARDS)
        self.writer = self.records if shard is None else RecordFile(self.root / SHARDS / f"records-rank{shard}.csv")

    def lock(self):
        """The directory's exclusive writer lock (a context manager, see :mod:`bench.runlock`)."""
        from .runlock import RunLock

        return RunLock(self.root)

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def shard_files(self) -> list[RecordFile]:
        folder = self.root / SHARDS
        refuse_link(folder)
        return [RecordFile(p) for p in sorted(folder.glob("records-rank*.csv"))] if folder.is_dir() else []

    def done_keys(self) -> set[tuple[str, ...]]:
        """``(method, dataset, image_id, protocol, metric)`` of every done row (:func:`is_done`) in
        records.csv and the shards."""
        keys = self.records.done_keys()
        for shard in self.shard_files():
            keys |= shard.done_keys()
        return keys

    def has_records(self) -> bool:
        """Whether records.csv or a shard holds a complete row."""
        return any(f.rows() for f in (self.records, *self.shard_files()))

    def merge_shards(self) -> int:
        """Append shard rows not yet in ``records.csv`` (by record key; a done row also when
        records.csv has only a ``nan`` row of its key); returns the number added."""
        rows = self.records.rows()
        have, done = {row_key(r) for r in rows}, {row_key(r) for r in rows if is_done(r)}
        added = []
        for shard in self.shard_files():
            for row in shard.rows():
                key = row_key(row)
                if key in done or (key in have and not is_done(row)):
                    continue
                have.add(key)
                if is_done(row):
                    done.add(key)
                added.append(row)
        self.records.append(added)
        return len(added)

    def read_manifest(self) -> dict | None:
        """The manifest (None when absent); UserError when it is a link or no complete run manifest."""
        refuse_link(self.manifest_path)
        what_to_do = "restore it, or use a new --out"
        manifest = read_json(self.manifest_path, what_to_do)
        problem = manifest_problem(manifest, complete=True) if manifest is not None else None
        if problem:
            raise UserError(f"{self.manifest_path} is not a run manifest ({problem}); {what_to_do}")
        return manifest

    def write_manifest(self, manifest: dict) -> None:
        """Write atomically (temporary file + rename)."""
        self._write_json(self.manifest_path, manifest)

    @property
    def configs_path(self) -> Path:
        return self.root / CONFIGS

    def read_configs(self) -> dict | None:
        """``configs.json``: ``{"methods": {name: config}, "datasets": {name: {"sha256": ...}}}``
        of every record written (None when absent); UserError when it is a link or damaged."""
        refuse_link(self.configs_path)
        what_to_do = "restore it, or use a new --out"
        configs = read_json(self.configs_path, what_to_do)
        if configs is not None and not (isinstance(configs, dict) and isinstance(configs.get("methods"), dict)
                                        and isinstance(configs.get("datasets"), dict)):
            raise UserError(f"{self.configs_path} is not an abair-bench configs file (no 'methods' and 'datasets' "
                            f"objects); {what_to_do}")
        return configs

    def write_configs(self, configs: dict) -> None:
        """Write atomically (temporary file + rename)."""
        self._write_json(self.configs_path, configs)

    def _write_json(self, path: Path, obj) -> None:
        refuse_link(path)
        tmp = path.with_suffix(".json.tmp")
        try:
            if tmp.is_symlink():
                tmp.unlink()
            tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
            os.replace(tmp, path)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror or exc}; make {self.root} writable or use a new "
                            "--out") from None


def row_key(row: dict) -> tuple[str, ...]:
    """A record's identity: ``(method, dataset, image_id, protocol, metric)``."""
    return tuple(str(row[c]) for c in KEY_COLUMNS)


def load_records(run_dir: str | os.PathLike):
    """``records.csv`` of a run directory as a pandas DataFrame (value/seconds as float), read-only.

    A partial last line is ignored with one warning line; a damaged row is a UserError naming it
    (:func:`parse_rows`). Of the rows repeating a key (method, dataset, image_id, protocol, metric)
    one is kept: the first whose value is not ``nan`` (so a recomputed row replaces its ``nan`` row
    silently), else the first; dropping a second number is one warning line.
    """
    import pandas as pd

    path = Path(run_dir) / RECORDS
    if not path.is_file():
        raise UserError(f"{run_dir} has no {RECORDS}; is it a run directory written by 'abair-bench run'?")
    text = read_complete(path)
    if not text:
        raise UserError(f"{path} has no complete header line (the file was cut short); rerun 'abair-bench run' "
                        f"into {run_dir} to repair it, or give another run directory")
    _header_of(text, path)
    df = pd.DataFrame(parse_rows(text, path), columns=list(COLUMNS), dtype=str)
    df = df.astype({column: "float64" if kind is float else "int64" for column, kind in NUMERIC.items()})
    nan_first = df["value"].isna().sort_values(kind="stable").index  # numbers first, each in file order
    duplicated = df.loc[nan_first].duplicated(list(KEY_COLUMNS)).reindex(df.index)
    repeated = int((duplicated & df["value"].notna()).sum())
    if repeated:
        warn(f"{path} holds {repeated} row(s) repeating the key of an earlier row (method, dataset, "
             "image, protocol, metric), e.g. from two runs writing at once; the first of each is used")
    if duplicated.any():
        df = df[~duplicated].reset_index(drop=True)
    return df
