"""The exact torch metric backend: every protocol's PSNR and SSIM, batched, in float64, on any device.

The project's own implementation of the formulas scikit-image computes (the reference), so that a
batch can be scored on the device it was restored on (CPU or CUDA) without a trip through numpy:

- the protocol's channels (:mod:`.colour`: RGB, MATLAB's uint8 luma, BasicSR's float32 luma), the
  8-bit rounding of the output and the border shave, elementwise in the same order as the numpy path;
- PSNR = 10 log10(L^2 / MSE), MSE the mean over the image's scored values (``inf`` when 0);
- SSIM (Wang et al. 2004) with the protocol's window (uniform or Gaussian, normalised, separable),
  sample (N/(N-1)) or population covariance, C1 = (0.01 L)^2, C2 = (0.03 L)^2, the map averaged
  over the positions where the window fits entirely ("valid"), then over channels.

It matches scikit-image to the measured maxima in docs/PROTOCOLS.md (far below 1e-6 dB and 1e-6 SSIM;
``tests/test_protocols_torch.py``), so records scored by it carry the protocol's plain name.
Inputs: NCHW float tensors in [0, 1]; everything is computed in float64.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .colour import y_basicsr, y_matlab_uint8

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from . import Protocol

# colour name -> (N3HW float64 RGB -> NCHW float64 channels, data range)
COLOURS = {
    "rgb": (lambda x: x, 1.0),
    "y-bt601": (lambda x: y_matlab_uint8(x[:, 0:1] * 255.0, x[:, 1:2] * 255.0, x[:, 2:3] * 255.0), 255.0),
    "y-basicsr": (lambda x: y_basicsr(x[:, 0:1] * 255.0, x[:, 1:2] * 255.0, x[:, 2:3] * 255.0), 255.0),
}


def channels(protocol: Protocol, rgb: torch.Tensor, colours: dict | None = None,
             levels: bool = False) -> tuple[torch.Tensor, float]:
    """N3HW RGB float in [0, 1] -> (NCHW float64 channels the protocol scores, data range).

    In order: 8-bit rounding of RGB (half-to-even, as a saved PNG), the colour conversion
    (``colours``: this module's :data:`COLOURS` unless a backend brings its own), the border shave.
    The luma conversions take the rounded levels, ``round(255 x) / 255 * 255``, exact integers in
    float64 for every level 0..255. ``levels``: ``rgb`` already holds 8-bit levels ``k / 255`` (the
    rounding would give back the same values, so it is skipped).
    """
    import torch

    convert, data_range = (colours or COLOURS)[protocol.colour]
    x = rgb.detach().to(torch.float64)
    if protocol.round_to_uint8 and not levels:
        x = torch.round(x * 255.0) / 255.0
    x = convert(x)
    b = protocol.border
    if b:
        x = x[..., b:-b, b:-b]
    return x, data_range


def window_1d(protocol: Protocol) -> list[float]:
    """The separable SSIM window's 1-D weights (summing to 1), as scikit-image builds them.

    Uniform: ``1/size`` each. Gaussian: ``exp(-t^2 / (2 sigma^2))``, t = -r..r, normalised (scipy's
    ``gaussian_filter`` kernel at truncate 3.5, the only one scikit-image uses).
    """
    import math

    size = protocol.ssim_size
    if protocol.ssim_window == "uniform":
        return [1.0 / size] * size
    r = size // 2
    g = [math.exp(-0.5 * t * t / protocol.ssim_sigma**2) for t in range(-r, r + 1)]
    total = sum(g)
    return [v / total for v in g]


def _valid_filter(x: torch.Tensor, weights: list[float]) -> torch.Tensor:
    """Correlate the last two dims with the separable window, keeping only fully covered positions.

    Each pass accumulates in place (``acc += w_i * shifted``): one output-sized buffer per pass
    instead of a temporary per tap (7x faster on a batch of 34 tiles than summing the products).
    """
    k = len(weights)
    h, w = x.shape[-2] - k + 1, x.shape[-1] - k + 1
    rows = x[..., 0:h, :] * weights[0]
    for i in range(1, k):
        rows.add_(x[..., i:i + h, :], alpha=weights[i])
    out = rows[..., :, 0:w] * weights[0]
    for j in range(1, k):
        out.add_(rows[..., :, j:j + w], alpha=weights[j])
    return out


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    """(N,) PSNR in dB of NCHW float64 batches; ``inf`` where an image equals its reference."""
    import torch

    mse = ((x - y) ** 2).mean(dim=(1, 2, 3))
    return torch.where(mse == 0, torch.full_like(mse, float("inf")), 10.0 * torch.log10(data_range**2 / mse))


#: float64 values one SSIM pass works on at a time (the five statistics of a chunk of channel
#: planes): about one core's L2 cache. The filter's shifted adds over a whole batch stream it through
#: memory 22 times; one 128x128 plane's statistics (640 KiB) stay in cache (a 34-tile batch 4x faster,
#: one RGB tile 1.7x). The numbers do not depend on the chunking: every plane's values come from the
#: same operations in the same order.
SSIM_CHUNK_VALUES = 1 << 17


def ssim(protocol: Protocol, x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    """(N,) SSIM of NCHW float64 batches: per-channel mean over the valid map, then mean over channels.

    Computed over chunks of whole channel planes (:data:`SSIM_CHUNK_VALUES`).
    """
    import torch

    n, c, h, w = x.shape
    planes_x, planes_y = x.reshape(n * c, 1, h, w), y.reshape(n * c, 1, h, w)
    step = max(1, SSIM_CHUNK_VALUES // (5 * h * w))
    means = torch.cat([_ssim_planes(protocol, planes_x[i:i + step], planes_y[i:i + step], data_range)
                       for i in range(0, n * c, step)])
    return means.view(n, c).mean(dim=1)


def _ssim_planes(protocol: Protocol, x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    """(P,) mean SSIM map of each of P single-channel planes (P, 1, H, W)."""
    import torch

    weights = window_1d(protocol)
    n = protocol.ssim_size**2
    cov = n / (n - 1) if protocol.ssim_sample_covariance else 1.0
    stats = _valid_filter(torch.cat([x, y, x * x, y * y, x * y], dim=1), weights)
    ux, uy, uxx, uyy, uxy = stats.split(1, dim=1)
    vx, vy, vxy = cov * (uxx - ux * ux), cov * (uyy - uy * uy), cov * (uxy - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3))


# metric name -> fn(protocol, restored NCHW, clean NCHW, data range) -> (N,) tensor
METRICS = {"psnr": lambda protocol, x, y, data_range: psnr(x, y, data_range), "ssim": ssim}


class BatchedBackend:
    """Scores NCHW batches on their device: the protocol's channels (``colours``), then ``metrics``."""

    name = ""
    colours: dict = COLOURS
    metrics: dict = METRICS

    def score_tensors(self, protocol: Protocol, restored: torch.Tensor, clean: torch.Tensor) -> list[dict[str, float]]:
        """NCHW float in [0, 1] or uint8 -> one dict per image, computed in one batch on ``restored.device``.

        A float ``restored`` is clipped to [0, 1]; a float ``clean`` is snapped to 8-bit levels (it
        comes from uint8). uint8 tensors are the levels ``k / 255`` exactly (a saved PNG, a ground
        truth): the same numbers as their float form, without the passes that clip and snap.
        """
        import torch

        x_levels = restored.dtype == torch.uint8
        x = restored.detach().to(torch.float64)
        x = x / 255.0 if x_levels else x.clamp(0.0, 1.0)
        y = clean.detach().to(device=x.device, dtype=torch.float64)
        y = y / 255.0 if clean.dtype == torch.uint8 else torch.round(y * 255.0) / 255.0
        with torch.no_grad():
            x, data_range = channels(protocol, x, self.colours, levels=x_levels)
            y, _ = channels(protocol, y, self.colours, levels=True)
            values = {m: self.metrics[m](protocol, x, y, data_range).reshape(-1).tolist() for m in protocol.metrics}
        return [{m: float(values[m][i]) for m in protocol.metrics} for i in range(x.shape[0])]

    def score_arrays(self, protocol: Protocol, restored: np.ndarray, clean: np.ndarray) -> dict[str, float]:
        """Both float64 HxWx3 in [0, 1] -> ``{metric: value}`` (a batch of one, on the CPU)."""
        from abair.imageops import float_array_to_tensor

        return self.score_tensors(protocol, float_array_to_tensor(restored)[None], float_array_to_tensor(clean)[None])[0]


class TorchBackend(BatchedBackend):
    name = "torch"

    def missing(self, protocol: Protocol | None = None) -> str | None:
        from .skimage_backend import unsupported_metrics

        return unsupported_metrics(self.name, protocol)  # torch itself is a core dependency

    def deviation(self, protocol: Protocol) -> str:
        return ("exact: the project's float64 implementation, equal to scikit-image within the measured maxima "
                "of docs/PROTOCOLS.md (below 1e-13 dB and 1e-12 SSIM)")


BACKEND = TorchBackend()
