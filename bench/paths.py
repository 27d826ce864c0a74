"""Output paths a user names (``run --out``, ``report --out``/``--exports``, ``suite export --out``).

They are checked before any work starts, so a bad one (empty, a file where a folder is wanted, a
folder where a file is wanted, under a regular file, on a read-only file system, not writable) gives
one line naming the flag and the path instead of a traceback from deep inside a write. The checks
create nothing; :func:`writing` turns an ``OSError`` that still happens during the write into the
same kind of line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
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


def check_output_file(path: str | os.PathLike | None, flag: str) -> Path:
    """A file to (over)write; UserError naming ``flag`` if it is a folder or cannot be written."""
    p = _nonempty(path, flag)
    if p.is_dir():
        raise UserError(f"{flag} {p} is a folder; give a file name, e.g. {p / 'report.html'}")
    _check_creatable(p, p.parent, flag)
    if p.exists() and not os.access(p, os.W_OK):
        raise UserError(f"{flag} {p} exists and is not writable; give another file name")
    return p


@contextmanager
def writing(path: str | os.PathLike, flag: str) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing under ``path`` into one line naming ``flag``."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        raise UserError(f"cannot write {flag} {path}{where}: {exc.strerror or exc}") from None
