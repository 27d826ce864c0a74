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
    "ARCHITECTURES", "ArchSpec", "read_checkpoint", "check_archive_size", "find_state_dict", "strip_common_prefix",
    "check_keys", "guess_architecture", "infer_config", "load_architecture", "load_restormer", "load_promptir",
    "load_airnet", "load_mprnet", "load_uformer", "load_xrestormer", "load_idr",
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


def _seq_len(state_dict: Mapping[str, Any], prefix: str) -> int:
    """Length of an ``nn.Sequential`` stored under ``prefix`` (largest ``prefix.<i>.`` index + 1)."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    found = [int(m.group(1)) for m in map(pattern.match, state_dict) if m]
    return max(found) + 1 if found else 0


def _dim(state_dict, key: str, axis: int) -> int | None:
    t = state_dict.get(key)
    return int(t.shape[axis]) if t is not None and t.ndim > axis else None


def _restormer_like(state_dict, defaults: dict) -> dict:
    cfg = dict(defaults)
    dim = _dim(state_dict, "patch_embed.proj.weight", 0)
    if dim:
        cfg["dim"] = dim
        cfg["in_channels"] = _dim(state_dict, "patch_embed.proj.weight", 1)
    cfg["out_channels"] = _dim(state_dict, "output.weight", 0) or cfg["out_channels"]
    blocks, heads = list(cfg["num_blocks"]), list(cfg["heads"])
    for i, stage in enumerate(("encoder_level1", "encoder_level2", "encoder_level3", "latent")):
        blocks[i] = _seq_len(state_dict, stage) or blocks[i]
        heads[i] = _dim(state_dict, f"{stage}.0.attn.temperature", 0) or heads[i]
    cfg["num_blocks"], cfg["heads"] = tuple(blocks), tuple(heads)
    cfg["num_refinement_blocks"] = _seq_len(state_dict, "refinement") or cfg["num_refinement_blocks"]
    hidden = _dim(state_dict, "encoder_level1.0.ffn.project_out.weight", 1)
    if hidden and hidden != int(cfg["dim"] * cfg["ffn_expansion_factor"]):
        cfg["ffn_expansion_factor"] = hidden / cfg["dim"]
    if "encoder_level1.0.attn.qkv.weight" in state_dict:
        cfg["bias"] = "encoder_level1.0.attn.qkv.bias" in state_dict
    if "encoder_level1.0.norm1.body.weight" in state_dict:
        cfg["layernorm"] = "WithBias" if "encoder_level1.0.norm1.body.bias" in state_dict else "BiasFree"
    return cfg


def _restormer_config(state_dict) -> dict:
    from .restormer import RESTORMER_DEFAULTS

    cfg = _restormer_like(state_dict, RESTORMER_DEFAULTS)
    cfg["dual_pixel_task"] = "skip_conv.weight" in state_dict
    return cfg


def _promptir_config(state_dict) -> dict:
    from .promptir import PROMPTIR_DEFAULTS

    cfg = _restormer_like(state_dict, PROMPTIR_DEFAULTS)
    dims, sizes = list(cfg["prompt_dims"]), list(cfg["prompt_sizes"])
    for i in range(3):
        t = state_dict.get(f"prompt{i + 1}.prompt_param")
        if t is not None and t.ndim == 5:
            cfg["prompt_len"], dims[i], sizes[i] = int(t.shape[1]), int(t.shape[2]), int(t.shape[3])
    cfg["prompt_dims"], cfg["prompt_sizes"] = tuple(dims), tuple(sizes)
    return cfg


def _airnet_config(state_dict) -> dict:
    from .airnet import AIRNET_DEFAULTS

    cfg = dict(AIRNET_DEFAULTS)
    cfg["n_feats"] = _dim(state_dict, "R.head.0.weight", 0) or cfg["n_feats"]
    groups = _seq_len(state_dict, "R.body")
    blocks = _seq_len(state_dict, "R.body.0.body")
    cfg["n_groups"] = groups - 1 if groups > 1 else cfg["n_groups"]
    cfg["n_blocks"] = blocks - 1 if blocks > 1 else cfg["n_blocks"]
    cfg["queue_size"] = _dim(state_dict, "E.E.queue", 1) or cfg["queue_size"]
    return cfg


def _mprnet_config(state_dict) -> dict:
    from .mprnet import MPRNET_DEFAULTS

    cfg = dict(MPRNET_DEFAULTS)
    first = state_dict.get("shallow_feat1.0.weight")
    if first is None or first.ndim != 4:
        return cfg
    n_feat = int(first.shape[0])
    cfg.update(in_c=int(first.shape[1]), n_feat=n_feat, kernel_size=int(first.shape[2]),
               bias="shallow_feat1.0.bias" in state_dict)
    squeeze = _dim(state_dict, "shallow_feat1.1.CA.conv_du.0.weight", 0)
    if squeeze and n_feat % squeeze == 0:
        cfg["reduction"] = n_feat // squeeze
    tail_out, tail_in = _dim(state_dict, "tail.weight", 0), _dim(state_dict, "tail.weight", 1)
    if tail_out and tail_in:
        cfg["out_c"], cfg["scale_orsnetfeats"] = tail_out, tail_in - n_feat
    level2 = _dim(state_dict, "stage1_encoder.encoder_level2.0.CA.conv_du.0.weight", 1)
    if level2:
        cfg["scale_unetfeats"] = level2 - n_feat
    cabs = _seq_len(state_dict, "stage3_orsnet.orb1.body")
    cfg["num_cab"] = cabs - 1 if cabs > 1 else cfg["num_cab"]
    return cfg


_UFORMER_LAYERS = tuple(f"encoderlayer_{i}" for i in range(4)) + ("conv",) + tuple(f"decoderlayer_{i}" for i in range(4))


def _uformer_config(state_dict) -> dict:
    import math

    from .uformer import UFORMER_DEFAULTS

    cfg = dict(UFORMER_DEFAULTS)
    cfg["embed_dim"] = _dim(state_dict, "input_proj.proj.0.weight", 0) or cfg["embed_dim"]
    cfg["dd_in"] = _dim(state_dict, "input_proj.proj.0.weight", 1) or cfg["dd_in"]
    depths, heads = list(cfg["depths"]), list(cfg["num_heads"])
    for i, layer in enumerate(_UFORMER_LAYERS):
        depths[i] = _seq_len(state_dict, f"{layer}.blocks") or depths[i]
        heads[i] = _dim(state_dict, f"{layer}.blocks.0.attn.relative_position_bias_table", 1) or heads[i]
    cfg["depths"], cfg["num_heads"] = tuple(depths), tuple(heads)
    table = _dim(state_dict, "encoderlayer_0.blocks.0.attn.relative_position_bias_table", 0)
    if table and math.isqrt(table) ** 2 == table and math.isqrt(table) % 2:
        cfg["win_size"] = (math.isqrt(table) + 1) // 2
    hidden = _dim(state_dict, "encoderlayer_0.blocks.0.mlp.linear1.0.weight", 0)
    if hidden:
        cfg["mlp_ratio"] = hidden / cfg["embed_dim"]
    cfg["modulator"] = "decoderlayer_0.blocks.0.modulator.weight" in state_dict
    return cfg


def _xrestormer_config(state_dict) -> dict:
    from .xrestormer import XRESTORMER_DEFAULTS

    cfg = dict(XRESTORMER_DEFAULTS)
    dim = _dim(state_dict, "patch_embed.proj.weight", 0)
    if dim:
        cfg["dim"], cfg["in_channels"] = dim, _dim(state_dict, "patch_embed.proj.weight", 1)
    cfg["out_channels"] = _dim(state_dict, "output.weight", 0) or cfg["out_channels"]
    blocks, cheads = list(cfg["num_blocks"]), list(cfg["channel_heads"])
    sheads, ratios = list(cfg["spatial_heads"]), list(cfg["overlap_ratio"])
    dim_head = _dim(state_dict, "encoder_level1.0.spatial_attn.rel_pos_emb.rel_height", 1)
    # the tables give the overlapping window ow = win + int(win * ratio) only; every release has ratio
    # 0.5, so the window is the one that gives ow at 0.5 (ow = 12 -> 8), else the default with ratio fitted
    first = _dim(state_dict, "encoder_level1.0.spatial_attn.rel_pos_emb.rel_height", 0)
    win = cfg["window_size"]
    if first:
        half = (first + 1) // 2 * 2 // 3
        if half and half + int(half * 0.5) == (first + 1) // 2:
            win = cfg["window_size"] = half
    if dim_head:
        cfg["spatial_dim_head"] = dim_head
    for i, stage in enumerate(("encoder_level1", "encoder_level2", "encoder_level3", "latent")):
        blocks[i] = _seq_len(state_dict, stage) or blocks[i]
        cheads[i] = _dim(state_dict, f"{stage}.0.channel_attn.temperature", 0) or cheads[i]
        inner = _dim(state_dict, f"{stage}.0.spatial_attn.project_out.weight", 1)
        if inner and dim_head:
            sheads[i] = inner // dim_head
        table = _dim(state_dict, f"{stage}.0.spatial_attn.rel_pos_emb.rel_height", 0)
        if table:  # rows: 2 * ow - 1
            ratios[i] = 0.5 if win + int(win * 0.5) == (table + 1) // 2 else ((table + 1) // 2 - win) / win
    cfg["num_blocks"], cfg["channel_heads"] = tuple(blocks), tuple(cheads)
    cfg["spatial_heads"], cfg["overlap_ratio"] = tuple(sheads), tuple(ratios)
    cfg["num_refinement_blocks"] = _seq_len(state_dict, "refinement") or cfg["num_refinement_blocks"]
    hidden = _dim(state_dict, "encoder_level1.0.channel_ffn.project_out.weight", 1)
    if hidden and dim and hidden != int(cfg["dim"] * cfg["ffn_expansion_factor"]):
        cfg["ffn_expansion_factor"] = hidden / cfg["dim"]
    if "encoder_level1.0.channel_attn.qkv.weight" in state_dict:
        cfg["bias"] = "encoder_level1.0.channel_attn.qkv.bias" in state_dict
    if "encoder_level1.0.norm1.body.weight" in state_dict:
        cfg["layernorm"] = "WithBias" if "encoder_level1.0.norm1.body.bias" in state_dict else "BiasFree"
    return cfg


def _idr_config(state_dict) -> dict:
    from .idr import IDR_DEFAULTS

    # the U-net is Restormer's (same keys); the constructor names its arguments as the authors' code does
    cfg = _restormer_like(state_dict, {**IDR_DEFAULTS, "in_channels": 3, "layernorm": "WithBias"})
    cfg["inp_channels"] = cfg.pop("in_channels") or IDR_DEFAULTS["inp_channels"]
    cfg["LayerNorm_type"] = cfg.pop("layernorm")
    key = state_dict.get("degra_key")
    if key is not None and key.ndim == 3:
        cfg["degra_type"], cfg["num_degra_queries"] = int(key.shape[0]), int(key.shape[1])
    cfg["ops_type"] = _dim(state_dict, "kdp_level1.principle.pred.2.weight", 0) or cfg["ops_type"]
    cfg["sam"] = "kdp_level1.SAM.conv1.weight" in state_dict
    return cfg


def _daclip_unet_config(state_dict) -> dict:
    from .daclip import unet_config

    return unet_config(state_dict)


def _builder(module: str, name: str) -> Callable[..., Any]:
    """``cfg -> module.name(**cfg)``, importing the architecture's module only when a model is built."""

    def build(**cfg):
        import importlib

        return getattr(importlib.import_module(f"baselines.archs.{module}"), name)(**cfg)

    return build


@dataclass(frozen=True)
class ArchSpec:
    """How to configure and build one architecture from a state dict."""

    display: str  # "Restormer"
    infer: Callable[[Mapping[str, Any]], dict]
    build: Callable[..., Any]
    defaults: Callable[[], dict]


def _defaults(module: str, name: str) -> Callable[[], dict]:
    def get() -> dict:
        import importlib

        return dict(getattr(importlib.import_module(f"baselines.archs.{module}"), name))

    return get


ARCHITECTURES: dict[str, ArchSpec] = {
    "restormer": ArchSpec("Restormer", _restormer_config, _builder("restormer", "Restormer"), _defaults("restormer", "RESTORMER_DEFAULTS")),
    "promptir": ArchSpec("PromptIR", _promptir_config, _builder("promptir", "PromptIR"), _defaults("promptir", "PROMPTIR_DEFAULTS")),
    "airnet": ArchSpec("AirNet", _airnet_config, _builder("airnet", "AirNet"), _defaults("airnet", "AIRNET_DEFAULTS")),
    "mprnet": ArchSpec("MPRNet", _mprnet_config, _builder("mprnet", "build_mprnet"), _defaults("mprnet", "MPRNET_DEFAULTS")),
    "uformer": ArchSpec("Uformer", _uformer_config, _builder("uformer", "Uformer"), _defaults("uformer", "UFORMER_DEFAULTS")),
    "x-restormer": ArchSpec("X-Restormer", _xrestormer_config, _builder("xrestormer", "XRestormer"),
                            _defaults("xrestormer", "XRESTORMER_DEFAULTS")),
    "idr": ArchSpec("IDR", _idr_config, _builder("idr", "IDR"), _defaults("idr", "IDR_DEFAULTS")),
    # DA-CLIP's restoration network; its encoder file is read by baselines.archs.daclip.load_daclip_encoder
    "daclip": ArchSpec("DA-CLIP", _daclip_unet_config, _builder("irsde_unet", "ConditionalUNet"),
                       _defaults("irsde_unet", "IRSDE_UNET_DEFAULTS")),
}


def infer_config(arch: str, state_dict: Mapping[str, Any]) -> dict:
    """The constructor arguments that make ``arch`` match ``state_dict``'s shapes (defaults elsewhere)."""
    return ARCHITECTURES[arch].infer(state_dict)


def load_architecture(arch: str, path: str | Path, **build_options: Any) -> tuple[Any, dict]:
    """Read ``path`` and return ``(model in eval mode on the CPU, constructor config)``.

    ``arch`` is a key of :data:`ARCHITECTURES`; ``build_options`` go to the constructor unchanged
    (e.g. AirNet's ``deform_conv``). Raises :class:`UserError` for a missing, unreadable or
    wrong-architecture file.
    """
    import torch

    spec = ARCHITECTURES[arch]
    state_dict = strip_common_prefix(find_state_dict(read_checkpoint(path), path))
    config = {**spec.infer(state_dict), **build_options}  # options the tensors do not record win
    try:
        with torch.device("meta"):
            spec.build(**config)
    except (ValueError, ZeroDivisionError, RuntimeError, TypeError):
        # shapes made no sense for this architecture: compare with the release
        config = {**spec.defaults(), **build_options}
    model = spec.build(**config)
    check_keys(model, state_dict, spec.display, path)
    model.load_state_dict(state_dict, strict=True)
    return model.eval(), config


def load_restormer(path: str | Path) -> tuple[Any, dict]:
    """Restormer from an official ``.pth`` (``{"params": ...}``) or a safetensors export."""
    return load_architecture("restormer", path)


def load_promptir(path: str | Path) -> tuple[Any, dict]:
    """PromptIR from the official Lightning ``model.ckpt`` (``state_dict`` keys ``net.*``)."""
    return load_architecture("promptir", path)


def load_airnet(path: str | Path, deform_conv: str = "auto") -> tuple[Any, dict]:
    """AirNet from an official ``.pth`` (All.pth, Denoise.pth, Derain.pth, Dehaze.pth)."""
    return load_architecture("airnet", path, deform_conv=deform_conv)


def load_mprnet(path: str | Path) -> tuple[Any, dict]:
    """MPRNet from an official ``model_deblurring.pth`` / ``model_deraining.pth`` / ``model_denoising.pth``."""
    return load_architecture("mprnet", path)


def load_uformer(path: str | Path, img_size: int = 128) -> tuple[Any, dict]:
    """Uformer from an official ``.pth`` (``Uformer_B_SIDD.pth``, ``Uformer_B_GoPro.pth``); ``img_size``
    is the size the network is built for (128 in the authors' test scripts), which no tensor records."""
    return load_architecture("uformer", path, img_size=img_size)


def load_xrestormer(path: str | Path) -> tuple[Any, dict]:
    """X-Restormer from an official BasicSR ``.pth`` (``{"params": ...}``: deblur_300k.pth, ...)."""
    return load_architecture("x-restormer", path)


def load_idr(path: str | Path, svd_device: str | None = None, antialias: bool = False) -> tuple[Any, dict]:
    """IDR from a checkpoint of the authors' training code (a bare state dict ``.pth``); ``svd_device`` and
    ``antialias`` are run settings no tensor records (see :class:`baselines.archs.idr.IDR`)."""
    return load_architecture("idr", path, svd_device=svd_device, antialias=antialias)
