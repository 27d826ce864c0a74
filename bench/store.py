"""The run store: ``records.csv`` (long/tidy, append-only) and ``manifest.json`` in one directory.

Crash safety: all rows of one image are formatted first and written with a single ``os.write`` on
an ``O_APPEND`` descriptor, so ``kill -9`` can lose only the image in flight. Should a write ever be
cut short (full disk), the trailing partial line is ignored by every reader (with one line on
stderr) and removed only by the next writer, which holds the directory's lock
(:mod:`bench.runlock`). Readers open the files read-only: a report never changes a run store.
A rerun into the same directory reads what is done and skips it; an image missing any of its
(protocol, metric) rows is recomputed and only the missing rows are appended. Rows with the same key
(method, dataset, image, protocol, metric) are read once, the first kept, with a warning.
"""

from __future__ import annotations

import csv
import io
import json
import os
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
SHARDS = "shards"


def warn(message: str) -> None:
    """One warning line on stderr."""
    print(f"abair-bench: warning: {message}", file=sys.stderr)


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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # only the process that creates the file writes its header (torchrun ranks open it at once)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
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
        number of bytes dropped. Only the writer holding the run's lock calls this."""
        with open(self.path, "rb+") as fh:
            data = fh.read()
            keep = data.rfind(b"\n") + 1
            if keep < len(data):
                fh.truncate(keep)
        return len(data) - keep

    def _write_text(self, text: str) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
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
        """Every complete row (a partial last line is ignored with a warning)."""
        return list(csv.DictReader(io.StringIO(read_complete(self.path))))

    def done_keys(self) -> set[tuple[str, ...]]:
        """``(method, dataset, image_id, protocol, metric)`` of every row written."""
        return {row_key(r) for r in self.rows()}


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
        return [RecordFile(p) for p in sorted(folder.glob("records-rank*.csv"))] if folder.is_dir() else []

    def done_keys(self) -> set[tuple[str, ...]]:
        """``(method, dataset, image_id, protocol, metric)`` of every row in records.csv and the shards."""
        keys = self.records.done_keys()
        for shard in self.shard_files():
            keys |= shard.done_keys()
        return keys

    def merge_shards(self) -> int:
        """Append shard rows not yet in ``records.csv`` (by record key); returns the number added."""
        have = self.records.done_keys()
        added = []
        for shard in self.shard_files():
            for row in shard.rows():
                if row_key(row) not in have:
                    have.add(row_key(row))
                    added.append(row)
        self.records.append(added)
        return len(added)

    def read_manifest(self) -> dict | None:
        if not self.manifest_path.exists():
            return None
        try:
            return json.loads(self.manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise UserError(f"{self.manifest_path} is not valid JSON ({exc}); use a new --out") from None

    def write_manifest(self, manifest: dict) -> None:
        """Write atomically (temporary file + rename)."""
        tmp = self.manifest_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n")
        os.replace(tmp, self.manifest_path)


def row_key(row: dict) -> tuple[str, ...]:
    """A record's identity: ``(method, dataset, image_id, protocol, metric)``."""
    return tuple(str(row[c]) for c in KEY_COLUMNS)


def load_records(run_dir: str | os.PathLike):
    """``records.csv`` of a run directory as a pandas DataFrame (value/seconds as float), read-only.

    A partial last line is ignored, and rows repeating a key (method, dataset, image_id, protocol,
    metric) are dropped after the first, each with one warning line.
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
    try:
        df = pd.read_csv(io.StringIO(text), dtype={"image_id": str})
    except (pd.errors.ParserError, ValueError) as exc:
        raise UserError(f"{path} is damaged ({' '.join(str(exc).split())}); it was not written by "
                        "'abair-bench run' alone: give another run directory") from None
    duplicated = df.duplicated(list(KEY_COLUMNS))
    if duplicated.any():
        warn(f"{path} holds {int(duplicated.sum())} row(s) repeating the key of an earlier row (method, dataset, "
             "image, protocol, metric), e.g. from two runs writing at once; the first of each is used")
        df = df[~duplicated].reset_index(drop=True)
    return df
