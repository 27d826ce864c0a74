"""The run store: ``records.csv`` (long/tidy, append-only) and ``manifest.json`` in one directory.

Crash safety: all rows of one image are formatted first and written with a single ``os.write`` on
an ``O_APPEND`` descriptor, so ``kill -9`` can lose only the image in flight. Should a write ever be
cut short (full disk), the trailing partial line is removed the next time the store is opened.
A rerun into the same directory reads what is done and skips it.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path

from abair.errors import UserError

COLUMNS = (
    "run_id", "method", "dataset", "task", "image_id", "protocol", "metric", "value", "seconds", "height", "width",
)
HEADER = ",".join(COLUMNS) + "\n"
RECORDS = "records.csv"
MANIFEST = "manifest.json"
SHARDS = "shards"


def _repair_tail(path: Path) -> None:
    """Drop a trailing partial line (no final newline) left by an interrupted write."""
    with open(path, "rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)


class RecordFile:
    """One append-only CSV of records (the run's ``records.csv`` or one rank's shard)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:  # only the process that creates the file writes its header (torchrun ranks open it at once)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            _repair_tail(self.path)
            with open(self.path, newline="") as fh:
                header = next(csv.reader(fh), None)
            if header is not None and tuple(header) != COLUMNS:
                raise UserError(f"{self.path} is not an abair-bench records file (header {header}); use a new --out") from None
        else:
            try:
                os.write(fd, HEADER.encode())
            finally:
                os.close(fd)

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
        with open(self.path, newline="") as fh:
            return list(csv.DictReader(fh))

    def done_keys(self) -> set[tuple[str, str, str, str]]:
        """``(method, dataset, image_id, protocol)`` of every image already scored."""
        return {(r["method"], r["dataset"], r["image_id"], r["protocol"]) for r in self.rows()}


def _fmt(value) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


class RunStore:
    """A run directory. ``shard`` (a rank number) selects ``shards/records-rank<k>.csv`` for writing."""

    def __init__(self, out_dir: str | os.PathLike, shard: int | None = None):
        self.root = Path(out_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.records = RecordFile(self.root / RECORDS)
        self.writer = self.records if shard is None else RecordFile(self.root / SHARDS / f"records-rank{shard}.csv")

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def shard_files(self) -> list[RecordFile]:
        folder = self.root / SHARDS
        return [RecordFile(p) for p in sorted(folder.glob("records-rank*.csv"))] if folder.is_dir() else []

    def done_keys(self) -> set[tuple[str, str, str, str]]:
        keys = self.records.done_keys()
        for shard in self.shard_files():
            keys |= shard.done_keys()
        return keys

    def merge_shards(self) -> int:
        """Append shard rows not yet in ``records.csv`` (by record key); returns the number added."""
        have = {_row_key(r) for r in self.records.rows()}
        added = []
        for shard in self.shard_files():
            for row in shard.rows():
                if _row_key(row) not in have:
                    have.add(_row_key(row))
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


def _row_key(row: dict) -> tuple:
    return (row["method"], row["dataset"], row["image_id"], row["protocol"], row["metric"])


def load_records(run_dir: str | os.PathLike):
    """``records.csv`` of a run directory as a pandas DataFrame (value/seconds as float)."""
    import pandas as pd

    path = Path(run_dir) / RECORDS
    if not path.exists():
        raise UserError(f"{run_dir} has no {RECORDS}; is it a run directory written by 'abair-bench run'?")
    _repair_tail(path)
    return pd.read_csv(path, dtype={"image_id": str})
