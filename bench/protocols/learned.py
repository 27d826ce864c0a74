"""Learned metrics (LPIPS) through pyiqa, from local weight files only: nothing is downloaded.

pyiqa and torchvision fetch their weights from the network at first use, which hangs or fails
offline. Here the user supplies a weights directory (``abair-bench run --metric-weights DIR``)
laid out like torch's hub cache, where pyiqa's and torchvision's own downloads land (so
``~/.cache/torch/hub`` of a machine that ran pyiqa once works as is)::

    DIR/pyiqa/LPIPS_v0.1_alex-df73285e.pth     the LPIPS linear layers (pyiqa's release)
    DIR/checkpoints/alexnet-owt-7be5be79.pth   the AlexNet features (torchvision)

Before anything is restored, every file is read as tensors only (``torch.load(weights_only=True)``,
:mod:`.metric_weights`: a pickle that would call Python code is refused without running it), its keys
and shapes are checked, and its SHA-256 must equal the published file's (:data:`WEIGHT_FILES`), so other
weights of the right shapes are refused, not scored; the hashes go into the run manifest (the
protocol's settings). pyiqa and torchvision never open the files: the network is assembled from the
checked tensors (:mod:`.lpips_net`). A missing, unreadable or different file is a one-line
:class:`~abair.errors.UserError` saying what to download and where to put it.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from abair.errors import UserError

from .metric_weights import WeightFile, read_weights, sha256_table

if TYPE_CHECKING:  # pragma: no cover
    import torch

WEIGHTS_ENV = "ABAIR_METRIC_WEIGHTS"
WEIGHTS_OPTION = "--metric-weights DIR"


def _alexnet_shapes() -> dict[str, tuple[int, ...]]:
    """torchvision's AlexNet state dict: conv (out, in, k) layers at features.0/3/6/8/10, linear at classifier.1/4/6."""
    convs = {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3), 10: (256, 256, 3)}
    linears = {1: (4096, 9216), 4: (4096, 4096), 6: (1000, 4096)}
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (out, inp, k) in convs.items():
        shapes |= {f"features.{i}.weight": (out, inp, k, k), f"features.{i}.bias": (out,)}
    for i, (out, inp) in linears.items():
        shapes |= {f"classifier.{i}.weight": (out, inp), f"classifier.{i}.bias": (out,)}
    return shapes


#: learned metric -> the files it needs under the weights directory, in the order the network takes them.
#: The SHA-256 are the published files' (the first 8 digits are in their names); any other file is refused.
WEIGHT_FILES: dict[str, tuple[WeightFile, ...]] = {
    "lpips": (
        WeightFile("pyiqa/LPIPS_v0.1_alex-df73285e.pth",
                   "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/LPIPS_v0.1_alex-df73285e.pth",
                   "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
                   {f"lin{i}.model.1.weight": (1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))}),
        WeightFile("checkpoints/alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                   "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02", _alexnet_shapes()),
    ),
}

_weights_dir: str | None = None


def set_weights_dir(path: str | None) -> None:
    """Use ``path`` for learned-metric weights (``None``: ``$ABAIR_METRIC_WEIGHTS`` or none)."""
    global _weights_dir
    if path is not None and not Path(path).is_dir():
        raise UserError(f"--metric-weights {path}: not a directory")
    _weights_dir = path
    _network.cache_clear()
    _model.cache_clear()


def weights_dir() -> Path | None:
    path = _weights_dir or os.environ.get(WEIGHTS_ENV)
    return Path(path) if path else None


def weights_problem(metric: str) -> str | None:
    """None when every file of ``metric`` is present, readable as tensors and the published one; else
    one line naming the file, what is wrong and what to download where. Reads and checks the files
    once per weights directory (the network built from them is kept for scoring)."""
    problem = missing_weights(metric)
    if problem is None:
        try:
            _network(metric, str(weights_dir()))
        except UserError as err:
            return str(err)
    return problem


def weight_hashes(metrics) -> dict[str, str]:
    """``relpath -> SHA-256`` of the weight files the learned ones among ``metrics`` use (for the manifest;
    a file with any other hash is refused before scoring, so these are the hashes of the files used)."""
    return {k: v for m in metrics if m in WEIGHT_FILES for k, v in sha256_table(WEIGHT_FILES[m]).items()}


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
def _network(metric: str, root: str):
    """The network for ``metric`` on the CPU, from the checked tensors of the files under ``root``."""
    from .pyiqa_backend import _pyiqa

    _pyiqa()  # a readable UserError when pyiqa cannot be imported
    tensors = [read_weights(Path(root) / f.relpath, f) for f in WEIGHT_FILES[metric]]
    from .lpips_net import build_lpips_alex

    heads, alexnet = tensors
    return build_lpips_alex(alexnet, heads)


@functools.cache
def _model(metric: str, device: str):
    """The network for ``metric`` on ``device``, in eval mode (a UserError when its weights are not usable)."""
    problem = weights_problem(metric)
    if problem:
        raise UserError(problem)
    net = _network(metric, str(weights_dir()))
    return net if device == "cpu" else copy.deepcopy(net).to(device)


def lpips(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N,) LPIPS of NCHW RGB batches in [0, 1] (float32 on their device; lower is more similar)."""
    import torch

    net = _model("lpips", str(x.device))
    with torch.no_grad():
        return net(x.float(), y.float()).to(torch.float64)
