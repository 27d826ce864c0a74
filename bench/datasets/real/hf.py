"""Hugging Face ``datasets`` export and import, fully offline.

Export (``abair-bench datasets export NAME --to DIR``) writes any registered set, real or embedded,
with ``Dataset.save_to_disk``: columns ``degraded`` and ``clean`` (``Image`` features holding the
exact uint8 pixels the runner scores, as lossless PNG), ``image_id`` and ``task``; the set's manifest
entry goes to ``DIR/abair_dataset.json``. Test-time degradations (noise, JPEG, generated mixtures)
are baked into the exported ``degraded`` images.

Import: any dataset name ``hf:<local dir>`` loads such an export (or any ``save_to_disk`` folder,
or a folder of a Hub dataset repository with parquet files, with the same columns). A Hub id that is
not a local folder is read from the local Hugging Face cache only; offline (the default here:
``HF_HUB_OFFLINE=1`` and ``HF_DATASETS_OFFLINE=1`` unless set otherwise) it fails at once. Images
are decoded here, not by ``datasets``, each within the decode budget (:mod:`abair.imagefile`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from abair.errors import UserError
from bench.datasets.base import Dataset, Pair

SIDECAR = "abair_dataset.json"
FORMAT = "abair-bench-hf/1"
COLUMNS = ("degraded", "clean", "image_id", "task")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _offline():
    """Import ``datasets`` with network access off unless the user said otherwise."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import datasets
    except ImportError:
        raise UserError(
            "Hugging Face export/import needs the 'datasets' package: pip install -e '.[hf]'"
        ) from None

    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    return datasets


def _is_offline() -> bool:
    return any(os.environ.get(v, "").upper() in ("1", "ON", "YES", "TRUE") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image, "RGB").save(buf, "PNG")
    return buf.getvalue()


def export(dataset: Dataset, to: str | Path) -> int:
    """Write ``dataset`` to the folder ``to`` (must be new or empty); returns the number of pairs."""
    hfds = _offline()
    to = Path(to).expanduser()
    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise UserError(f"export folder {to} already exists and is not empty; choose a new --to folder")
    features = hfds.Features(
        {"degraded": hfds.Image(), "clean": hfds.Image(), "image_id": hfds.Value("string"), "task": hfds.Value("string")}
    )

    def rows():
        for pair in dataset:
            yield {
                "degraded": {"bytes": _png(pair.degraded), "path": None},
                "clean": {"bytes": _png(pair.clean), "path": None},
                "image_id": pair.image_id,
                "task": pair.task,
            }

    source = dataset.describe()
    with tempfile.TemporaryDirectory(prefix="abair-hf-") as cache:
        ds = hfds.Dataset.from_generator(rows, features=features, cache_dir=cache)
        n = len(ds)
        ds.save_to_disk(str(to))
        del ds
    sidecar = {
        "format": FORMAT,
        "name": dataset.name,
        "task": dataset.task,
        "degradations": list(dataset.degradations),
        "default_protocol": dataset.default_protocol,
        "description": dataset.description,
        "source": source,
    }
    (to / SIDECAR).write_text(json.dumps(sidecar, indent=2, default=str) + "\n")
    return n


def _pick_split(obj, ref: str):
    import datasets

    if isinstance(obj, datasets.DatasetDict):
        if "test" in obj:
            return obj["test"]
        if len(obj) == 1:
            return next(iter(obj.values()))
        raise UserError(f"hf:{ref} holds splits {sorted(obj)} and none is 'test'; save the split to score alone")
    return obj


def _open(ref: str):
    hfds = _offline()
    path = Path(ref).expanduser()
    if path.is_dir():
        try:
            if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
                return _pick_split(hfds.load_from_disk(str(path)), ref), path
            return _pick_split(hfds.load_dataset(str(path)), ref), path
        except UserError:
            raise
        except Exception as exc:
            raise UserError(f"hf:{ref}: cannot load the Hugging Face dataset in {path}: {exc}") from None
    if not _HUB_ID.match(ref):
        raise UserError(f"hf:{ref}: no such folder (give hf:<folder written by 'abair-bench datasets export'>)")
    if _is_offline():
        raise UserError(
            f"hf:{ref}: not a local folder, and Hugging Face Hub downloads are off (HF_HUB_OFFLINE=1; abair-bench "
            f"reads datasets offline); on a machine with network run "
            f"datasets.load_dataset('{ref}').save_to_disk('DIR'), copy DIR here and pass hf:DIR"
        )
    try:
        return _pick_split(hfds.load_dataset(ref), ref), None
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"hf:{ref}: cannot load it from the Hugging Face Hub: {exc}") from None


@dataclass
class HfDataset(Dataset):
    """Pairs read from a Hugging Face dataset with columns degraded, clean, image_id (and task)."""

    table: object = field(default=None, repr=False)
    folder: Path | None = None
    ref: str = ""
    source: dict = field(default_factory=dict)

    def __post_init__(self):
        ids = list(self.table["image_id"])
        self._index = {image_id: i for i, image_id in enumerate(ids)}
        if len(self._index) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise UserError(f"{self.name}: image id '{dup}' appears more than once")
        self._ids = ids
        self._cells = undecoded(self.table)

    def image_ids(self) -> list[str]:
        return list(self._ids)

    def load(self, image_id: str) -> Pair:
        try:
            row = self._cells[self._index[image_id]]
        except KeyError:
            raise UserError(f"{self.name}: no image '{image_id}'") from None
        degraded = decode_cell(row["degraded"], f"'{image_id}' (degraded)", f"{self.name}: image")
        clean = decode_cell(row["clean"], f"'{image_id}' (clean)", f"{self.name}: image")
        if degraded.shape != clean.shape:
            raise UserError(
                f"{self.name}: image '{image_id}' has degraded {degraded.shape[1]}x{degraded.shape[0]} but clean "
                f"{clean.shape[1]}x{clean.shape[0]}"
            )
        return Pair(self.name, self.task, image_id, degraded, clean)

    def files_sha256(self) -> str:
        h = hashlib.sha256()
        if self.folder is not None:
            for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
                h.update(f"{path.relative_to(self.folder).as_posix()}\0".encode())
                h.update(hashlib.sha256(path.read_bytes()).digest())
        else:
            h.update(str(getattr(self.table, "_fingerprint", self.ref)).encode())
        return h.hexdigest()

    def describe(self) -> dict:
        digest = self.files_sha256()
        info = {
            "task": self.task,
            "degradations": list(self.degradations),
            "default_protocol": self.default_protocol,
            "layout": "huggingface",
            "root": str(self.folder) if self.folder else self.ref,
            "count": len(self._ids),
            "expected": self.source.get("count", len(self._ids)),
            "missing": [],
            "files_sha256": digest,
            "sha256": digest,
        }
        if self.source:
            info["exported_from"] = self.source
        return info


def undecoded(table):
    """``table`` with its image columns left as ``{"bytes", "path"}`` cells (decoded by :func:`decode_cell`)."""
    import datasets

    for column in ("degraded", "clean", "image"):
        if isinstance(table.features.get(column), datasets.Image):
            table = table.cast_column(column, datasets.Image(decode=False))
    return table


def _open_cell(cell, name: str, what: str):
    """:func:`abair.imagefile.open_image` of an image cell (its bytes, else its file)."""
    from abair.imagefile import open_image

    return open_image(io.BytesIO(cell["bytes"]) if cell.get("bytes") is not None else cell.get("path"), name, what=what)


def cell_size(cell, name: str, what: str) -> tuple[int, int]:
    """(height, width) of an image cell from its header (within the decode budget), nothing decoded."""
    if not isinstance(cell, dict):
        return cell.size[::-1]
    with _open_cell(cell, name, what) as im:
        return im.size[::-1]


def decode_cell(cell, name: str, what: str) -> np.ndarray:
    """uint8 HxWx3 of an image cell, within the decode budget (one-line UserError naming ``what`` and
    ``name`` if over it); EXIF orientation applied, as ``datasets`` applies it when it decodes."""
    from PIL import ExifTags, ImageOps

    if not isinstance(cell, dict):  # a column that is no Image feature: datasets gave what it holds
        return np.asarray(cell.convert("RGB")).copy()
    try:
        with _open_cell(cell, name, what) as im:
            if im.getexif().get(ExifTags.Base.Orientation) is not None:
                return np.asarray(ImageOps.exif_transpose(im).convert("RGB")).copy()
            return np.asarray(im.convert("RGB")).copy()
    except UserError:
        raise
    except (OSError, ValueError) as exc:  # truncated or corrupt data
        raise UserError(f"{what} {name} cannot be decoded ({' '.join(str(exc).split())}); replace it") from None


def load_hf(name: str, options=None) -> HfDataset:
    """``hf:<ref>`` -> :class:`HfDataset` (the dataset keeps the name as given)."""
    from bench.datasets.tasks import TASK_DEGRADATIONS

    ref = name[3:]
    if not ref:
        raise UserError("'hf:' needs a folder or hub id after it, e.g. hf:/data/rain100l-hf")
    table, folder = _open(ref)
    missing = [c for c in ("degraded", "clean", "image_id") if c not in table.column_names]
    if missing:
        raise UserError(
            f"{name}: the dataset lacks column(s) {', '.join(missing)} (has {', '.join(table.column_names)}); "
            "abair-bench reads datasets with columns degraded, clean, image_id, task"
        )
    meta = {}
    if folder is not None and (folder / SIDECAR).exists():
        meta = json.loads((folder / SIDECAR).read_text())
    task = meta.get("task") or (table[0]["task"] if "task" in table.column_names and len(table) else "mixed")
    if task not in TASK_DEGRADATIONS:
        raise UserError(f"{name}: unknown task '{task}' in the dataset (known: {', '.join(TASK_DEGRADATIONS)})")
    degradations = tuple(meta.get("degradations") or TASK_DEGRADATIONS[task])
    return HfDataset(
        name=name,
        task=task,
        default_protocol=meta.get("default_protocol", "allinone-rgb"),
        degradations=degradations,
        description=meta.get("description", f"Hugging Face dataset {ref}"),
        table=table,
        folder=folder,
        ref=ref,
        source=meta.get("source", {}),
    )

