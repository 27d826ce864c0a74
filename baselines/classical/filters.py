"""Edge-aware filters shared by the classical restorers: box mean and the guided filter.

The guided filter is implemented from its description in K. He, J. Sun, X. Tang, "Guided Image
Filtering", ECCV 2010 / TPAMI 2013: inside every (2r+1)x(2r+1) window the output is a linear
function of the guide, ``q = a * I + b``, with ``a = cov(I, p) / (var(I) + eps)`` and
``b = mean(p) - a * mean(I)``; the per-window coefficients are averaged over all windows that
cover a pixel. Every mean is a box mean computed with cumulative sums (O(1) per pixel whatever
the radius); windows are clipped at the image border and normalised by the number of pixels they
hold, so a constant image stays constant up to the border.
"""

from __future__ import annotations

import numpy as np


def _box_sum_axis(x: np.ndarray, r: int, axis: int) -> np.ndarray:
    """Sum over the window [i - r, i + r] along ``axis``, clipped to the array (cumulative sums)."""
    n = x.shape[axis]
    c = np.cumsum(x, axis=axis, dtype=np.float64)
    zero = np.zeros_like(np.take(c, [0], axis=axis))
    c = np.concatenate([zero, c], axis=axis)  # c[k] = sum of x[:k]
    idx = np.arange(n)
    hi = np.minimum(idx + r + 1, n)
    lo = np.maximum(idx - r, 0)
    return np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)


def box_mean(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean of ``x`` (HxW or HxWxC, any float) over (2r+1)x(2r+1) windows clipped at the border.

    Returns float64 of the same shape; ``radius = 0`` returns ``x`` as float64.
    """
    r = int(radius)
    if r < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    x = np.asarray(x, dtype=np.float64)
    if r == 0:
        return x.copy()
    h, w = x.shape[:2]
    ones = np.ones((h, w))
    count = _box_sum_axis(_box_sum_axis(ones, r, 0), r, 1)
    s = _box_sum_axis(_box_sum_axis(x, r, 0), r, 1)
    if x.ndim == 3:
        count = count[..., None]
    return s / count


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Grey-guide guided filter.

    Args:
        guide: float HxW guide image (any range; eps is in the guide's squared units).
        src: float HxW or HxWxC image to filter (each channel with the same guide).
        radius: window radius r in pixels (window (2r+1)^2).
        eps: regularisation; larger means smoother (e.g. 1e-3 for a guide in [0, 1]).

    Returns:
        float64 array of ``src``'s shape.
    """
    guide = np.asarray(guide, dtype=np.float64)
    src = np.asarray(src, dtype=np.float64)
    if guide.ndim != 2 or src.shape[:2] != guide.shape:
        raise ValueError(f"guide must be HxW and src HxW[xC] of the same size, got {guide.shape} and {src.shape}")
    g = guide[..., None] if src.ndim == 3 else guide
    mean_i = box_mean(guide, radius)
    var_i = box_mean(guide * guide, radius) - mean_i * mean_i
    if src.ndim == 3:
        mean_i, var_i = mean_i[..., None], var_i[..., None]
    mean_p = box_mean(src, radius)
    cov_ip = box_mean(g * src, radius) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_mean(a, radius) * g + box_mean(b, radius)
