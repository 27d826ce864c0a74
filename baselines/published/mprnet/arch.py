"""MPRNet (Zamir et al., CVPR 2021): the authors' released checkpoints on spandrel-extra-arches' definition.

MPRNet is not re-implemented here: ``spandrel-extra-arches`` (the chaiNNer project's package, an
optional dependency of this one: ``pip install 'abair-bench[spandrel]'``) ships the network with the
authors' module names, so the released ``model_deblurring.pth`` / ``model_deraining.pth`` /
``model_denoising.pth`` load into it strictly; its forward pass is the authors' (checked against
``Deblurring/MPRNet.py`` of ``swz30/MPRNet`` on random weights, see docs/BASELINES.md). This module
only names the three released configurations, builds the network and keeps the final output.

The network works in three stages: stage 1 on four quarter-images, stage 2 on two half-images,
stage 3 at full resolution, each stage passing features on through supervised attention. Its
forward returns ``(stage 3, stage 2, stage 1)`` images; the restored image is stage 3 (a predicted
residual added to the input, not clipped). H and W must be multiples of 8 (each quarter is halved
twice in the encoder). The three released files differ only in their widths (:data:`MPRNET_VARIANTS`).
"""

from __future__ import annotations

import warnings
from typing import Any

from abair.errors import UserError

__all__ = ["MPRNET_DEFAULTS", "MPRNET_VARIANTS", "mprnet_class", "build_mprnet", "mprnet_variant", "final_output"]

#: widths of the released checkpoints (the constants at the top of each task's ``MPRNet.py``)
MPRNET_VARIANTS: dict[str, dict[str, int]] = {
    "deblur": {"n_feat": 96, "scale_unetfeats": 48, "scale_orsnetfeats": 32},
    "derain": {"n_feat": 40, "scale_unetfeats": 20, "scale_orsnetfeats": 16},
    "denoise": {"n_feat": 80, "scale_unetfeats": 48, "scale_orsnetfeats": 32},
}

#: everything else is shared by the three releases
MPRNET_DEFAULTS: dict[str, Any] = {
    "in_c": 3, "out_c": 3, **MPRNET_VARIANTS["deblur"], "num_cab": 8, "kernel_size": 3, "reduction": 4, "bias": False,
}


def mprnet_class():
    """spandrel-extra-arches' ``MPRNet`` class, or a one-line :class:`UserError` when it is not installed."""
    try:
        with warnings.catch_warnings():  # the package's import emits unrelated torch.jit deprecation warnings
            warnings.simplefilter("ignore")
            from spandrel_extra_arches.architectures.MPRNet import MPRNet
    except ImportError:
        raise UserError("MPRNet runs on the spandrel-extra-arches package, which is not installed: "
                        "pip install 'abair-bench[spandrel]'") from None
    return MPRNet


def build_mprnet(**cfg: Any):
    """The network for ``cfg`` (keys of :data:`MPRNET_DEFAULTS`), randomly initialised."""
    return mprnet_class()(**cfg)


def mprnet_variant(cfg: dict[str, Any]) -> str | None:
    """The released variant whose widths ``cfg`` has (``"deblur"``, ``"derain"``, ``"denoise"``), or None."""
    for name, widths in MPRNET_VARIANTS.items():
        if all(cfg.get(k) == v for k, v in widths.items()):
            return name
    return None


def final_output(outputs):
    """The restored image from MPRNet's ``(stage 3, stage 2, stage 1)`` outputs."""
    return outputs[0]
