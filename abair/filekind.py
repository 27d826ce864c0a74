"""What a file that failed to load as a checkpoint actually is, told from its first bytes.

Loaders use :func:`file_kind` to say in their own words why a file was refused (empty, a text or
HTML file, a plain Python pickle, a truncated archive) instead of passing on a library's message.
:func:`pickle_globals` lists the Python objects a pickle would import (read from its opcodes, never
run) and :func:`zip_uncompressed_size` what a zip archive declares it expands to, so that loaders can
refuse a file before handing it to torch. Nothing here imports torch.
"""

from __future__ import annotations

import pickletools
import zipfile
from pathlib import Path

HEAD_BYTES = 64

# (kind, test on the first bytes); the first that matches names the file
_KINDS = (
    ("an empty file", lambda head: not head),
    ("a zip archive (the torch.save format)", lambda head: head.startswith(b"PK\x03\x04")),
    # torch.save's format before torch 1.6: a pickle of the magic number 0x1950a86a20f9469cfc6c first
    ("a torch.save file of the legacy format", lambda head: head[2:14] == bytes.fromhex("8a0a6cfc9c46f9206aa85019")),
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
    torch.save format)"``, ``"a torch.save file of the legacy format"``, ``"a Python pickle"``, ``"a safetensors file"``, ``"an HTML page (a failed
    download?)"``, ``"a text file"`` or ``"binary data of unknown format"``."""
    return head_kind(read_head(path))


def head_kind(head: bytes) -> str:
    """:func:`file_kind` of data that starts with ``head`` (its first :data:`HEAD_BYTES` bytes, or more)."""
    head = head[:HEAD_BYTES]
    return next((kind for kind, test in _KINDS if test(head)), "binary data of unknown format")


def preview(path: str | Path, size: int = 40) -> str:
    """The first characters of a text file, on one line, for a message."""
    text = read_head(path, size).decode("utf-8", errors="replace")
    return " ".join(text.split())


# -------------------------------------------------------------------------------------- pickles and archives

# the legacy (pre-zip) torch.save format is five pickles in a row, then the raw tensor bytes
MAX_PICKLES = 5
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}


def _globals_of_one(stream) -> tuple[list[str], bool]:
    """Globals named by the pickle that starts at ``stream``'s position, and whether it is a pickle
    (it reached STOP, or began with a PROTO opcode); reads up to its STOP opcode."""
    names: list[str] = []
    memo: dict = {}
    pushed: list = []  # the values pushed so far: the string, or None for anything else
    first = None
    try:
        for opcode, arg, _pos in pickletools.genops(stream):
            op = opcode.name
            first = first or op
            if op in ("GLOBAL", "INST"):  # arg is "module name"
                names.append(".".join(str(arg).split(" ", 1)))
                pushed.append(None)
            elif op == "STACK_GLOBAL":  # module and name are the two values pushed last
                module, name = ([None, None] + pushed)[-2:]
                names.append(f"{module}.{name}" if isinstance(module, str) and isinstance(name, str) else "<computed>")
                pushed.append(None)
            elif op in _STRING_OPS:
                pushed.append(str(arg))
            elif op in _PUT_OPS:
                memo[arg] = pushed[-1] if pushed else None
            elif op == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif op in _GET_OPS:
                pushed.append(memo.get(arg))
            elif opcode.stack_after:
                pushed.append(None)
    except Exception:  # not (or no longer) a pickle: what was read so far counts if it began as one
        return (names, True) if first == "PROTO" else ([], False)
    return names, True


def pickle_globals(path: str | Path) -> list[str]:
    """``module.name`` of every Python object the pickle(s) in ``path`` would import when unpickled
    (GLOBAL, INST and STACK_GLOBAL opcodes), each once, in order of appearance; e.g. ``["torch._utils.
    _rebuild_tensor_v2", "torch.FloatStorage", "collections.OrderedDict", "posix.system"]``.

    The opcodes are only parsed (:mod:`pickletools`), nothing is run. A zip archive (the torch.save
    format) is read member by member (its ``*.pkl`` members, ``data.pkl`` first); any other file is read
    as up to :data:`MAX_PICKLES` pickles in a row (the legacy torch.save format). A file that is no pickle
    gives ``[]``; ``"<computed>"`` stands for a name the pickle builds at run time. Check an archive's
    size (:func:`zip_uncompressed_size`) before calling this on a file from elsewhere.
    """
    found: list[str] = []
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                members = [i for i in archive.infolist() if i.filename.endswith(".pkl")]
                for info in sorted(members, key=lambda i: not i.filename.endswith("data.pkl")):
                    with archive.open(info) as stream:
                        found += _globals_of_one(stream)[0]
        else:
            with open(path, "rb") as stream:
                for _ in range(MAX_PICKLES):
                    names, is_pickle = _globals_of_one(stream)
                    found += names
                    if not is_pickle:
                        break
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, EOFError):
        pass  # unreadable or truncated: what was found so far
    return list(dict.fromkeys(found))


def zip_uncompressed_size(path: str | Path) -> int | None:
    """Bytes the members of the zip archive ``path`` declare they expand to, all together (the sizes in
    its central directory, which torch's reader allocates before it inflates); None if it is no zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (OSError, zipfile.BadZipFile):
        return None
