"""Output paths a user names (``run --out``, ``report --out``/``--exports``, ``suite export --out``,
``profile --out``, ``datasets export --to``).

They are checked before any work starts, so a bad one (empty, a file where a folder is wanted, a
folder where a file is wanted, under a regular file, on a read-only file system, not writable) gives
one line naming the flag and the path instead of a traceback from deep inside a write. The checks
create nothing; :func:`writing` turns an ``OSError`` that still happens during the write into the
same kind of line. Outputs other than ``run --out`` are also kept off run stores and training folders
and off files their command did not write (:func:`check_outside_store`, :class:`FolderOutput`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from abair.errors import UserError


def _nonempty(path: str | os.PathLike | None, flag: str) -> Path:
    if path is None or not str(path).strip():
        raise UserError(f"{flag} is empty; give a path")
    return Path(path)


def _check_creatable(target: Path, folder: Path, flag: str) -> None:
    """``folder`` (``target`` itself or the folder ``target`` goes in) exists and is writable, or can be
    created under its nearest existing ancestor."""
    existing = next(a for a in (folder, *folder.parents) if os.path.lexists(a))
    if not existing.is_dir():
        if existing == target:
            raise UserError(f"{flag} {target} is a file, not a folder; give a folder path")
        raise UserError(f"{flag} {target} lies under {existing}, which is a file, not a folder; give a path "
                        "under a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "" if existing == target else f" (its nearest existing folder {existing})"
        raise UserError(f"{flag} {target}{what} is not writable (read-only file system or no permission); "
                        "give a path you can write to")


def check_output_dir(path: str | os.PathLike | None, flag: str) -> Path:
    """A folder to write into (created later if missing); UserError naming ``flag`` if it cannot be."""
    p = _nonempty(path, flag)
    _check_creatable(p, p, flag)
    return p


def check_output_file(path: str | os.PathLike | None, flag: str, *, command: str | None = None,
                      ours: Callable[[Path], bool] | None = None, force: bool = False) -> Path:
    """A file to (over)write; UserError naming ``flag`` if it is a folder or cannot be written.

    With ``ours`` (a test ``path -> bool``: did ``command`` write this file?), also refused: a path on
    a store's own names (:func:`check_outside_store`, always) and an existing file ``ours`` rejects
    (unless ``force``).
    """
    p = _nonempty(path, flag)
    if p.is_dir():
        raise UserError(f"{flag} {p} is a folder; give a file name, e.g. {p / 'report.html'}")
    _check_creatable(p, p.parent, flag)
    if p.exists() and not os.access(p, os.W_OK):
        raise UserError(f"{flag} {p} exists and is not writable; give another file name")
    if ours is not None:
        check_outside_store(p, flag, folder=False, example="report.html")
        if p.is_file() and not force and not ours(p):
            raise UserError(f"{flag} {path} exists and was not written by {command}; give another name or add "
                            "--force to overwrite it")
    return p


@contextmanager
def writing(path: str | os.PathLike, flag: str) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing under ``path`` into one line naming ``flag``."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        raise UserError(f"cannot write {flag} {path}{where}: {exc.strerror or exc}") from None


# -- outputs beside run stores and over earlier files ------------------------------------------------
#
# A *store* is a folder an abair-bench writer owns: a run store (``records.csv`` with the records
# header, a ``manifest.json`` with ``run_id`` and ``invocations``, or a ``run.lock`` naming its
# holder) or a training folder (``train --out``: ``phase1``/``phase2/<name>``/``phase3`` work
# folders, each with ``state/step-*`` checkpoints and a ``log.jsonl``, or a ``train.lock`` naming
# its holder). Outputs may go inside a store (``--out runs/mini/report.html``, ``--exports
# runs/mini/exports``) but never onto one of its own names (:data:`STORE_NAMES`), nor be the store
# folder itself; ``--force`` does not lift this. Over an existing file a command did not write
# itself, an output is refused unless ``--force``.

STORE_NAMES = ("records.csv", "manifest.json", "configs.json", "run.lock", "shards", "images",  # run store
               "train.lock", "state", "log.jsonl", "phase1", "phase2", "phase3", "*.safetensors", "model.json",
               "summary.json")  # training folder
"""A store's own names (patterns, matched against the first path part under the store)."""


def _first_line(path: Path, size: int = 4096) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read(size).split(b"\n", 1)[0].decode("utf-8", errors="replace")
    except OSError:
        return ""


def _is_run_store(folder: Path) -> bool:
    import json

    from bench.runlock import LOCK
    from bench.store import HEADER, MANIFEST, RECORDS

    if _first_line(folder / RECORDS) == HEADER.rstrip("\n"):
        return True
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if isinstance(manifest, dict) and {"run_id", "invocations"} <= manifest.keys():
            return True
    except (OSError, ValueError):
        pass
    return _holds_lock(folder, LOCK)


def _holds_lock(folder: Path, name: str) -> bool:
    """``folder/name`` is a lock file of :mod:`bench.runlock`'s kind (empty, or naming its holder)."""
    import re

    lock = folder / name
    return lock.is_file() and re.fullmatch(r"(pid \d+ on host \S*)?", _first_line(lock, 256)) is not None


def _is_training_workdir(folder: Path) -> bool:
    import json

    if _holds_lock(folder, "train.lock") or any((folder / "state").glob("step-*/state.json")):
        return True
    try:
        return "step" in json.loads(_first_line(folder / "log.jsonl"))
    except (ValueError, TypeError):
        return False


def store_kind(folder: str | os.PathLike) -> str | None:
    """``"run store"``, ``"training folder"`` or None: whether abair-bench's run or train writes ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    if _is_run_store(folder):
        return "run store"
    phase2 = folder / "phase2"
    work = [folder, folder / "phase1", folder / "phase3", *(phase2.iterdir() if phase2.is_dir() else ())]
    return "training folder" if any(_is_training_workdir(w) for w in work if w.is_dir()) else None


def check_outside_store(path: str | os.PathLike, flag: str, *, folder: bool, example: str) -> None:
    """UserError if ``path`` (a file, or a ``folder`` output) is a store folder itself or lies on
    one of a store's own names (:data:`STORE_NAMES`); ``--force`` never lifts this. The message
    suggests ``example`` (a name) inside the store instead."""
    from fnmatch import fnmatch

    target = Path(path).resolve()  # symbolic links followed: the file a write would change
    if folder and (kind := store_kind(target)):
        raise UserError(f"{flag} {path} is a {kind} written by abair-bench; give a folder of its own, e.g. "
                        f"{Path(path) / example}")
    for store in target.parents:
        first = target.relative_to(store).parts[0]
        if any(fnmatch(first, name) for name in STORE_NAMES) and (kind := store_kind(store)):
            raise UserError(f"{flag} {path} lies on '{first}' of the {kind} {store}, which only the writer of "
                            "that store changes (--force does not lift this); give another path, e.g. "
                            f"{store / example}")


@dataclass(frozen=True)
class FolderOutput:
    """What one command writes into a folder.

    ``command``: the command, for messages (``"abair-bench report --exports"``); ``patterns``: globs,
    relative to the folder, of the files it writes; ``marker``: a file it leaves in the folder so
    that a later run of it recognises the folder as its own (None: ``recognise`` alone decides);
    ``recognise``: an extra test ``folder -> bool`` for folders written before the marker existed;
    ``example``: a folder name to suggest in messages.
    """

    command: str
    patterns: tuple[str, ...]
    marker: str | None = None
    recognise: Callable[[Path], bool] | None = None
    example: str = "exports"

    def ours(self, folder: Path) -> bool:
        return bool(self.marker and (folder / self.marker).is_file()) or bool(
            self.recognise and self.recognise(folder))

    def mark(self, folder: str | os.PathLike) -> None:
        """Leave the marker (before the first file is written, so an interrupted write is still ours)."""
        if self.marker:
            folder = Path(folder)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / self.marker).write_text(f"written by {self.command}; it may overwrite this folder's "
                                              "files of its own names without --force\n", encoding="utf-8")


def check_output_folder(path: str | os.PathLike | None, flag: str, output: FolderOutput, *,
                        force: bool = False) -> Path:
    """A folder for ``output``: writable (:func:`check_output_dir`), not a store nor on a store's names
    (:func:`check_outside_store`), and holding no file of ``output``'s names it did not write, unless
    ``force``. Creates nothing."""
    p = check_output_dir(path, flag)
    check_outside_store(p, flag, folder=True, example=output.example)
    if force or not p.is_dir() or output.ours(p):
        return p
    clash = sorted({f for pattern in output.patterns for f in p.glob(pattern) if f.is_file()})
    if clash:
        names = ", ".join(str(f.relative_to(p)) for f in clash[:3]) + (", ..." if len(clash) > 3 else "")
        raise UserError(f"{flag} {p} already holds {len(clash)} file(s) where {output.command} writes that it did "
                        f"not write ({names}); give another folder or add --force to overwrite them")
    return p
