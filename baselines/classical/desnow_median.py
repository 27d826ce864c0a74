"""``desnow-median``: snow removal by bright-flake detection, median fill and veil removal.

Assumes snow is (a) a uniform white-ish veil ``I = J (1 - v) + 0.9 v`` over the whole image and
(b) small near-white flakes (up to ~``2 * radius`` px across) composited on top,
``I = J (1 - a) + 0.95 a`` with one opacity per pixel shared by the channels; see :mod:`.layers`.
Steps, on float images in [0, 1]:

1. flakes: background ``B`` = each channel opened with a disk of ``radius`` px (removes bright
   blobs smaller than the disk); flake opacity ``a = min_c (I_c - B_c) / (0.95 - B_c)``
   (achromatic, so coloured highlights stay) and the composite is inverted where ``a`` is
   significant (> ``threshold``);
2. median fill: pixels with a dense flake (``a > 0.6``, too little of the scene left to invert)
   are replaced by the 5x5 median of the de-flaked image;
3. veil: a dark-channel estimate, ``v = omega * p / 0.9`` where ``p`` is the 0.5th percentile of
   ``min_c J`` (outdoor scenes have some near-black pixel, which the veil lifts to ``0.9 v``); the
   veil is inverted ``J <- (J - 0.9 v) / (1 - v)``. ``omega`` (default 0.7, the best of 0.5..1.0 on
   training-pool crops) keeps some veil, since tiles without any black pixel overestimate it.
"""

from __future__ import annotations

import numpy as np

from ._common import ClassicalMethod, check_option
from .layers import disk_footprint, layer_opacity, opening, remove_layer

FLAKE_VALUE = 0.95
VEIL_VALUE = 0.9


class DesnowMedian(ClassicalMethod):
    name = "desnow-median"
    task = "desnow"

    def restore_array(self, image: np.ndarray) -> np.ndarray:
        from scipy.ndimage import median_filter

        p = self.params
        background = opening(image, disk_footprint(p["radius"]))
        a = layer_opacity(image, background, FLAKE_VALUE)
        a = np.where(a > p["threshold"], a, 0.0)
        out = remove_layer(image, np.minimum(a, 0.6), FLAKE_VALUE)
        dense = a > 0.6
        if dense.any():
            med = median_filter(out, size=(5, 5, 1), mode="nearest")
            out = np.where(dense[..., None], med, out)
        veil = p["omega"] * np.percentile(out.min(axis=2), 0.5) / VEIL_VALUE
        veil = float(np.clip(veil, 0.0, 0.9))
        return (out - VEIL_VALUE * veil) / (1.0 - veil)


def make(radius: int = 3, threshold: float = 0.05, omega: float = 0.7) -> DesnowMedian:
    """Options: ``radius`` (px) of the disk opening (largest flake radius removed), ``threshold`` smallest flake
    opacity acted on, ``omega`` fraction of the estimated veil removed (0 keeps the veil)."""
    m = "desnow-median"
    return DesnowMedian(
        radius=check_option(m, "radius", radius, 1, 15, int),
        threshold=check_option(m, "threshold", threshold, 0.0, 1.0),
        omega=check_option(m, "omega", omega, 0.0, 1.0),
    )
