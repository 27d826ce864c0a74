"""AirNet's checkpoint configuration, the authors' test pipeline and the ``airnet`` method.

Released files: ``.pth`` holding the bare ``state_dict`` (keys ``R.*`` and ``E.E.*``), read strictly by
:func:`baselines.archs.loading.load_architecture`. The width, group and block counts and the MoCo
queue length (it differs between the released files) are read from the tensor shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from abair.errors import UserError
from baselines.archs.loading import declared_arch, load_architecture, seq_len, tensor_dim
from baselines.published import CheckpointMethod, check_max_batch, need_checkpoint, pipeline_details

__all__ = ["ARCH", "PIPELINE", "AirNetMethod", "make", "method"]

#: the authors' test pipeline (recorded in config(), see docs/BASELINES.md)
PIPELINE: dict[str, Any] = {
    "pad": "none (any H, W)", "output": "the restorer's (R), the encoder's outputs unused", "crop": "none",
    "clip": "[0, 1]", "colour": "RGB", "range": "[0, 1]", "self_ensemble": False,
    "source": "XLearning-SCU/2022-CVPR-AirNet test.py",
}


def _infer(state_dict: Mapping[str, Any]) -> dict:
    cfg = ARCH.defaults()
    cfg["n_feats"] = tensor_dim(state_dict, "R.head.0.weight", 0) or cfg["n_feats"]
    groups = seq_len(state_dict, "R.body")
    blocks = seq_len(state_dict, "R.body.0.body")
    cfg["n_groups"] = groups - 1 if groups > 1 else cfg["n_groups"]
    cfg["n_blocks"] = blocks - 1 if blocks > 1 else cfg["n_blocks"]
    cfg["queue_size"] = tensor_dim(state_dict, "E.E.queue", 1) or cfg["queue_size"]
    return cfg


ARCH = declared_arch("AirNet", _infer, f"{__package__}.arch:AirNet", f"{__package__}.arch:AIRNET_DEFAULTS")


def make(checkpoint: str | None = None, max_batch: int = 1, deform_conv: str = "auto") -> CheckpointMethod:
    """AirNet from an official ``.pth`` (All.pth for the all-in-one model).

    ``deform_conv``: "auto" (torchvision's deformable-conv kernel on GPUs, pure PyTorch on the CPU,
    where it is faster), "torchvision" or "torch". They agree to float32 rounding
    (tests/test_published_archs.py); the one used is recorded in the run config.
    """
    from .arch import DEFORM_CONV_CHOICES

    path = need_checkpoint("airnet", checkpoint, "e.g. All.pth")
    max_batch = check_max_batch(max_batch)
    if deform_conv not in DEFORM_CONV_CHOICES:
        raise UserError(f"airnet.deform_conv must be one of {', '.join(DEFORM_CONV_CHOICES)}, got {deform_conv!r}")
    return method(*load_architecture(ARCH, path, deform_conv=deform_conv), path, max_batch)


def method(model, cfg: dict, path: Path | None, max_batch: int = 1) -> AirNetMethod:
    """The ``airnet`` method around a loaded network (``path``: its file; None for random weights)."""
    return AirNetMethod("airnet", model, path, "AirNet", cfg, multiple_of=1, max_batch=max_batch,
                        details=pipeline_details(PIPELINE))


class AirNetMethod(CheckpointMethod):
    """Records which deformable-convolution implementation ran on the method's device."""

    def config(self) -> dict[str, Any]:
        from .arch import deform_conv_backend

        out = super().config()
        out["arch_config"]["deform_conv"] = deform_conv_backend(self.arch_config["deform_conv"], self.device.split(":")[0])
        return out
