"""Restoration losses, by name: the recipe key ``loss`` of ``phase1``, ``phase2`` and
``phase2.per_adapter.<name>`` picks one (default ``l1``).

Every loss takes ``restored`` and ``clean``: float NCHW tensors, values in [0, 1] (``restored`` is
not clipped), and returns a scalar to minimise.

- ``l1``: mean absolute error over every pixel of the batch (the default; the paper names no
  restoration loss, and L1 is the one its Restormer/PromptIR-style baselines train with).
- ``charbonnier``: mean of ``sqrt((restored - clean)^2 + eps^2)``, ``eps = 1e-3`` (a smooth L1, as
  MPRNet and Restormer train).
- ``psnr``: minus the mean **per-image** PSNR in dB, ``mean_i 10 log10(MSE_i + 1e-8)`` (the PSNR
  loss of HINet and NAFNet). It weighs every image equally on the log scale the benchmark reports
  (mean PSNR over images), so a small error on an image that was already nearly clean (mild blur,
  a smooth crop) costs as much as a large one on a heavily degraded image. Under L1 the former is
  almost free, and a network short of capacity learns to over-sharpen mildly blurred images
  (measured on the tiny blur adapter: results/training/tiny/README.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from abair.errors import unknown_name

CHARBONNIER_EPS = 1e-3
PSNR_EPS = 1e-8


def l1(restored: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(restored, clean)


def charbonnier(restored: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((restored - clean) ** 2 + CHARBONNIER_EPS**2).mean()


def psnr(restored: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    mse = ((restored - clean) ** 2).flatten(1).mean(1)
    return (10.0 / math.log(10.0)) * torch.log(mse + PSNR_EPS).mean()


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l1": l1,
    "charbonnier": charbonnier,
    "psnr": psnr,
}


def get_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss called ``name``; a one-line UserError listing the known ones otherwise."""
    if name not in LOSSES:
        raise unknown_name("loss", name, LOSSES)
    return LOSSES[name]


def restoration_loss(name: str, restored: torch.Tensor, clean: torch.Tensor):
    """``(loss, parts)``: the named loss on float32 and the parts to log: ``l1`` always (curves
    comparable across losses), plus ``charbonnier`` for that loss, or ``psnr_db`` (the batch's mean
    per-image PSNR in dB, i.e. minus the loss) for ``psnr``."""
    restored = restored.float()
    loss = get_loss(name)(restored, clean)
    parts = {"l1": loss.detach() if name == "l1" else F.l1_loss(restored, clean).detach()}
    if name == "psnr":
        parts["psnr_db"] = -loss.detach()
    elif name != "l1":
        parts[name] = loss.detach()
    return loss, parts
