"""Colour conversions used by metric protocols, written once for numpy arrays and torch tensors.

Only what a protocol needs to turn an RGB image into the channels it scores. Image-level
conversions (uint8 <-> float, HWC <-> CHW) live in :mod:`abair.imageops`.

The two luma conversions take the three colour planes as 8-bit *levels* (float64 arrays or tensors
holding integers 0..255) and follow the operation order of the code they reproduce, so that the
floating-point value of every pixel is the reference's own (docs/PROTOCOLS.md names the files and
commits checked):

- :func:`y_matlab_uint8`: MATLAB's ``rgb2ycbcr`` on a uint8 image (``y-bt601``): Y in integer
  levels 16..235, rounded half away from zero on the double-precision value.
- :func:`y_basicsr`: BasicSR's ``to_y_channel`` (``basicsr-y``): Y in [16, 235], unrounded, float32
  precision, returned as float64.
"""

from __future__ import annotations

#: ITU-R BT.601 "studio range" luma on the 8-bit scale, as MATLAB's ``rgb2ycbcr``:
#: ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with R, G, B in [0, 1]; Y lies in [16, 235].
BT601_Y_OFFSET = 16.0
BT601_Y_WEIGHTS = (65.481, 128.553, 24.966)
#: MATLAB's uint8 coefficients: ``T = scaleFactor.uint8.T * origT`` with ``scaleFactor.uint8.T = 1/255``.
MATLAB_UINT8_T = tuple((1 / 255) * w for w in BT601_Y_WEIGHTS)


def rgb_to_y_bt601(rgb):
    """RGB float HxWx3 in [0, 1] -> float64 HxW luma Y in [16, 235] (8-bit scale, not rounded)."""
    import numpy as np

    rgb = np.asarray(rgb, dtype=np.float64)
    wr, wg, wb = BT601_Y_WEIGHTS
    return BT601_Y_OFFSET + wr * rgb[..., 0] + wg * rgb[..., 1] + wb * rgb[..., 2]


def y_matlab_uint8(r, g, b):
    """MATLAB ``rgb2ycbcr(uint8)`` luma of 8-bit levels (float64, integers 0..255) -> float64 levels 16..235.

    ``imlincomb(T1, R, T2, G, T3, B, 16)`` in double precision, accumulated left to right
    (``val = 0; val += T1*R; val += T2*G; val += T3*B; val += 16``), then converted to uint8, which
    rounds half away from zero. Works on numpy arrays and torch tensors alike (elementwise only).
    """
    t_r, t_g, t_b = MATLAB_UINT8_T
    y = t_r * r
    y = y + t_g * g
    y = y + t_b * b
    y = y + BT601_Y_OFFSET
    return round_half_away(y)


def round_half_away(y):
    """Round non-negative float64 values to integers, exact halves upward (MATLAB's ``round``/uint8 cast).

    ``y % 1`` and ``y - y % 1`` are exact in floating point, so no value is moved across a half by
    the rounding itself.
    """
    frac = y % 1.0
    return (y - frac) + (frac >= 0.5)


def y_basicsr(r, g, b):
    """BasicSR ``to_y_channel`` of 8-bit levels (float64, integers 0..255) -> float64 Y, unrounded.

    As ``basicsr/metrics/metric_util.py`` and ``basicsr/utils/color_util.py`` compute it on a BGR
    uint8 image: ``img.astype(float32) / 255``; ``bgr2ycbcr(y_only=True)``: a float64 dot product
    with (24.966, 128.553, 65.481) in B, G, R order, ``+ 16``, ``/ 255`` (float64), cast to float32;
    then ``* 255`` in float32. Returned as float64 (BasicSR's ``astype(np.float64)``).
    """
    r32, g32, b32 = (_cast(c, "float32") / 255.0 for c in (r, g, b))
    wr, wg, wb = BT601_Y_WEIGHTS
    y = _cast(b32, "float64") * wb
    y = y + _cast(g32, "float64") * wg
    y = y + _cast(r32, "float64") * wr
    y = (y + BT601_Y_OFFSET) / 255.0
    return _cast(_cast(y, "float32") * 255.0, "float64")


def _cast(x, dtype: str):
    """``x`` as ``dtype`` (``"float32"``/``"float64"``), for a numpy array or a torch tensor."""
    if hasattr(x, "astype"):
        return x.astype(dtype)
    import torch

    return x.to(getattr(torch, dtype))
