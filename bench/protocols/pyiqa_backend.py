"""The pyiqa metric backend: the protocols' quantities through pyiqa's functions, batched on torch.

Runs on the tensors' device (so on the GPU during a GPU run), in float64. pyiqa is imported only
when this backend scores its first batch (the import takes seconds).

What it calls and how it differs from the scikit-image reference (measured in
``tests/test_protocols.py``, documented in ``docs/PROTOCOLS.md``):

- PSNR: ``pyiqa.archs.psnr_arch.psnr`` with ``eps=0``: equal to skimage to floating-point precision,
  ``inf`` for identical images. (pyiqa's default ``eps=1e-8`` is added to the MSE and lowers PSNR by
  10*log10(1 + eps/MSE) ~ 4.34*eps/MSE dB: 3e-5 dB at 28 dB, 4e-4 dB at 40 dB, 4e-3 dB at 50 dB.)
- Y channel: ``pyiqa.utils.color_util.to_y_channel(x, 255, "ycbcr")`` for ``y-bt601`` (pyiqa
  rounds it, half to even) and ``to_y_channel(x, 1, "ycbcr") * 255`` unrounded for ``basicsr-y``:
  the same BT.601 formula, but with the weights of a float32 tensor (65.481 becomes
  65.48100280761719...), so Y differs from MATLAB's and BasicSR's by up to ~1e-3 levels and its
  rounding from MATLAB's on a few RGB triples (counted in docs/PROTOCOLS.md).
- LPIPS (the ``lpips`` protocol): pyiqa's LPIPS function from local, checked weights (:mod:`.learned`),
  on a network assembled from pyiqa's layers so that no file is unpickled by pyiqa or torchvision.
- SSIM: ``pyiqa.archs.ssim_arch.ssim`` with an explicit float64 window (uniform, or a Gaussian
  built like scipy's) and no downsampling. Two things pyiqa cannot switch off or on:
  it clamps the contrast-structure term at 0 (``relu``), which changes SSIM only where the
  images are locally anti-correlated (heavy noise), and it has no sample-covariance option.
  Sample covariance (variances times N/(N-1), N = window pixels) is equivalent to population
  covariance with C2 divided by N/(N-1); it is emulated by passing
  ``data_range * sqrt((N-1)/N)``, which makes the contrast-structure term exact and leaves the
  luminance constant C1 smaller by the same factor (2% for a 7x7 window).
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

from abair.errors import UserError

from .torch_backend import BatchedBackend

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from . import Protocol

INSTALL_HINT = "pip install 'abair-bench[metrics]'"


@functools.cache
def _pyiqa():
    """Import the three pyiqa functions used here (slow, once)."""
    try:
        from pyiqa.archs.psnr_arch import psnr
        from pyiqa.archs.ssim_arch import ssim
        from pyiqa.utils.color_util import to_y_channel
    except Exception as exc:  # ImportError, or torchvision's RuntimeError on a mismatched build
        raise UserError(
            f"cannot import pyiqa for the pyiqa metric backend ({type(exc).__name__}: {exc}); "
            f"install it with: {INSTALL_HINT}"
        ) from None
    return psnr, ssim, to_y_channel


def _y_rounded(x: torch.Tensor) -> torch.Tensor:
    _, _, to_y_channel = _pyiqa()
    return to_y_channel(x, 255.0, "ycbcr")


def _y_unrounded(x: torch.Tensor) -> torch.Tensor:
    _, _, to_y_channel = _pyiqa()
    return to_y_channel(x, 1.0, "ycbcr") * 255.0


# colour name -> (N3HW float64 RGB in [0, 1] -> NCHW channels to score, their data range)
COLOURS = {
    "rgb": (lambda x: x, 1.0),
    "y-bt601": (_y_rounded, 255.0),
    "y-basicsr": (_y_unrounded, 255.0),
}


def window(protocol: Protocol, channels: int, device, dtype) -> torch.Tensor:
    """The SSIM window as pyiqa's ``ssim`` takes it: (channels, 1, size, size), summing to 1.

    Gaussian: the normalised outer product of the 1-D Gaussian of radius (size-1)/2, as scipy's
    ``gaussian_filter`` (which scikit-image uses) builds it, in float64.
    """
    import torch

    size = protocol.ssim_size
    if protocol.ssim_window == "uniform":
        win = torch.ones(size, size, dtype=torch.float64)
    else:
        x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
        g = torch.exp(-0.5 * x**2 / protocol.ssim_sigma**2)
        g = g / g.sum()
        win = torch.outer(g, g)
    win = win / win.sum()
    return win.expand(channels, 1, size, size).to(device=device, dtype=dtype).contiguous()


def ssim_data_range(protocol: Protocol, data_range: float) -> float:
    """The ``data_range`` passed to pyiqa's ssim: scaled by sqrt((N-1)/N) to emulate sample covariance."""
    if not protocol.ssim_sample_covariance:
        return data_range
    n = protocol.ssim_size**2
    return data_range * math.sqrt((n - 1) / n)


def _psnr(protocol: Protocol, x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    psnr, _, _ = _pyiqa()
    return psnr(x, y, test_y_channel=False, data_range=data_range, eps=0.0)


def _ssim(protocol: Protocol, x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    _, ssim, _ = _pyiqa()
    win = window(protocol, x.shape[1], x.device, x.dtype)
    return ssim(x, y, win=win, data_range=ssim_data_range(protocol, data_range), downsample=False)


def _lpips(protocol: Protocol, x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    from .learned import lpips

    return lpips(x, y)


# metric name -> fn(protocol, restored NCHW, clean NCHW, data range) -> (N,) tensor
METRICS = {"psnr": _psnr, "ssim": _ssim, "lpips": _lpips}


class PyiqaBackend(BatchedBackend):
    name = "pyiqa"
    colours = COLOURS
    metrics = METRICS

    def missing(self, protocol: Protocol | None = None) -> str | None:
        import importlib.util

        if importlib.util.find_spec("pyiqa") is None:
            return f"the pyiqa metric backend needs pyiqa, which is not installed; run: {INSTALL_HINT}"
        if protocol is not None and "lpips" in protocol.metrics:
            from .learned import weights_problem

            return weights_problem("lpips")
        return None

    def deviation(self, protocol: Protocol) -> str:
        parts = ["PSNR by pyiqa psnr with eps=0",
                 "SSIM by pyiqa ssim, which clamps the contrast-structure term at 0 (differs where the "
                 "images are locally anti-correlated)"]
        if protocol.colour != "rgb":
            parts.append("Y by pyiqa to_y_channel with float32-rounded weights (a few Y levels differ)")
        if protocol.ssim_sample_covariance:
            parts.append("sample covariance emulated by data_range*sqrt((N-1)/N): exact contrast term, "
                         "luminance constant C1 smaller by (N-1)/N")
        return "; ".join(parts) + "; see docs/PROTOCOLS.md for measured differences"


BACKEND = PyiqaBackend()
