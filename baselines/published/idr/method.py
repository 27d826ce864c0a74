"""IDR's checkpoint configuration, the authors' test pipeline and the ``idr`` method.

No weights were released: the file is what the authors' training code saves, a bare state dict ``.pth``
(``<epoch>_G.pth``), keys prefixed ``module.`` when saved from a DataParallel wrapper, read strictly by
:func:`baselines.archs.loading.load_architecture`. The U-net is read as Restormer's
(:func:`baselines.published.restormer.method.restormer_like`), the key sets, operations and the SAM from
the other tensors; ``svd_device`` and ``antialias`` are run settings no tensor records.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from abair.errors import UserError
from baselines.archs.loading import declared_arch, load_architecture, tensor_dim
from baselines.published import (
    CheckpointMethod,
    check_max_batch,
    check_rgb,
    need_checkpoint,
    pipeline_details,
)
from baselines.published.restormer.method import restormer_like

__all__ = ["ARCH", "PIPELINE", "IDRMethod", "make", "method"]

#: the authors' test pipeline (recorded in config(), see docs/BASELINES.md)
PIPELINE: dict[str, Any] = {
    "pad": "reflect, bottom/right, to a multiple of 8 (the harness); the authors' test data is cropped, centred, "
           "to a multiple of 32 (crop_HWC_img, base=32)", "output": "the network's",
    "crop": "back to the input size", "clip": "[0, 1]", "colour": "RGB", "range": "[0, 1]",
    "self_ensemble": False, "source": "JingHao99/IDR-Ingredients-oriented-Degradation-Reformulation inference.py",
}


def _infer(state_dict: Mapping[str, Any]) -> dict:
    defaults = ARCH.defaults()
    # the U-net is Restormer's (same keys); the constructor names its arguments as the authors' code does
    cfg = restormer_like(state_dict, {**defaults, "in_channels": 3, "layernorm": "WithBias"})
    cfg["inp_channels"] = cfg.pop("in_channels") or defaults["inp_channels"]
    cfg["LayerNorm_type"] = cfg.pop("layernorm")
    key = state_dict.get("degra_key")
    if key is not None and key.ndim == 3:
        cfg["degra_type"], cfg["num_degra_queries"] = int(key.shape[0]), int(key.shape[1])
    cfg["ops_type"] = tensor_dim(state_dict, "kdp_level1.principle.pred.2.weight", 0) or cfg["ops_type"]
    cfg["sam"] = "kdp_level1.SAM.conv1.weight" in state_dict
    return cfg


ARCH = declared_arch("IDR", _infer, f"{__package__}.arch:IDR", f"{__package__}.arch:IDR_DEFAULTS")


class IDRMethod(CheckpointMethod):
    """IDR: records where the SVD of the degradation keys was taken and the signs it gave (they change the output)."""

    def config(self) -> dict[str, Any]:
        from .arch import svd_signature

        out = super().config()
        out["arch_config"]["svd_device"] = self.model.svd_device or self.device.split(":")[0]
        out["svd_signs"] = svd_signature(self.model)
        return out


def make(checkpoint: str | None = None, max_batch: int = 1, svd_device: str = "auto",
         antialias: bool = False) -> IDRMethod:
    """``idr`` from a checkpoint written by the authors' training code (no weights were released).

    ``svd_device``: "auto" takes the SVD of the degradation keys on the run's device, as the authors'
    forward does; "cpu" on the CPU whatever the device (the singular vectors' signs, which change the
    output, then do not depend on the device). ``antialias``: resize the input to each level with
    anti-aliasing (false: torchvision 0.12, which the authors pin).
    """
    path = need_checkpoint("idr", checkpoint, "a checkpoint of the authors' training code, e.g. 1200_G.pth; "
                                              "no weights were released")
    max_batch = check_max_batch(max_batch)
    if svd_device not in ("auto", "cpu"):
        raise UserError(f"idr.svd_device must be auto or cpu, got {svd_device!r}")
    if not isinstance(antialias, bool):
        raise UserError(f"idr.antialias must be true or false, got {antialias!r}")
    network, cfg = load_architecture(ARCH, path, svd_device=None if svd_device == "auto" else "cpu",
                                     antialias=antialias)
    return method(network, cfg, path, max_batch)


def method(model, cfg: dict, path: Path | None, max_batch: int = 1) -> IDRMethod:
    """The ``idr`` method around a loaded network (``path``: its file; None for random weights); the
    network's ``svd_device`` None is recorded as "auto" (the run's device)."""
    check_rgb(path, "IDR", cfg["inp_channels"], cfg["out_channels"])
    cfg = {**cfg, "svd_device": cfg.get("svd_device") or "auto"}
    return IDRMethod("idr", model, path, "IDR", cfg, multiple_of=8, max_batch=max_batch,
                     details=pipeline_details(PIPELINE))
