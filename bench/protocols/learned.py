"""Learned metrics (LPIPS) through pyiqa, from local weight files only: nothing is downloaded.

pyiqa and torchvision fetch their weights from the network at first use, which hangs or fails
offline. Here the user supplies a weights directory (``abair-bench run --metric-weights DIR``)
laid out like torch's hub cache, where pyiqa's and torchvision's own downloads land (so
``~/.cache/torch/hub`` of a machine that ran pyiqa once works as is)::

    DIR/pyiqa/LPIPS_v0.1_alex-df73285e.pth     the LPIPS linear layers (pyiqa's release)
    DIR/checkpoints/alexnet-owt-7be5be79.pth   the AlexNet features (torchvision)

Every file is checked before pyiqa is asked to build the network; a missing one is a one-line
:class:`~abair.errors.UserError` saying what to download and where to put it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from abair.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    import torch

WEIGHTS_ENV = "ABAIR_METRIC_WEIGHTS"
WEIGHTS_OPTION = "--metric-weights DIR"


@dataclass(frozen=True)
class WeightFile:
    relpath: str  # under the weights directory
    url: str


#: learned metric -> the files it needs under the weights directory
WEIGHT_FILES: dict[str, tuple[WeightFile, ...]] = {
    "lpips": (
        WeightFile("pyiqa/LPIPS_v0.1_alex-df73285e.pth",
                   "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/LPIPS_v0.1_alex-df73285e.pth"),
        WeightFile("checkpoints/alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
    ),
}

_weights_dir: str | None = None


def set_weights_dir(path: str | None) -> None:
    """Use ``path`` for learned-metric weights (``None``: ``$ABAIR_METRIC_WEIGHTS`` or none)."""
    global _weights_dir
    if path is not None and not Path(path).is_dir():
        raise UserError(f"--metric-weights {path}: not a directory")
    _weights_dir = path
    _model.cache_clear()


def weights_dir() -> Path | None:
    path = _weights_dir or os.environ.get(WEIGHTS_ENV)
    return Path(path) if path else None


def missing_weights(metric: str) -> str | None:
    """One line saying what to download and where, or None when every file of ``metric`` is present."""
    files = WEIGHT_FILES[metric]
    root = weights_dir()
    if root is None:
        wanted = "; ".join(f"{f.url} -> DIR/{f.relpath}" for f in files)
        return (f"{metric} needs local weights and nothing is downloaded at run time: download {wanted}, "
                f"then pass {WEIGHTS_OPTION} (or set {WEIGHTS_ENV})")
    absent = [f for f in files if not (root / f.relpath).is_file()]
    if not absent:
        return None
    wanted = "; ".join(f"{f.url} -> {root / f.relpath}" for f in absent)
    return f"{metric} weights missing in {root} (nothing is downloaded at run time): download {wanted}"


@functools.cache
def _model(metric: str, device: str):
    """The pyiqa network for ``metric`` built from the local files only, in eval mode on ``device``."""
    import torch

    problem = missing_weights(metric)
    if problem:
        raise UserError(problem)
    from .pyiqa_backend import _pyiqa

    _pyiqa()  # a readable UserError when pyiqa cannot be imported
    from pyiqa.archs.lpips_arch import LPIPS

    root = weights_dir()
    hub = torch.hub.get_dir()
    torch.hub.set_dir(str(root))  # torchvision finds DIR/checkpoints/alexnet-owt-7be5be79.pth there
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pyiqa prints "Loading pretrained model ..."
            net = LPIPS(net="alex", version="0.1", pretrained_model_path=str(root / WEIGHT_FILES[metric][0].relpath))
    finally:
        torch.hub.set_dir(hub)
    return net.to(device).eval()


def lpips(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N,) LPIPS of NCHW RGB batches in [0, 1] (float32 on their device; lower is more similar)."""
    import torch

    net = _model("lpips", str(x.device))
    with torch.no_grad():
        return net(x.float(), y.float(), normalize=True).reshape(-1).to(torch.float64)
