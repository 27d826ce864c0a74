"""Safe, strict loading of the authors' released checkpoints into the re-implemented architectures.

Formats accepted (all read with ``torch.load(path, map_location="cpu", weights_only=True)``, never a
plain unpickle, or with safetensors for ``.safetensors`` files):

- Restormer: BasicSR ``.pth``, a dict ``{"params": state_dict}`` (``params_ema`` also accepted);
- PromptIR: PyTorch Lightning ``.ckpt``, ``{"state_dict": {"net.<key>": tensor, ...}, "epoch": ...}``;
- AirNet: ``.pth`` holding the bare ``state_dict`` (keys ``R.*`` and ``E.E.*``);
- MPRNet and Uformer: ``.pth`` of the authors' training scripts, ``{"epoch": ..., "state_dict": ...,
  "optimizer": ...}``, keys prefixed ``module.`` when trained with DataParallel;
- X-Restormer: BasicSR ``.pth``, ``{"params": state_dict}``, as Restormer;
- IDR (no released weights): the bare ``state_dict`` ``.pth`` its authors' training code saves
  (``<epoch>_G.pth``), keys prefixed ``module.`` when saved from a DataParallel wrapper;
- any of them as a bare state dict or a ``.safetensors`` file (with or without the prefix).

A ``module.`` (DataParallel) or ``net.`` (Lightning) prefix is removed when *every* key carries it.
The structural hyper-parameters that vary between released files (channels, widths, block counts,
heads, LayerNorm kind, AirNet's queue length) are read from tensor shapes; everything else must then
match exactly: every key present, none extra, every shape equal. Any failure is a
:class:`abair.errors.UserError` with one line naming the file and what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abair.errors import UserError
from abair.filekind import file_kind, pickle_globals, preview, zip_uncompressed_size

__all__ = [
    "ArchSpec", "declared_arch", "architecture", "read_checkpoint", "check_archive_size", "find_state_dict", "strip_common_prefix",
    "build_checked", "check_keys", "guess_architecture", "infer_config", "load_architecture", "seq_len", "tensor_dim",
]

CONTAINER_KEYS = ("params", "params_ema", "state_dict", "model_state_dict", "model", "net")
PREFIXES = ("module.", "net.")
_EXAMPLES = 3
# torch.save stores tensors uncompressed, so a checkpoint archive expands to about its own size; a zip
# bomb declares hundreds of times more. Allowed: ARCHIVE_RATIO x the file's size + ARCHIVE_MARGIN bytes.
ARCHIVE_RATIO = 8
ARCHIVE_MARGIN = 64 * 2**20


# -------------------------------------------------------------------------------------- file reading


def read_checkpoint(path: str | Path) -> Any:
    """Read a checkpoint file safely (weights-only unpickling or safetensors) onto the CPU.

    A file that cannot be read so is refused with a message in this project's words: refused for
    safety (a pickle naming a Python object to call, or a plain pickle), an archive that would expand
    beyond its budget (:func:`check_archive_size`, checked before torch reads anything), empty,
    truncated, or not a checkpoint at all (text, an HTML page), always with the file's path.
    """
    import torch

    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"checkpoint {p} does not exist (or is not a file); check the path you passed")
    if p.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(p), device="cpu")
        except Exception as exc:  # safetensors raises its own error types for corrupt headers
            raise UserError(f"checkpoint {p} is not a readable safetensors file ({_why_unreadable(p, exc)})") from None
    check_archive_size(p)
    try:
        return torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(explain_load_failure(p, exc)) from None


def check_archive_size(path: str | Path, what: str = "checkpoint") -> None:
    """Refuse (one-line :class:`UserError`) a zip archive (the torch.save format) whose members declare
    more than :data:`ARCHIVE_RATIO` x its size on disk + :data:`ARCHIVE_MARGIN` bytes uncompressed, before
    any of it is inflated: torch allocates what the archive declares. Other files pass unchecked."""
    declared, size = zip_uncompressed_size(path), Path(path).stat().st_size
    budget = ARCHIVE_RATIO * size + ARCHIVE_MARGIN
    if declared is not None and declared > budget:
        raise UserError(
            f"{what} {path} was refused: its zip archive declares {declared / 2**20:,.1f} MiB uncompressed from "
            f"{size / 2**20:,.1f} MiB on disk, over the budget of {budget / 2**20:,.1f} MiB ({ARCHIVE_RATIO}x the "
            f"file + {ARCHIVE_MARGIN // 2**20} MiB; torch.save archives are not compressed, so this is a zip bomb "
            "or a corrupt file); download it again from its source"
        )


_TRUST_HINT = ("if you trust the file, convert it once to safetensors (see docs/BASELINES.md) and pass that")
# what torch's weights-only unpickler accepts besides torch's own names (when its list cannot be read)
_PLAIN_GLOBALS = frozenset({"_codecs.encode", "builtins.bytearray", "builtins.complex", "builtins.set",
                            "collections.Counter", "collections.OrderedDict"})


def _refused_globals(p: Path) -> list[str]:
    """The objects the pickle in ``p`` would import that weights-only loading does not accept."""
    try:  # torch's own list (private, so only trusted while it is there)
        from torch._weights_only_unpickler import _get_allowed_globals

        allowed = set(_get_allowed_globals()) | _PLAIN_GLOBALS
        return [name for name in pickle_globals(p) if name not in allowed]
    except (ImportError, AttributeError, TypeError):
        return [name for name in pickle_globals(p) if name not in _PLAIN_GLOBALS and not name.startswith("torch.")]


def _would_call(p: Path) -> str:
    names = _refused_globals(p)
    shown = ", ".join(names[:_EXAMPLES]) + (f" and {len(names) - _EXAMPLES} more" if len(names) > _EXAMPLES else "")
    return (f"checkpoint {p} was refused for safety: it is a pickle that would call {shown} (only tensors are "
            f"loaded, never code from a file); {_TRUST_HINT}")


# (test on the file and torch's error text and the file's kind, our explanation); the first that matches is used
_LOAD_FAILURES: tuple[tuple[Callable[[Path, str, str], bool], Callable[[Path, str], str]], ...] = (
    (lambda p, text, kind: kind == "an empty file", lambda p, text: f"checkpoint {p} is empty (0 bytes); download or copy it again"),
    (lambda p, text, kind: bool(_refused_globals(p)), lambda p, text: _would_call(p)),
    (lambda p, text, kind: kind.startswith(("a text file", "an HTML page")),
     lambda p, text: f"checkpoint {p} is not a checkpoint but {file_kind(p)} (it starts '{preview(p)}'); "
                     "pass the .pth, .ckpt or .safetensors file itself"),
    (lambda p, text, kind: kind == "a Python pickle",
     lambda p, text: f"checkpoint {p} was refused for safety: it is a plain Python pickle (not a torch.save archive "
                     f"of tensors), which can carry code, and safe loading reads only tensors; {_TRUST_HINT}"),
    (lambda p, text, kind: kind.startswith("a zip archive"),
     lambda p, text: f"checkpoint {p} is truncated or corrupt: its zip archive cannot be read "
                     f"({p.stat().st_size} bytes); download it again"),
)


def explain_load_failure(p: Path, exc: BaseException) -> str:
    """Why ``torch.load(p, weights_only=True)`` failed, in one line of our own (see :data:`_LOAD_FAILURES`)."""
    text, kind = str(exc), file_kind(p)
    for test, explain in _LOAD_FAILURES:
        if test(p, text, kind):
            return explain(p, text)
    return f"checkpoint {p} is not a readable PyTorch checkpoint ({_why_unreadable(p, exc)}); download it again"


def _why_unreadable(p: Path, exc: BaseException) -> str:
    """What the file is and the first sentence of the loader's error (whole, never cut mid-word)."""
    return f"{file_kind(p)}: {first_sentence(exc)}"


def first_sentence(exc: BaseException) -> str:
    """The first sentence of an exception's message on one line (ANSI colour codes removed)."""
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).split())
    sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return sentence or type(exc).__name__


def _is_state_dict(obj: Any) -> bool:
    import torch

    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


def find_state_dict(obj: Any, path: str | Path) -> dict[str, Any]:
    """The ``name -> tensor`` mapping inside a loaded checkpoint: the object itself when it is one,
    else the first of :data:`CONTAINER_KEYS` that holds one."""
    if _is_state_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for key in CONTAINER_KEYS:
            if _is_state_dict(obj.get(key)):
                return dict(obj[key])
        keys = ", ".join(sorted(map(str, obj))[:8]) or "none"
        raise UserError(f"checkpoint {path} holds no state dict of tensors (top-level keys: {keys})")
    raise UserError(f"checkpoint {path} holds a {type(obj).__name__}, not a state dict")


def strip_common_prefix(state_dict: dict[str, Any], prefixes=PREFIXES) -> dict[str, Any]:
    """Remove each of ``prefixes`` (repeatedly, in any order) while every key starts with it."""
    changed = True
    while changed:
        changed = False
        for prefix in prefixes:
            if state_dict and all(k.startswith(prefix) for k in state_dict):
                state_dict = {k[len(prefix):]: v for k, v in state_dict.items()}
                changed = True
    return state_dict


# -------------------------------------------------------------------------------------- key matching


def _shape(t: Any) -> str:
    return "x".join(map(str, tuple(t.shape))) or "scalar"


def check_keys(model, state_dict: Mapping[str, Any], arch: str, path: str | Path) -> None:
    """Raise one-line :class:`UserError` unless ``state_dict`` has exactly ``model``'s keys and shapes."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [k for k in expected if k in state_dict and tuple(expected[k].shape) != tuple(state_dict[k].shape)]
    if not (missing or unexpected or wrong):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:_EXAMPLES])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:_EXAMPLES])})")
    if wrong:
        shown = ", ".join(f"{k}: file {_shape(state_dict[k])} vs model {_shape(expected[k])}" for k in wrong[:_EXAMPLES])
        parts.append(f"{len(wrong)} keys with another shape (e.g. {shown})")
    article = _article(arch)
    guess = guess_architecture(state_dict)
    hint = ""
    if guess and guess != arch:
        from baselines.ports import ports

        method = next((p.name for p in ports() if p.display == guess), guess.lower())
        hint = f" (it looks like {_article(guess)} {guess} checkpoint: use --methods {method})"
    raise UserError(f"checkpoint {path} is not {article} {arch} checkpoint: {'; '.join(parts)}{hint}")


def _article(name: str) -> str:
    """'an' before a name read with a leading vowel sound (AirNet, MPRNet, X-Restormer), else 'a' (Uformer)."""
    return "an" if name[0] in "AEIO" or name.startswith(("MPR", "X-")) else "a"


def guess_architecture(state_dict: Mapping[str, Any]) -> str | None:
    """The released architecture whose signature keys ``state_dict`` has, or None (for error hints).

    Each port declares its signature and detection rank (:func:`baselines.ports.detection_order`): DiffUIR
    (its network, diffusion wrapper or EMA) first, IDR before Restormer (IDR's U-net has Restormer's keys),
    X-Restormer and PromptIR before Restormer, DA-CLIP last."""
    from baselines.ports import detection_order

    return next((p.display for p in detection_order() if p.signature(state_dict)), None)


# -------------------------------------------------------------------------------------- configuration


def seq_len(state_dict: Mapping[str, Any], prefix: str) -> int:
    """Length of an ``nn.Sequential`` stored under ``prefix`` (largest ``prefix.<i>.`` index + 1)."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    found = [int(m.group(1)) for m in map(pattern.match, state_dict) if m]
    return max(found) + 1 if found else 0


def tensor_dim(state_dict, key: str, axis: int) -> int | None:
    """Size of axis ``axis`` of the tensor ``key`` of ``state_dict``; None when there is no such tensor or axis."""
    t = state_dict.get(key)
    return int(t.shape[axis]) if t is not None and t.ndim > axis else None


@dataclass(frozen=True)
class ArchSpec:
    """How to configure and build one architecture from a state dict (each port's ``ARCH``, named by its
    :attr:`baselines.ports.Port.arch`)."""

    display: str  # "Restormer"
    infer: Callable[[Mapping[str, Any]], dict]  # state dict -> constructor arguments (defaults elsewhere)
    build: Callable[..., Any]  # constructor arguments -> network (imports torch)
    defaults: Callable[[], dict]  # the main release's constructor arguments


def declared_arch(display: str, infer: Callable[[Mapping[str, Any]], dict], network: str, defaults: str) -> ArchSpec:
    """The :class:`ArchSpec` of a port: ``network`` and ``defaults`` name (``module:attribute``) its constructor
    and its main release's constructor arguments, imported only when a network is built (torch stays unloaded)."""

    def build(**cfg):
        from baselines.ports import resolve

        return resolve(network)(**cfg)

    def release() -> dict:
        from baselines.ports import resolve

        return dict(resolve(defaults))

    return ArchSpec(display, infer, build, release)


def architecture(arch: str) -> ArchSpec:
    """The :class:`ArchSpec` of the port named ``arch`` (``x-restormer``), from the registry."""
    from baselines.ports import port, resolve

    found = port(arch)
    if found is None or found.arch is None:
        raise KeyError(arch)
    return resolve(found.arch)


def infer_config(arch: str, state_dict: Mapping[str, Any]) -> dict:
    """The constructor arguments that make ``arch`` match ``state_dict``'s shapes (defaults elsewhere)."""
    return architecture(arch).infer(state_dict)


def load_architecture(arch: str | ArchSpec, path: str | Path, **build_options: Any) -> tuple[Any, dict]:
    """Read ``path`` and return ``(model in eval mode on the CPU, constructor config)``.

    ``arch`` is a port's name (its ``ARCH``) or an :class:`ArchSpec`; ``build_options`` go to the constructor unchanged
    (e.g. AirNet's ``deform_conv``). Raises :class:`UserError` for a missing, unreadable or
    wrong-architecture file.
    """
    spec = architecture(arch) if isinstance(arch, str) else arch
    state_dict = strip_common_prefix(find_state_dict(read_checkpoint(path), path))
    config = {**spec.infer(state_dict), **build_options}  # options the tensors do not record win
    return build_checked(spec.build, config, {**spec.defaults(), **build_options}, state_dict, spec.display, path)


def build_checked(build: Callable[..., Any], config: dict, defaults: dict, state_dict: Mapping[str, Any],
                  display: str, path: str | Path) -> tuple[Any, dict]:
    """``(build(**config) in eval mode holding state_dict, config)``, its keys and shapes checked first.

    The check runs on a network built on torch's meta device (shapes, no storage), so a wrong file is
    refused (:func:`check_keys`, one line) before a released-size network is allocated. ``config``
    inferred from a file whose shapes make no sense for the architecture (the constructor raises) is
    replaced by ``defaults``, the release's, so the refusal compares the file with the release.
    """
    import torch

    try:
        with torch.device("meta"):
            probe = build(**config)
    except (ValueError, ZeroDivisionError, RuntimeError, TypeError):
        config = dict(defaults)
        with torch.device("meta"):
            probe = build(**config)
    check_keys(probe, state_dict, display, path)
    del probe
    model = build(**config)
    model.load_state_dict(state_dict, strict=True)
    return model.eval(), config

