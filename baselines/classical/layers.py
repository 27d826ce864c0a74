"""Morphology helpers for removing a bright, achromatic, thin layer (rain streaks, snow flakes).

Both weather methods model the observation as the clean image composited with a white-ish layer of
one opacity per pixel shared by the three channels: ``I_c = J_c (1 - a) + v a`` (``v`` = the layer's
colour value; ``v = 1`` is the screen blend of rain). Given a background estimate ``B`` (an opening
that removes thin bright structures), each channel gives ``a_c = (I_c - B_c) / (v - B_c)``; the layer
is achromatic, so the smallest of the three is taken (coloured bright details give unequal
``a_c`` and are left alone), and ``J = (I - v a) / (1 - a)`` inverts the composite.
"""

from __future__ import annotations

import numpy as np


def line_footprint(length: int, angle: float) -> np.ndarray:
    """Boolean footprint of a 1-px line of ``length`` px through the centre, ``angle`` degrees from vertical
    (positive leans the bottom end to the right, x right / y down)."""
    r = length // 2
    rad = np.radians(angle)
    ts = np.linspace(-r, r, 4 * length + 1)
    ys = np.round(ts * np.cos(rad)).astype(int) + r
    xs = np.round(ts * np.sin(rad)).astype(int) + r
    fp = np.zeros((2 * r + 1, 2 * r + 1), dtype=bool)
    fp[ys, xs] = True
    return fp


def disk_footprint(radius: int) -> np.ndarray:
    """Boolean disk of ``radius`` px."""
    c = np.arange(-radius, radius + 1)
    return (c[:, None] ** 2 + c[None, :] ** 2) <= radius * radius + 0.5


def opening(image: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Grey opening of each channel of an HxW or HxWxC array (edge-replicated borders)."""
    from scipy.ndimage import grey_opening

    if image.ndim == 2:
        return grey_opening(image, footprint=footprint, mode="nearest")
    return np.stack([grey_opening(image[..., c], footprint=footprint, mode="nearest")
                     for c in range(image.shape[2])], axis=2)


def layer_opacity(image: np.ndarray, background: np.ndarray, value: float) -> np.ndarray:
    """Achromatic layer opacity HxW in [0, 1): ``min_c (I_c - B_c) / (value - B_c)`` (clipped)."""
    per_channel = (image - background) / np.maximum(value - background, 1e-3)
    return np.clip(per_channel.min(axis=2), 0.0, 0.98)


def remove_layer(image: np.ndarray, opacity: np.ndarray, value: float) -> np.ndarray:
    """Invert ``I = J (1 - a) + value a`` for ``J`` (HxWx3) given the opacity ``a`` (HxW)."""
    a = opacity[..., None]
    return (image - value * a) / (1.0 - a)
