"""``bm3d``: BM3D colour denoising (Dabov et al. 2007) through the ``bm3d`` package (optional).

Install with ``pip install 'abair-bench[classical]'`` (or ``pip install bm3d``). Assumes additive
white Gaussian noise; ``sigma`` (8-bit units, 0..255) is given or estimated per image with
:func:`skimage.restoration.estimate_sigma`. ``bm3d.bm3d_rgb`` runs in the opponent colour space
with the ``np`` (normal) profile by default. Slow: about 8 s per 256x256 colour image on one CPU core.
"""

from __future__ import annotations

import numpy as np

from abair.errors import UserError

from ._common import ClassicalMethod, check_choice, check_option


class BM3D(ClassicalMethod):
    name = "bm3d"
    task = "denoise"

    def restore_array(self, image: np.ndarray) -> np.ndarray:
        import bm3d
        from skimage.restoration import estimate_sigma

        sigma = self.params["sigma"]
        if sigma is None:
            sigma = float(estimate_sigma(image, channel_axis=-1, average_sigmas=True)) * 255.0
        if sigma <= 0.5:
            return image
        return np.asarray(bm3d.bm3d_rgb(image, sigma_psd=sigma / 255.0, profile=self.params["profile"]))


def make(sigma: float | None = None, profile: str = "np") -> BM3D:
    """Options: ``sigma`` noise std in 0..255 units (None: estimated), ``profile`` ('np' normal, 'refilter', 'vn' very noisy, 'high' high quality)."""
    try:
        import bm3d  # noqa: F401
    except ImportError:
        raise UserError(
            "method 'bm3d' needs the bm3d package: pip install 'abair-bench[classical]' (or use 'nlm')"
        ) from None
    return BM3D(
        sigma=None if sigma is None else check_option("bm3d", "sigma", sigma, 0, 255),
        profile=check_choice("bm3d", "profile", profile, ("np", "refilter", "vn", "high")),
    )
