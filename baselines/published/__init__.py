"""Published all-in-one / restoration networks run from their authors' released checkpoints.

- ``restormer``: Restormer (Zamir et al., CVPR 2022), ``--method-arg restormer.checkpoint=PATH``;
- ``promptir``: PromptIR (Potlapalli et al., NeurIPS 2023), ``--method-arg promptir.checkpoint=PATH``;
- ``airnet``: AirNet (Li et al., CVPR 2022), ``--method-arg airnet.checkpoint=PATH``;
- ``mprnet[:deblur|derain|denoise]``: MPRNet (Zamir et al., CVPR 2021), on spandrel-extra-arches' network;
- ``uformer[:denoise|deblur]``: Uformer (Wang et al., CVPR 2022), the authors' square zero-padding to 128;
- ``x-restormer[:denoise|deblur|derain|dehaze]``: X-Restormer (Chen et al., ECCV 2024), padding to 64;
- ``idr``: IDR (Zhang et al., CVPR 2023), from a checkpoint of the authors' training code (none was released);
- ``spandrel:<path>``: any RGB 1x restoration model the ``spandrel`` package recognises.

The architectures are this project's re-implementations (:mod:`baselines.archs`); the weights are
the files the authors released, which users download themselves (docs/BASELINES.md lists them).
Nothing is ever downloaded here. Every method receives and returns float (N, 3, H, W) batches in
[0, 1]; the harness pads to ``multiple_of`` (reflect) and clips the output.
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
    "CheckpointMethod", "AirNetMethod", "MPRNetMethod", "UformerMethod", "SpandrelMethod", "make_restormer",
    "make_promptir", "make_airnet", "make_mprnet", "make_uformer", "make_xrestormer", "make_idr", "make_spandrel",
    "variant_record_name", "released_network", "profile_method", "PIPELINES",
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


def _need_checkpoint(method: str, checkpoint: str | None, files: str) -> Path:
    if checkpoint in (None, ""):
        raise UserError(
            f"method '{method}' needs the authors' weights: pass --method-arg {method}.checkpoint=PATH "
            f"({files}; see docs/BASELINES.md, nothing is downloaded)"
        )
    return Path(str(checkpoint)).expanduser().resolve()


def _max_batch(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UserError(f"max_batch must be a positive integer, got {value!r}")
    return value


def make_restormer(checkpoint: str | None = None, max_batch: int = 1) -> CheckpointMethod:
    """Restormer from an official ``.pth`` (``{"params": ...}``); colour 3-channel models only."""
    from baselines.archs.loading import load_restormer

    path = _need_checkpoint("restormer", checkpoint, "e.g. motion_deblurring.pth or deraining.pth")
    max_batch = _max_batch(max_batch)
    return restormer_method(*load_restormer(path), path, max_batch)


def restormer_method(model, cfg: dict, path: Path | None, max_batch: int = 1) -> CheckpointMethod:
    """The ``restormer`` method around a loaded network (``path``: its file; None for random weights)."""
    if cfg["in_channels"] != 3 or cfg["out_channels"] != 3 or cfg["dual_pixel_task"]:
        kind = "dual-pixel" if cfg["dual_pixel_task"] else f"{cfg['in_channels']}-channel"
        raise UserError(
            f"checkpoint {path} is a {kind} Restormer; the benchmark restores RGB images, so use one of the "
            "colour checkpoints (motion_deblurring, single_image_defocus_deblurring, deraining, real_denoising, "
            "gaussian_color_denoising_*)"
        )
    return CheckpointMethod("restormer", model, path, "Restormer", cfg, multiple_of=8, max_batch=max_batch,
                            details=_pipeline_details("restormer"))


def make_promptir(checkpoint: str | None = None, max_batch: int = 1) -> CheckpointMethod:
    """PromptIR from the official Lightning ``model.ckpt`` (``state_dict`` keys prefixed ``net.``)."""
    from baselines.archs.loading import load_promptir

    path = _need_checkpoint("promptir", checkpoint, "the release file model.ckpt")
    max_batch = _max_batch(max_batch)
    return promptir_method(*load_promptir(path), path, max_batch)


def promptir_method(model, cfg: dict, path: Path | None, max_batch: int = 1) -> CheckpointMethod:
    """The ``promptir`` method around a loaded network (``path``: its file; None for random weights)."""
    if cfg["in_channels"] != 3 or cfg["out_channels"] != 3:
        raise UserError(f"checkpoint {path} is a {cfg['in_channels']}-channel PromptIR; the benchmark needs RGB (3)")
    return CheckpointMethod("promptir", model, path, "PromptIR", cfg, multiple_of=8, max_batch=max_batch,
                            details=_pipeline_details("promptir"))


def make_airnet(checkpoint: str | None = None, max_batch: int = 1, deform_conv: str = "auto") -> CheckpointMethod:
    """AirNet from an official ``.pth`` (All.pth for the all-in-one model).

    ``deform_conv``: "auto" (torchvision's deformable-conv kernel on GPUs, pure PyTorch on the CPU,
    where it is faster), "torchvision" or "torch". They agree to float32 rounding
    (tests/test_published_archs.py); the one used is recorded in the run config.
    """
    from baselines.archs.airnet import DEFORM_CONV_CHOICES
    from baselines.archs.loading import load_airnet

    path = _need_checkpoint("airnet", checkpoint, "e.g. All.pth")
    max_batch = _max_batch(max_batch)
    if deform_conv not in DEFORM_CONV_CHOICES:
        raise UserError(f"airnet.deform_conv must be one of {', '.join(DEFORM_CONV_CHOICES)}, got {deform_conv!r}")
    return airnet_method(*load_airnet(path, deform_conv=deform_conv), path, max_batch)


def airnet_method(model, cfg: dict, path: Path | None, max_batch: int = 1) -> AirNetMethod:
    """The ``airnet`` method around a loaded network (``path``: its file; None for random weights)."""
    return AirNetMethod("airnet", model, path, "AirNet", cfg, multiple_of=1, max_batch=max_batch,
                        details=_pipeline_details("airnet"))


class AirNetMethod(CheckpointMethod):
    """Records which deformable-convolution implementation ran on the method's device."""

    def config(self) -> dict[str, Any]:
        from baselines.archs.airnet import deform_conv_backend

        out = super().config()
        out["arch_config"]["deform_conv"] = deform_conv_backend(self.arch_config["deform_conv"], self.device.split(":")[0])
        return out


# -------------------------------------------------------------------------------------- named variants

#: each method's test pipeline as its authors' scripts run it (recorded in config(), see docs/BASELINES.md)
PIPELINES: dict[str, dict[str, Any]] = {
    "restormer": {
        "pad": "reflect, bottom/right, to a multiple of 8 (the harness)", "output": "the network's",
        "crop": "back to the input size", "clip": "[0, 1]", "colour": "RGB", "range": "[0, 1]",
        "self_ensemble": False, "source": "swz30/Restormer Motion_Deblurring/test.py and the other task scripts",
    },
    "promptir": {
        "pad": "reflect, bottom/right, to a multiple of 8 (the harness); the authors' test data is cropped to a "
               "multiple of 16", "output": "the network's", "crop": "back to the input size", "clip": "[0, 1]",
        "colour": "RGB", "range": "[0, 1]", "self_ensemble": False, "source": "va1shn9v/PromptIR demo.py, test.py",
    },
    "airnet": {
        "pad": "none (any H, W)", "output": "the restorer's (R), the encoder's outputs unused", "crop": "none",
        "clip": "[0, 1]", "colour": "RGB", "range": "[0, 1]", "self_ensemble": False,
        "source": "XLearning-SCU/2022-CVPR-AirNet test.py",
    },
    "mprnet": {
        "pad": "reflect, bottom/right, to a multiple of 8 (the harness)", "output": "stage 3 of (stage 3, 2, 1)",
        "crop": "back to the input size", "clip": "[0, 1]", "colour": "RGB", "range": "[0, 1]",
        "self_ensemble": False, "source": "swz30/MPRNet demo.py, Deblurring/test.py",
    },
    "uformer": {
        "pad": "zeros, centred, to a square of side ceil(max(h, w) / 128) * 128 (expand2square, in the method)",
        "output": "the image cut back out of the square", "crop": "back to the input size", "clip": "[0, 1]",
        "colour": "RGB", "range": "[0, 1]", "self_ensemble": False,
        "source": "ZhendongWang6/Uformer test/test_sidd.py, test/test_gopro_hide.py",
    },
    "x-restormer": {
        "pad": "reflect, bottom/right, to a multiple of 64 (the harness; padding_size: 64)", "output": "the network's",
        "crop": "back to the input size", "clip": "[0, 1]", "colour": "RGB", "range": "[0, 1]",
        "self_ensemble": False, "source": "Andrew0613/X-Restormer xrestormer/models/xrestormer_model.py, "
                                          "options/test/00*.yml",
    },
    "idr": {
        "pad": "reflect, bottom/right, to a multiple of 8 (the harness); the authors' test data is cropped, centred, "
               "to a multiple of 32 (crop_HWC_img, base=32)", "output": "the network's",
        "crop": "back to the input size", "clip": "[0, 1]", "colour": "RGB", "range": "[0, 1]",
        "self_ensemble": False, "source": "JingHao99/IDR-Ingredients-oriented-Degradation-Reformulation inference.py",
    },
}


def _variants(method: str) -> dict[str, Any]:
    from baselines.catalog import published

    return published(method).variants


def _check_variant(method: str, variant: str) -> str:
    """``variant`` when it names one of ``method``'s released checkpoints ('' for none), else one line."""
    from abair.errors import did_you_mean

    known = _variants(method)
    if variant and variant not in known:
        raise UserError(f"'{method}:{variant}' is not a variant of {method}{did_you_mean(variant, list(known))}; "
                        f"its variants: {', '.join(f'{method}:{v}' for v in known)}")
    return variant


def variant_record_name(method: str):
    """The record-name function of ``METHOD[:variant]`` (``mprnet:deblur`` records as ``mprnet:deblur``)."""

    def record(variant: str) -> str:
        return f"{method}:{_check_variant(method, variant)}" if variant else method

    return record


mprnet_record_name = variant_record_name("mprnet")
uformer_record_name = variant_record_name("uformer")
xrestormer_record_name = variant_record_name("x-restormer")


def _variant_start(method: str, variant: str, checkpoint: str | None, max_batch: Any, example: str
                   ) -> tuple[str, str, Path, int]:
    """(variant, record name, checkpoint path, max_batch) of ``METHOD[:variant]``, each checked in one line."""
    variant = _check_variant(method, variant)
    name = f"{method}:{variant}" if variant else method
    files = f"the release file {_variants(method)[variant].file}" if variant else f"e.g. {example}"
    return variant, name, _need_checkpoint(name, checkpoint, files), _max_batch(max_batch)


def _pipeline_details(method: str) -> dict[str, Any]:
    """``{"pipeline": ...}``: the authors' test pipeline of ``method``, as its run configs record it."""
    return {"pipeline": dict(PIPELINES[method])}


def _variant_details(method: str, variant: str) -> dict[str, Any]:
    details: dict[str, Any] = {"variant": variant or None}
    if variant:
        release = _variants(method)[variant]
        details["released_file"] = release.file
        details["tasks"] = list(release.tasks)
    return {**details, **_pipeline_details(method)}


def _rgb(path: Path, display: str, c_in: int, c_out: int) -> None:
    if (c_in, c_out) != (3, 3):
        raise UserError(f"checkpoint {path} is a {c_in}->{c_out}-channel {display}; the benchmark restores RGB images (3->3)")


class MPRNetMethod(CheckpointMethod):
    """MPRNet: the network returns (stage 3, stage 2, stage 1); the restored image is stage 3."""

    def restore(self, batch, context: RestoreContext):
        import torch

        from baselines.archs.mprnet import final_output

        with torch.inference_mode():
            return final_output(self.model(batch))


def make_mprnet(variant: str = "", checkpoint: str | None = None, max_batch: int = 1) -> MPRNetMethod:
    """``mprnet`` / ``mprnet:deblur|derain|denoise`` from an official ``model_*.pth``.

    The variant names the released file the checkpoint must be (the three differ in width, so a file of
    another variant is refused naming the right one); without a variant any MPRNet width is accepted.
    """
    from baselines.archs.loading import load_mprnet

    variant, name, path, max_batch = _variant_start("mprnet", variant, checkpoint, max_batch, "model_deblurring.pth")
    return mprnet_method(*load_mprnet(path), path, max_batch, variant)


def mprnet_method(model, cfg: dict, path: Path | None, max_batch: int = 1, variant: str = "") -> MPRNetMethod:
    """The ``mprnet[:variant]`` method around a loaded network (``path``: its file; None for random weights)."""
    from baselines.archs.mprnet import MPRNET_VARIANTS, mprnet_variant

    name = f"mprnet:{variant}" if variant else "mprnet"
    _rgb(path, "MPRNet", cfg["in_c"], cfg["out_c"])
    found = mprnet_variant(cfg)
    if variant and found != variant:
        widths = ", ".join(f"{k} {cfg[k]}" for k in MPRNET_VARIANTS[variant])
        which = f"the {found} model: use --methods mprnet:{found}" if found else "no released variant: use --methods mprnet"
        raise UserError(f"checkpoint {path} is not MPRNet's {variant} model ({widths}; it is {which})")
    details = _variant_details("mprnet", variant)
    details["widths_match"] = found
    return MPRNetMethod(name, model, path, "MPRNet", cfg, multiple_of=8, max_batch=max_batch, details=details)


class UformerMethod(CheckpointMethod):
    """Uformer with the authors' test padding: zeros, centred, to a square of side a multiple of 128."""

    def restore(self, batch, context: RestoreContext):
        import torch

        from baselines.archs.uformer import crop_from_square, expand_to_square

        square, offsets = expand_to_square(batch, 16 * self.arch_config["win_size"])
        with torch.inference_mode():
            return crop_from_square(self.model(square), offsets, tuple(batch.shape[-2:]))


def make_uformer(variant: str = "", checkpoint: str | None = None, max_batch: int = 1,
                 img_size: int = 128) -> UformerMethod:
    """``uformer`` / ``uformer:denoise|deblur`` from an official ``.pth`` (Uformer_B_SIDD.pth, Uformer_B_GoPro.pth).

    Both released files are Uformer-B: a variant refuses any other size. ``img_size`` is the size the
    network is built for (the authors' test scripts: 128, which leaves the 8x8 bottleneck unshifted).
    """
    from baselines.archs.loading import load_uformer

    if not isinstance(img_size, int) or isinstance(img_size, bool) or img_size < 16:
        raise UserError(f"uformer.img_size must be an integer of at least 16, got {img_size!r}")
    variant, name, path, max_batch = _variant_start("uformer", variant, checkpoint, max_batch, "Uformer_B_SIDD.pth")
    return uformer_method(*load_uformer(path, img_size=img_size), path, max_batch, variant)


def uformer_method(model, cfg: dict, path: Path | None, max_batch: int = 1, variant: str = "") -> UformerMethod:
    """The ``uformer[:variant]`` method around a loaded network (``path``: its file; None for random weights)."""
    from baselines.archs.uformer import uformer_size

    name = f"uformer:{variant}" if variant else "uformer"
    _rgb(path, "Uformer", cfg["dd_in"], 3)
    size = uformer_size(cfg)
    if variant and size != "Uformer-B":
        raise UserError(f"checkpoint {path} is {'a ' + size if size else 'not a named Uformer size'} but "
                        f"uformer:{variant} is the released Uformer-B ({_variants('uformer')[variant].file}); "
                        "run it as --methods uformer")
    details = {**_variant_details("uformer", variant), "size": size}
    return UformerMethod(name, model, path, "Uformer", cfg, multiple_of=1, max_batch=max_batch, details=details)


def make_xrestormer(variant: str = "", checkpoint: str | None = None, max_batch: int = 1) -> CheckpointMethod:
    """``x-restormer`` / ``x-restormer:denoise|deblur|derain|dehaze`` from an official BasicSR ``.pth``.

    The released files share one configuration, so the variant names the run and the file expected
    (it cannot be checked from the tensors). ``sr_300k.pth`` (x4 super-resolution) is no 1x restorer.
    """
    from baselines.archs.loading import load_xrestormer

    variant, name, path, max_batch = _variant_start("x-restormer", variant, checkpoint, max_batch, "deblur_300k.pth")
    return xrestormer_method(*load_xrestormer(path), path, max_batch, variant)


def xrestormer_method(model, cfg: dict, path: Path | None, max_batch: int = 1, variant: str = "") -> CheckpointMethod:
    """The ``x-restormer[:variant]`` method around a loaded network (``path``: its file; None for random weights)."""
    name = f"x-restormer:{variant}" if variant else "x-restormer"
    _rgb(path, "X-Restormer", cfg["in_channels"], cfg["out_channels"])
    return CheckpointMethod(name, model, path, "X-Restormer", cfg, multiple_of=8 * cfg["window_size"],
                            max_batch=max_batch, details=_variant_details("x-restormer", variant))


class IDRMethod(CheckpointMethod):
    """IDR: records where the SVD of the degradation keys was taken and the signs it gave (they change the output)."""

    def config(self) -> dict[str, Any]:
        from baselines.archs.idr import svd_signature

        out = super().config()
        out["arch_config"]["svd_device"] = self.model.svd_device or self.device.split(":")[0]
        out["svd_signs"] = svd_signature(self.model)
        return out


def make_idr(checkpoint: str | None = None, max_batch: int = 1, svd_device: str = "auto",
             antialias: bool = False) -> IDRMethod:
    """``idr`` from a checkpoint written by the authors' training code (no weights were released).

    ``svd_device``: "auto" takes the SVD of the degradation keys on the run's device, as the authors'
    forward does; "cpu" on the CPU whatever the device (the singular vectors' signs, which change the
    output, then do not depend on the device). ``antialias``: resize the input to each level with
    anti-aliasing (false: torchvision 0.12, which the authors pin).
    """
    from baselines.archs.loading import load_idr

    path = _need_checkpoint("idr", checkpoint, "a checkpoint of the authors' training code, e.g. 1200_G.pth; "
                                               "no weights were released")
    max_batch = _max_batch(max_batch)
    if svd_device not in ("auto", "cpu"):
        raise UserError(f"idr.svd_device must be auto or cpu, got {svd_device!r}")
    if not isinstance(antialias, bool):
        raise UserError(f"idr.antialias must be true or false, got {antialias!r}")
    return idr_method(*load_idr(path, svd_device=None if svd_device == "auto" else "cpu", antialias=antialias),
                      path, max_batch)


def idr_method(model, cfg: dict, path: Path | None, max_batch: int = 1) -> IDRMethod:
    """The ``idr`` method around a loaded network (``path``: its file; None for random weights); the
    network's ``svd_device`` None is recorded as "auto" (the run's device)."""
    _rgb(path, "IDR", cfg["inp_channels"], cfg["out_channels"])
    cfg = {**cfg, "svd_device": cfg.get("svd_device") or "auto"}
    return IDRMethod("idr", model, path, "IDR", cfg, multiple_of=8, max_batch=max_batch,
                     details=_pipeline_details("idr"))


# -------------------------------------------------------------------------------------- profiling


def released_network(arch: str, **build_options: Any) -> tuple[Any, dict]:
    """``(network in eval mode, constructor config)`` of ``arch`` (a key of
    :data:`baselines.archs.loading.ARCHITECTURES`) at its main release's configuration, with the random
    weights of the torch generator's current state: what loading the release file gives, but for the weights.
    ``build_options`` are the run settings the loader passes (e.g. Uformer's ``img_size``)."""
    from baselines.archs.loading import ARCHITECTURES

    spec = ARCHITECTURES[arch]
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
    return SpandrelMethod(spandrel_record_name(path), descriptor, ckpt, max_batch=_max_batch(max_batch))
