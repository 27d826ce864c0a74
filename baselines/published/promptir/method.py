"""PromptIR's checkpoint configuration, the authors' test pipeline and the ``promptir`` method.

Released file: the PyTorch Lightning ``model.ckpt``, ``{"state_dict": {"net.<key>": tensor, ...}, "epoch":
...}``, read strictly by :func:`baselines.archs.loading.load_architecture` (the ``net.`` prefix removed). The
U-net is read as Restormer's (:func:`baselines.published.restormer.method.restormer_like`), the prompt
length, widths and sizes from the ``prompt*.prompt_param`` tensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from abair.errors import UserError
from baselines.archs.loading import declared_arch, load_architecture
from baselines.published import CheckpointMethod, check_max_batch, need_checkpoint, pipeline_details
from baselines.published.restormer.method import restormer_like

__all__ = ["ARCH", "PIPELINE", "make", "method"]

#: the authors' test pipeline (recorded in config(), see docs/BASELINES.md)
PIPELINE: dict[str, Any] = {
    "pad": "reflect, bottom/right, to a multiple of 8 (the harness); the authors' test data is cropped to a "
           "multiple of 16", "output": "the network's", "crop": "back to the input size", "clip": "[0, 1]",
    "colour": "RGB", "range": "[0, 1]", "self_ensemble": False, "source": "va1shn9v/PromptIR demo.py, test.py",
}


def _infer(state_dict: Mapping[str, Any]) -> dict:
    cfg = restormer_like(state_dict, ARCH.defaults())
    dims, sizes = list(cfg["prompt_dims"]), list(cfg["prompt_sizes"])
    for i in range(3):
        t = state_dict.get(f"prompt{i + 1}.prompt_param")
        if t is not None and t.ndim == 5:
            cfg["prompt_len"], dims[i], sizes[i] = int(t.shape[1]), int(t.shape[2]), int(t.shape[3])
    cfg["prompt_dims"], cfg["prompt_sizes"] = tuple(dims), tuple(sizes)
    return cfg


ARCH = declared_arch("PromptIR", _infer, f"{__package__}.arch:PromptIR", f"{__package__}.arch:PROMPTIR_DEFAULTS")


def make(checkpoint: str | None = None, max_batch: int = 1) -> CheckpointMethod:
    """PromptIR from the official Lightning ``model.ckpt`` (``state_dict`` keys prefixed ``net.``)."""
    path = need_checkpoint("promptir", checkpoint, "the release file model.ckpt")
    max_batch = check_max_batch(max_batch)
    return method(*load_architecture(ARCH, path), path, max_batch)


def method(model, cfg: dict, path: Path | None, max_batch: int = 1) -> CheckpointMethod:
    """The ``promptir`` method around a loaded network (``path``: its file; None for random weights)."""
    if cfg["in_channels"] != 3 or cfg["out_channels"] != 3:
        raise UserError(f"checkpoint {path} is a {cfg['in_channels']}-channel PromptIR; the benchmark needs RGB (3)")
    return CheckpointMethod("promptir", model, path, "PromptIR", cfg, multiple_of=8, max_batch=max_batch,
                            details=pipeline_details(PIPELINE))
