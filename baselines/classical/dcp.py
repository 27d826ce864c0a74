"""``dcp``: dark channel prior dehazing with guided-filter refinement (He, Sun, Tang, CVPR 2009 / TPAMI 2011).

Assumes the atmospheric scattering model ``I = J t + A (1 - t)`` with one airlight ``A`` per
channel and a transmission ``t`` that is locally constant, and that haze-free outdoor patches have
a dark channel near 0 (some pixel of some channel is dark). Steps, all on float images in [0, 1]:

1. dark channel ``dark(x) = min over a patch x patch window of min_c I_c``;
2. airlight ``A``: among the brightest ``top`` fraction of dark-channel pixels, the input pixel
   of highest intensity (R+G+B);
3. coarse transmission ``t~ = 1 - omega * dark(I / A)`` (``omega`` keeps a little haze for depth);
4. refinement with the guided filter (guide = the input's luma, radius ``radius``, ``eps``),
   which replaces the paper's soft matting and snaps ``t`` to the image's edges;
5. recovery ``J = (I - A) / max(t, t0) + A``.

``patch`` (default 15 px as in the paper) is reduced for small images to at most a tenth of the
shorter side (and kept odd); ``radius`` defaults to 4 x patch (the guided-filter paper's 60 px for
15 px patches).
"""

from __future__ import annotations

import numpy as np

from ._common import ClassicalMethod, check_option, luminance
from .filters import guided_filter


def dark_channel(image: np.ndarray, patch: int) -> np.ndarray:
    """Float HxWx3 in [0, 1] -> HxW: min over channels, then min over a patch x patch window (edge-replicated)."""
    from scipy.ndimage import minimum_filter

    return minimum_filter(image.min(axis=2), size=patch, mode="nearest")


def airlight(image: np.ndarray, dark: np.ndarray, top: float) -> np.ndarray:
    """The (3,) airlight: the brightest input pixel (R+G+B) among the top ``top`` fraction of the dark channel."""
    flat_dark = dark.ravel()
    k = max(1, int(round(top * flat_dark.size)))
    candidates = np.argpartition(flat_dark, flat_dark.size - k)[-k:]
    pixels = image.reshape(-1, 3)[candidates]
    return pixels[np.argmax(pixels.sum(axis=1))]


class DarkChannelPrior(ClassicalMethod):
    name = "dcp"
    task = "dehaze"

    def effective_patch(self, height: int, width: int) -> int:
        patch = min(self.params["patch"], max(3, min(height, width) // 10))
        return patch if patch % 2 else patch - 1

    def transmission(self, image: np.ndarray, a: np.ndarray, patch: int) -> np.ndarray:
        """Refined transmission HxW in [t0, 1] for ``image`` and airlight ``a``."""
        coarse = 1.0 - self.params["omega"] * dark_channel(image / np.maximum(a, 1e-3), patch)
        radius = self.params["radius"] or 4 * patch
        refined = guided_filter(luminance(image), coarse, radius, self.params["eps"])
        return np.clip(refined, self.params["t0"], 1.0)

    def restore_array(self, image: np.ndarray) -> np.ndarray:
        patch = self.effective_patch(*image.shape[:2])
        a = airlight(image, dark_channel(image, patch), self.params["top"])
        t = self.transmission(image, a, patch)[..., None]
        return (image - a) / t + a


def make(patch: int = 15, omega: float = 0.95, t0: float = 0.1, top: float = 0.001,
         radius: int | None = None, eps: float = 1e-3) -> DarkChannelPrior:
    """Options: ``patch`` dark-channel window (px, odd), ``omega`` haze kept 1-omega, ``t0`` lower bound of t,
    ``top`` fraction of dark-channel pixels for the airlight, ``radius``/``eps`` of the guided filter."""
    m = "dcp"
    return DarkChannelPrior(
        patch=check_option(m, "patch", patch, 1, 255, int),
        omega=check_option(m, "omega", omega, 0.0, 1.0),
        t0=check_option(m, "t0", t0, 0.01, 1.0),
        top=check_option(m, "top", top, 1e-6, 1.0),
        radius=None if radius is None else check_option(m, "radius", radius, 1, 1000, int),
        eps=check_option(m, "eps", eps, 1e-8, 10.0),
    )
