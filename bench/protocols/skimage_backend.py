"""The reference metric backend: scikit-image on numpy float64 arrays, one image at a time.

PSNR is ``skimage.metrics.peak_signal_noise_ratio`` and SSIM ``structural_similarity`` with every
setting passed explicitly from the :class:`~bench.protocols.Protocol`. scikit-image fixes the
Gaussian truncation at 3.5 sigma, so a Gaussian window of size ``2*int(3.5*sigma+0.5)+1`` (11 at
sigma 1.5) is the only one it can compute; other sizes are refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .colour import y_basicsr, y_matlab_uint8

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from . import Protocol

SKIMAGE_GAUSSIAN_TRUNCATE = 3.5

METRIC_NAMES = ("psnr", "ssim")


def _luma(fn):
    return lambda rgb: fn(rgb[..., 0:1] * 255.0, rgb[..., 1:2] * 255.0, rgb[..., 2:3] * 255.0)


# colour name -> (RGB float64 HxWx3 in [0, 1] -> float64 HxWxC channels to score, their data range)
COLOURS = {
    "rgb": (lambda rgb: rgb, 1.0),
    "y-bt601": (_luma(y_matlab_uint8), 255.0),
    "y-basicsr": (_luma(y_basicsr), 255.0),
}


def channels(protocol: Protocol, rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """RGB float64 HxWx3 in [0, 1] -> (HxWxC float64 channels the protocol scores, data range).

    Applies, in order: 8-bit rounding of RGB (``round_to_uint8``; half-to-even, as
    :func:`abair.imageops.tensor_to_uint8`), the colour conversion (:mod:`.colour`; the lumas take
    the rounded levels, exact integers in float64), the border shave.
    """
    convert, data_range = COLOURS[protocol.colour]
    if protocol.round_to_uint8:
        rgb = np.round(rgb * 255.0) / 255.0
    out = convert(rgb)
    b = protocol.border
    if b:
        out = out[b:-b, b:-b]
    return out, data_range


def _psnr(protocol: Protocol, restored: np.ndarray, clean: np.ndarray, data_range: float) -> float:
    from skimage.metrics import peak_signal_noise_ratio

    with np.errstate(divide="ignore"):  # identical images: inf, by design
        return float(peak_signal_noise_ratio(clean, restored, data_range=data_range))


def _ssim(protocol: Protocol, restored: np.ndarray, clean: np.ndarray, data_range: float) -> float:
    from skimage.metrics import structural_similarity

    kwargs = {
        "win_size": protocol.ssim_size,
        "use_sample_covariance": protocol.ssim_sample_covariance,
        "data_range": data_range,
        "channel_axis": -1,
    }
    if protocol.ssim_window == "gaussian":
        radius = int(SKIMAGE_GAUSSIAN_TRUNCATE * protocol.ssim_sigma + 0.5)
        if 2 * radius + 1 != protocol.ssim_size:
            raise ValueError(
                f"protocol '{protocol.name}': scikit-image's Gaussian SSIM window at sigma "
                f"{protocol.ssim_sigma} is {2 * radius + 1}x{2 * radius + 1}, not {protocol.ssim_size}"
            )
        kwargs.update(gaussian_weights=True, sigma=protocol.ssim_sigma)
    return float(structural_similarity(clean, restored, **kwargs))


# metric name -> fn(protocol, restored channels, clean channels, data range) -> float
METRICS = {"psnr": _psnr, "ssim": _ssim}


class SkimageBackend:
    name = "skimage"

    def missing(self, protocol: Protocol | None = None) -> str | None:
        return unsupported_metrics(self.name, protocol)  # scikit-image itself is a core dependency

    def deviation(self, protocol: Protocol) -> str:
        return "reference implementation"

    def score_arrays(self, protocol: Protocol, restored: np.ndarray, clean: np.ndarray) -> dict[str, float]:
        """Both float64 HxWx3 in [0, 1] (clean on 8-bit levels) -> ``{metric: value}``."""
        r, data_range = channels(protocol, restored)
        c, _ = channels(protocol, clean)
        return {m: METRICS[m](protocol, r, c, data_range) for m in protocol.metrics}

    def score_tensors(self, protocol: Protocol, restored: torch.Tensor, clean: torch.Tensor) -> list[dict[str, float]]:
        """NCHW float tensors in [0, 1] (or uint8) -> one dict per image (loops on the CPU)."""
        import torch

        from abair.imageops import tensor_to_float_array, tensor_to_uint8

        def as_array(t, convert):
            return t.detach().cpu().permute(1, 2, 0).numpy() if t.dtype == torch.uint8 else convert(t)

        return [
            protocol.score(as_array(r, tensor_to_float_array), as_array(c, tensor_to_uint8))
            for r, c in zip(restored, clean, strict=True)
        ]


def unsupported_metrics(backend: str, protocol: Protocol | None) -> str | None:
    """Why ``backend`` (skimage or torch) cannot compute ``protocol``, or None."""
    if protocol is None or set(protocol.metrics) <= set(METRIC_NAMES):
        return None
    return (f"the {backend} backend computes PSNR and SSIM only; {protocol.name} is computed by "
            f"{protocol.exact_backends[0]} (use the plain name '{protocol.name}')")


BACKEND = SkimageBackend()
