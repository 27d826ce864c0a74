"""Colour conversions used by metric protocols (numpy, float64).

Only what a protocol needs to turn an RGB image into the channels it scores. Image-level
conversions (uint8 <-> float, HWC <-> CHW) live in :mod:`abair.imageops`.
"""

from __future__ import annotations

import numpy as np

#: ITU-R BT.601 "studio range" luma on the 8-bit scale, as MATLAB's ``rgb2ycbcr``:
#: ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with R, G, B in [0, 1]; Y lies in [16, 235].
BT601_Y_OFFSET = 16.0
BT601_Y_WEIGHTS = (65.481, 128.553, 24.966)


def rgb_to_y_bt601(rgb: np.ndarray) -> np.ndarray:
    """RGB float HxWx3 in [0, 1] -> float64 HxW luma Y in [16, 235] (8-bit scale, not rounded)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    wr, wg, wb = BT601_Y_WEIGHTS
    return BT601_Y_OFFSET + wr * rgb[..., 0] + wg * rgb[..., 1] + wb * rgb[..., 2]
