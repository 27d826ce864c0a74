"""What a file that failed to load as a checkpoint actually is, told from its first bytes.

Loaders use :func:`file_kind` to say in their own words why a file was refused (empty, a text or
HTML file, a plain Python pickle, a truncated archive) instead of passing on a library's message.
Nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path

HEAD_BYTES = 64

# (kind, test on the first bytes); the first that matches names the file
_KINDS = (
    ("an empty file", lambda head: not head),
    ("a zip archive (the torch.save format)", lambda head: head.startswith(b"PK\x03\x04")),
    ("a Python pickle", lambda head: head[:1] == b"\x80"),
    ("a safetensors file", lambda head: len(head) > 8 and head[8:9] == b"{"),
    ("an HTML page (a failed download?)", lambda head: head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))),
    ("a text file", lambda head: _is_text(head)),
)


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def read_head(path: str | Path, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of ``path`` (b"" if it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def file_kind(path: str | Path) -> str:
    """What the file holds, with its article, for a message: ``"an empty file"``, ``"a zip archive (the
    torch.save format)"``, ``"a Python pickle"``, ``"a safetensors file"``, ``"an HTML page (a failed
    download?)"``, ``"a text file"`` or ``"binary data of unknown format"``."""
    head = read_head(path)
    return next((kind for kind, test in _KINDS if test(head)), "binary data of unknown format")


def preview(path: str | Path, size: int = 40) -> str:
    """The first characters of a text file, on one line, for a message."""
    text = read_head(path, size).decode("utf-8", errors="replace")
    return " ".join(text.split())
