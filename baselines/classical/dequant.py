"""``dequant``: bit-depth expansion by smoothing within quantisation bands, projected onto the cells.

Assumes each channel shows one of the regular levels ``v = k * delta`` (8-bit units), and a
quantiser that tells which true 8-bit values each level stands for (its *cell*):

- ``quantiser="floor"`` (default; this project's ``bitdepth`` operator and the usual bit-depth
  expansion convention): the low-bit image keeps the top ``b`` bits of the 8-bit value, displayed
  stretched to full range (``delta = 255 / (2**b - 1)``), so level ``k`` stands for the 8-bit values
  ``k * 2**(8-b) .. (k+1) * 2**(8-b) - 1``. Needs ``255 / delta + 1`` to be a power of two; other
  steps fall back to ``"round"``.
- ``quantiser="round"``: rounding to the nearest level, cell ``[v - delta/2, v + delta/2]``.

The step is estimated per image from the distinct values present (the median gap between
neighbouring levels, snapped to 255/k); when it is below 2 the image is treated as full 8-bit and
returned unchanged. The first estimate is each cell's centre.

Restoration (a projection-onto-convex-sets iteration, in the spirit of classic dequantisation /
false-contour removal work): ``iterations`` times, every pixel becomes a Gaussian-weighted average
of the neighbours within ``radius`` whose *quantised* value is at most one level away (so the
average stays inside flat bands and across single-level steps of smooth gradients, never across a
real edge of two or more levels), and is then clipped back into its own cell. Pixels never leave
their cell, so the output is always consistent with the 8-bit input.
"""

from __future__ import annotations

import numpy as np

from ._common import ClassicalMethod, check_choice, check_option


def estimate_step(image255: np.ndarray) -> float:
    """Level spacing (8-bit units) of a quantised image: ``255 / K`` for the smallest ``K`` (coarsest grid)
    such that every distinct value lies within 0.51 of a level ``round(k * 255 / K)``; 1.0 if none below 255."""
    levels = np.unique(np.round(image255))
    for k in range(1, 128):
        step = 255.0 / k
        if np.all(np.abs(levels - np.round(np.round(levels / step) * step)) <= 0.51):
            return step
    return 1.0


def cells(v: np.ndarray, step: float, quantiser: str) -> tuple[np.ndarray, np.ndarray]:
    """The range ``[lo, hi]`` (8-bit units) of true values behind each quantised value ``v``."""
    n_levels = 255.0 / step + 1.0
    bits = int(round(np.log2(n_levels)))
    if quantiser == "floor" and 1 <= bits <= 7 and abs(n_levels - 2**bits) < 1e-6 * n_levels:
        width = 2.0 ** (8 - bits)
        k = np.round(v / step)
        return k * width, (k + 1.0) * width - 1.0
    return v - step / 2.0, v + step / 2.0


class Dequantise(ClassicalMethod):
    name = "dequant"
    task = "bitdepth"

    def restore_array(self, image: np.ndarray) -> np.ndarray:
        from scipy.ndimage import maximum_filter, minimum_filter

        v = image * 255.0
        step = self.params["step"] or estimate_step(v)
        if step < 2.0:
            return image
        lo, hi = cells(v, step, self.params["quantiser"])
        r = self.params["radius"]
        sigma = self.params["sigma"]
        h, w = v.shape[:2]
        pv = np.pad(v, ((r, r), (r, r), (0, 0)), mode="reflect")
        offsets = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
        weights = []
        for dy, dx in offsets:
            neighbour = pv[r + dy : r + dy + h, r + dx : r + dx + w]
            same_band = np.abs(neighbour - v) <= step * 1.01
            weights.append(same_band * np.exp(-(dy * dy + dx * dx) / (2.0 * sigma * sigma)))
        norm = np.sum(weights, axis=0)
        # only pixels whose whole window spans at most two neighbouring levels (a flat band or one step
        # of a smooth gradient) are smoothed; textured pixels keep their cell centre
        size = 2 * r + 1
        spread = maximum_filter(v, size=(size, size, 1), mode="reflect") - minimum_filter(
            v, size=(size, size, 1), mode="reflect"
        )
        flat = spread <= step * 1.01
        x = (lo + hi) / 2.0
        for _ in range(self.params["iterations"]):
            px = np.pad(x, ((r, r), (r, r), (0, 0)), mode="reflect")
            acc = np.zeros_like(x)
            for (dy, dx), wgt in zip(offsets, weights, strict=True):
                acc += wgt * px[r + dy : r + dy + h, r + dx : r + dx + w]
            x = np.where(flat, np.clip(acc / norm, lo, hi), x)
        return x / 255.0


def make(step: float | None = None, quantiser: str = "floor", radius: int = 2, sigma: float = 1.5,
         iterations: int = 4) -> Dequantise:
    """Options: ``step`` level spacing in 8-bit units (None: estimated), ``quantiser`` 'floor' or 'round',
    ``radius`` window radius (px), ``sigma`` spatial Gaussian (px), ``iterations`` of smooth-and-project."""
    m = "dequant"
    return Dequantise(
        quantiser=check_choice(m, "quantiser", quantiser, ("floor", "round")),
        step=None if step is None else check_option(m, "step", step, 1.0, 255.0),
        radius=check_option(m, "radius", radius, 1, 15, int),
        sigma=check_option(m, "sigma", sigma, 0.1, 50.0),
        iterations=check_option(m, "iterations", iterations, 0, 50, int),
    )
