"""Read a learned metric's published weight file as tensors only, and refuse any other file.

A file is read with ``torch.load(weights_only=True)``: tensors and plain containers, never a Python
object that unpickling would import and call (a pickle naming one is refused without running it). What
it holds is then checked against the published file: every key present, none extra, every shape
equal, and finally its SHA-256 equal to the published file's, so weights of the right shapes but other
values (a random network, a retrained head) are refused rather than scored. Every failure is a
one-line :class:`~abair.errors.UserError` naming the file, what is wrong, and where to download it.
pyiqa and torchvision never open these files: they would unpickle them unrestricted.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from abair.errors import UserError
from abair.filekind import file_kind, preview

if TYPE_CHECKING:  # pragma: no cover
    import torch

_EXAMPLES = 3


@dataclass(frozen=True)
class WeightFile:
    """One published weight file: where it goes, where it comes from, and what it must hold."""

    relpath: str  # under the weights directory
    url: str
    sha256: str  # of the published file (hex; its name carries the first 8 digits)
    shapes: Mapping[str, tuple[int, ...]]  # every tensor it holds: key -> shape


def read_weights(path: Path, spec: WeightFile) -> dict[str, torch.Tensor]:
    """The tensors of ``path`` once it is known to be the published file ``spec`` (else a UserError)."""
    tensors = _read_tensors(path, spec)
    _check_shapes(path, tensors, spec)
    _check_sha256(path, spec)
    return tensors


def _fix(path: Path, spec: WeightFile) -> str:
    return f"download {spec.url} to {path}"


def _read_tensors(path: Path, spec: WeightFile) -> dict[str, torch.Tensor]:
    import torch

    from baselines.archs.loading import check_archive_size

    check_archive_size(path, "metric weights")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr; our message says it all
            warnings.simplefilter("ignore")
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable or refused files
        raise UserError(f"metric weights {path} {_what_it_is(path, exc)}; {_fix(path, spec)}") from None
    if not (isinstance(obj, Mapping) and all(isinstance(v, torch.Tensor) for v in obj.values())):
        raise UserError(f"metric weights {path} hold a {type(obj).__name__}, not a state dict of tensors; "
                        f"{_fix(path, spec)}")
    return dict(obj)


def _what_it_is(path: Path, exc: BaseException) -> str:
    """What the file is, for one that ``torch.load(weights_only=True)`` did not read."""
    from baselines.archs.loading import _refused_globals, first_sentence  # the checkpoints' loader's

    if isinstance(exc, OSError):  # unreadable (permissions, a device error): its first bytes say nothing
        return f"cannot be read ({exc.strerror or first_sentence(exc)})"
    kind = file_kind(path)
    names = _refused_globals(path) if kind != "an empty file" else []
    if names:
        return (f"were refused for safety: the file is a pickle that would import and call {_some(names)} "
                "(only tensors are loaded, nothing in it was run)")
    if kind.startswith(("a text file", "an HTML page")):
        return f"are not a weights file but {kind} (it starts '{preview(path)}')"
    if kind == "an empty file":
        return "are an empty file (0 bytes)"
    if kind.startswith("a zip archive"):
        return f"are truncated or corrupt: a zip archive (the torch.save format) that cannot be read ({path.stat().st_size} bytes)"
    return f"are not a torch.save file of tensors but {kind} ({first_sentence(exc)})"


def _check_shapes(path: Path, tensors: dict[str, torch.Tensor], spec: WeightFile) -> None:
    missing = [k for k in spec.shapes if k not in tensors]
    extra = [k for k in tensors if k not in spec.shapes]
    wrong = [f"{k} has shape {tuple(tensors[k].shape)}, not {spec.shapes[k]}"
             for k in spec.shapes if k in tensors and tuple(tensors[k].shape) != spec.shapes[k]]
    problems = ([f"{len(missing)} key(s) missing ({_some(missing)})"] if missing else []) + \
               ([f"{len(extra)} unexpected key(s) ({_some(extra)})"] if extra else []) + wrong[:_EXAMPLES]
    if problems:
        raise UserError(f"metric weights {path} do not hold the published tensors: {'; '.join(problems)}; "
                        f"{_fix(path, spec)}")


def _some(keys: list[str]) -> str:
    return ", ".join(keys[:_EXAMPLES]) + (", ..." if len(keys) > _EXAMPLES else "")


def _check_sha256(path: Path, spec: WeightFile) -> None:
    from baselines.published import file_sha256

    digest = file_sha256(path)
    if digest != spec.sha256:
        raise UserError(
            f"metric weights {path} are not the published file: SHA-256 {digest[:16]}..., published "
            f"{spec.sha256[:16]}... (other values give other scores, so they are refused); {_fix(path, spec)}"
        )


def sha256_table(files: tuple[WeightFile, ...]) -> dict[str, str]:
    """``relpath -> SHA-256`` of ``files``: for the run manifest (a file with another hash is never scored)."""
    return {f.relpath: f.sha256 for f in files}
