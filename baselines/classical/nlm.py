"""``nlm``: non-local means denoising (Buades, Coll, Morel 2005) through scikit-image.

Assumes additive white Gaussian noise of one standard deviation for the whole image. The noise
level ``sigma`` (in 8-bit units, 0..255) is either given or estimated per image with
:func:`skimage.restoration.estimate_sigma` (wavelet MAD estimator, averaged over channels). The
filtering strength follows it: ``h = h_factor * sigma``; patch size and search distance grow with
sigma (5/6 below sigma 20, 7/9 below 40, 9/11 above), as stronger noise needs larger patches to
tell structure from noise. scikit-image's fast mode with the ``sigma`` correction is used.
"""

from __future__ import annotations

import numpy as np

from ._common import ClassicalMethod, check_option


def _patch_geometry(sigma255: float) -> tuple[int, int]:
    if sigma255 < 20:
        return 5, 6
    if sigma255 < 40:
        return 7, 9
    return 9, 11


class NonLocalMeans(ClassicalMethod):
    name = "nlm"
    task = "denoise"

    def restore_array(self, image: np.ndarray) -> np.ndarray:
        from skimage.restoration import denoise_nl_means, estimate_sigma

        sigma = self.params["sigma"]
        if sigma is None:
            sigma = float(estimate_sigma(image, channel_axis=-1, average_sigmas=True)) * 255.0
        if sigma <= 0.5:  # nothing measurable to remove
            return image
        patch_size, patch_distance = _patch_geometry(sigma)
        s = sigma / 255.0
        return denoise_nl_means(
            image, h=self.params["h_factor"] * s, sigma=s, fast_mode=True,
            patch_size=self.params["patch_size"] or patch_size,
            patch_distance=self.params["patch_distance"] or patch_distance,
            channel_axis=-1,
        )


def make(sigma: float | None = None, h_factor: float = 0.8, patch_size: int | None = None,
         patch_distance: int | None = None) -> NonLocalMeans:
    """Options: ``sigma`` noise std in 0..255 units (None: estimated per image), ``h_factor`` (h = h_factor*sigma),
    ``patch_size`` / ``patch_distance`` in pixels (None: chosen from sigma)."""
    m = "nlm"
    return NonLocalMeans(
        sigma=None if sigma is None else check_option(m, "sigma", sigma, 0, 255),
        h_factor=check_option(m, "h_factor", h_factor, 0.01, 10),
        patch_size=None if patch_size is None else check_option(m, "patch_size", patch_size, 1, 31, int),
        patch_distance=None if patch_distance is None else check_option(m, "patch_distance", patch_distance, 1, 50, int),
    )
