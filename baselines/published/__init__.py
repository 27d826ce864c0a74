"""Published restoration methods run from their authors' released checkpoints: one folder each, and what they share.

Each method lives in its folder ``baselines/published/<name>/`` (the registry :mod:`baselines.ports`
finds them): ``__init__.py`` declares its ``PORT`` and catalog facts, ``arch.py`` the network
(re-implemented with the authors' parameter names; Restormer's blocks are shared by PromptIR,
X-Restormer and IDR), ``method.py`` its checkpoint configuration, the authors' test pipeline, its
``Method`` and factory. This module holds what the checkpoint ports share (:class:`CheckpointMethod`,
the checks of a checkpoint option, of a variant and of RGB channels, the random-weight build the
profiler times) and ``spandrel:<path>``: any RGB 1x restoration model the ``spandrel`` package recognises.

The weights are the files the authors released, which users download themselves (docs/BASELINES.md
lists them). Nothing is ever downloaded here. Every method receives and returns float (N, 3, H, W)
batches in [0, 1]; the harness pads to ``multiple_of`` (reflect) and clips the output.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any

from abair.errors import UserError
from baselines.base import Method, RestoreContext

__all__ = [
    "CheckpointMethod", "SpandrelMethod", "file_sha256", "need_checkpoint", "check_max_batch", "check_variant",
    "variant_record_name", "variant_start", "pipeline_details", "variant_details", "check_rgb", "released_network",
    "profile_method", "make_spandrel",
]


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (recorded with every run so results name the exact weights).

    Remembered per file (resolved path, size, modification time), so a method's ``config()`` may ask
    on every call and a rewritten file is hashed again."""
    st = os.stat(path)
    return _sha256_of(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    return value


class CheckpointMethod(Method):
    """A network loaded from a checkpoint, run as-is on the batch (eval mode, no gradients)."""

    def __init__(self, name: str, model, checkpoint: Path, architecture: str, arch_config: dict,
                 multiple_of: int, max_batch: int = 1, details: dict[str, Any] | None = None):
        self.name = name
        self.details = dict(details or {})  # e.g. the variant and the authors' test pipeline, in config()
        self.model = model.eval()
        self.checkpoint = checkpoint
        self.architecture = architecture
        self.arch_config = arch_config
        self.multiple_of = multiple_of
        self.max_batch = max_batch
        self.device = "cpu"

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "architecture": self.architecture,
            "checkpoint": str(self.checkpoint),
            "checkpoint_sha256": file_sha256(self.checkpoint),
            "arch_config": {k: jsonable(v) for k, v in self.arch_config.items()},
            **self.details,
        }

    def to(self, device: str) -> CheckpointMethod:
        self.model.to(device)
        self.device = device
        return self

    def restore(self, batch, context: RestoreContext):
        import torch

        with torch.inference_mode():
            return self.model(batch)


def need_checkpoint(method: str, checkpoint: str | None, files: str) -> Path:
    """The resolved path of a method's ``checkpoint`` option; one line naming the option and ``files`` when unset."""
    if checkpoint in (None, ""):
        raise UserError(
            f"method '{method}' needs the authors' weights: pass --method-arg {method}.checkpoint=PATH "
            f"({files}; see docs/BASELINES.md, nothing is downloaded)"
        )
    return Path(str(checkpoint)).expanduser().resolve()


def check_max_batch(value: Any) -> int:
    """``value`` when it is a positive integer (the ``max_batch`` option), else one line."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UserError(f"max_batch must be a positive integer, got {value!r}")
    return value


# -------------------------------------------------------------------------------------- named variants

def variants(method: str) -> dict[str, Any]:
    """The named variants (``variant -> Release``) of ``method``'s released files, from its catalog entry."""
    from baselines.catalog import published

    return published(method).variants


def check_variant(method: str, variant: str) -> str:
    """``variant`` when it names one of ``method``'s released checkpoints ('' for none), else one line."""
    from abair.errors import did_you_mean

    known = variants(method)
    if variant and variant not in known:
        raise UserError(f"'{method}:{variant}' is not a variant of {method}{did_you_mean(variant, list(known))}; "
                        f"its variants: {', '.join(f'{method}:{v}' for v in known)}")
    return variant


def variant_record_name(method: str):
    """The record-name function of ``METHOD[:variant]`` (``mprnet:deblur`` records as ``mprnet:deblur``)."""

    def record(variant: str) -> str:
        return f"{method}:{check_variant(method, variant)}" if variant else method

    return record


def variant_start(method: str, variant: str, checkpoint: str | None, max_batch: Any, example: str
                  ) -> tuple[str, str, Path, int]:
    """(variant, record name, checkpoint path, max_batch) of ``METHOD[:variant]``, each checked in one line."""
    variant = check_variant(method, variant)
    name = f"{method}:{variant}" if variant else method
    files = f"the release file {variants(method)[variant].file}" if variant else f"e.g. {example}"
    return variant, name, need_checkpoint(name, checkpoint, files), check_max_batch(max_batch)


def pipeline_details(pipeline: dict[str, Any]) -> dict[str, Any]:
    """``{"pipeline": ...}``: a method's test pipeline as its authors' scripts run it (each port's ``PIPELINE``),
    as its run configs record it (see docs/BASELINES.md)."""
    return {"pipeline": dict(pipeline)}


def variant_details(method: str, variant: str, pipeline: dict[str, Any]) -> dict[str, Any]:
    """What a run of ``METHOD[:variant]`` records: the variant, its released file and tasks, the test pipeline."""
    details: dict[str, Any] = {"variant": variant or None}
    if variant:
        release = variants(method)[variant]
        details["released_file"] = release.file
        details["tasks"] = list(release.tasks)
    return {**details, **pipeline_details(pipeline)}


def check_rgb(path: Path | None, display: str, c_in: int, c_out: int) -> None:
    """One line unless the network maps 3 channels to 3 (``display``: the architecture, in the message)."""
    if (c_in, c_out) != (3, 3):
        raise UserError(f"checkpoint {path} is a {c_in}->{c_out}-channel {display}; the benchmark restores RGB images (3->3)")


# -------------------------------------------------------------------------------------- profiling


def released_network(arch: str, **build_options: Any) -> tuple[Any, dict]:
    """``(network in eval mode, constructor config)`` of the port ``arch`` (its ``ARCH``,
    :func:`baselines.archs.loading.architecture`) at its main release's configuration, with the random
    weights of the torch generator's current state: what loading the release file gives, but for the weights.
    ``build_options`` are the run settings the loader passes (e.g. Uformer's ``img_size``)."""
    from baselines.archs.loading import architecture

    spec = architecture(arch)
    cfg = {**spec.defaults(), **build_options}
    return spec.build(**cfg).eval(), cfg


def profile_method(name: str) -> Method:
    """The registered method ``name`` with random weights at its main release's size, for timing: the same
    class, padding, pipeline and output selection as a run (each port's ``profile_builder``, :mod:`baselines.ports`)."""
    from abair.errors import unknown_name
    from baselines.ports import port, ports, resolve

    found = port(name)
    if found is None or not (found.profile_builder or found.released_as):
        raise unknown_name("profiled baseline", name, [p.name for p in ports() if p.profile_builder or p.released_as])
    if found.profile_builder:
        return resolve(found.profile_builder)()
    return resolve(found.released_as)(*released_network(found.name, **dict(found.build_options)), None)


# -------------------------------------------------------------------------------------- spandrel


class SpandrelMethod(Method):
    """A model loaded by ``spandrel`` (architecture detected from the state dict)."""

    def __init__(self, name: str, descriptor, checkpoint: Path, max_batch: int = 1):
        self.name = name
        self.descriptor = descriptor.eval()
        self.checkpoint = checkpoint
        self.multiple_of = int(descriptor.size_requirements.multiple_of)
        self.max_batch = max_batch

    def config(self) -> dict[str, Any]:
        import spandrel

        return {
            "name": self.name,
            "architecture": self.descriptor.architecture.name,
            "loader": f"spandrel {spandrel.__version__}",
            "checkpoint": str(self.checkpoint),
            "checkpoint_sha256": file_sha256(self.checkpoint),
        }

    def to(self, device: str) -> SpandrelMethod:
        import torch

        self.descriptor.to(torch.device(device))
        return self

    def restore(self, batch, context: RestoreContext):
        import torch

        with torch.inference_mode():
            return self.descriptor(batch)


def spandrel_record_name(path: str) -> str:
    """The method name a ``spandrel:<path>`` run records: ``spandrel:<file name>`` (the file name, not
    the path: method names become folder names in saved outputs)."""
    return f"spandrel:{Path(path).expanduser().resolve().name}"


def make_spandrel(path: str | None = None, max_batch: int = 1) -> SpandrelMethod:
    """``spandrel:<path>``: load ``path`` through spandrel (plus spandrel-extra-arches when installed,
    which provides Restormer, MPRNet, MIRNet-v2, ...). The file is read by this project's safe loader
    (weights-only / safetensors) and only the state dict is handed to spandrel."""
    if not path:
        raise UserError("spandrel needs a checkpoint: use --methods spandrel:/path/to/model.pth")
    try:
        import spandrel
    except ImportError:
        raise UserError("the spandrel: methods need the spandrel package: pip install 'abair-bench[spandrel]'") from None
    try:
        import spandrel_extra_arches
    except ImportError:
        spandrel_extra_arches = None
    if spandrel_extra_arches is not None:
        spandrel_extra_arches.install(ignore_duplicates=True)

    from baselines.archs.loading import find_state_dict, first_sentence, read_checkpoint, strip_common_prefix

    ckpt = Path(path).expanduser().resolve()
    state_dict = strip_common_prefix(find_state_dict(read_checkpoint(ckpt), ckpt), ("module.", "netG."))
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(state_dict)
    except spandrel.UnsupportedModelError:
        extra = "" if spandrel_extra_arches else " (spandrel-extra-arches is not installed, which adds Restormer and others)"
        raise UserError(f"spandrel does not recognise the architecture of checkpoint {ckpt}{extra}") from None
    except (RuntimeError, KeyError, ValueError) as exc:
        raise UserError(f"spandrel could not load checkpoint {ckpt}: {first_sentence(exc)}") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.scale != 1 or (
        descriptor.input_channels, descriptor.output_channels) != (3, 3):
        raise UserError(
            f"checkpoint {ckpt} is a {descriptor.architecture.name} model (scale {descriptor.scale}, "
            f"{descriptor.input_channels}->{descriptor.output_channels} channels); the benchmark needs a 1x RGB restorer"
        )
    return SpandrelMethod(spandrel_record_name(path), descriptor, ckpt, max_batch=check_max_batch(max_batch))
