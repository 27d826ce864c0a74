"""``lime``: low-light enhancement by illumination map estimation (Guo, Li, Ling, "LIME", IEEE TIP 2017).

Assumes Retinex image formation ``L = R * T``: the observed low-light image is the scene reflectance
``R`` times one illumination map ``T`` shared by the three channels, and ``T`` is piecewise smooth
(it may jump at object edges only). Steps, on float images in [0, 1]:

1. initial illumination ``T^(x) = max_c L_c(x)`` (the brightest channel bounds the illumination);
2. structure-aware refinement (LIME's objective with weighting strategy III): minimise
   ``||T - T^||^2 + alpha * sum_d W_d (d T)^2`` over horizontal and vertical forward differences,
   with ``W_d(x) = 1 / (|G_sigma * d T^|(x) + eps)`` (Gaussian-averaged gradients, so smoothing is
   strong inside regions and weak across strong edges). The quadratic problem is one sparse
   symmetric positive-definite system, solved exactly (SuperLU) below 300k pixels, else by
   conjugate gradients;
3. gamma correction of the map ``T <- T^gamma`` (``gamma < 1`` keeps part of the illumination, so the
   result is ``R * T^(1 - gamma)`` rather than the flat reflectance). The paper uses 0.8; the default
   here is 0.5, the best of 0.3..1.0 on training-pool crops (rocket, china, flower) under this
   project's ``lowlight`` operator (a global exposure drop plus noise), where 0.8 over-brightens;
4. ``R = L / max(T, floor)``, clipped to [0, 1].

LIME's optional BM3D denoising of the result is not applied (the output keeps the input's noise,
amplified), so scores measure enhancement alone.
"""

from __future__ import annotations

import numpy as np

from ._common import ClassicalMethod, check_option


def _forward_difference_matrices(h: int, w: int):
    """Sparse (HW x HW) forward differences along x and y (row-major pixels), zero at the far border."""
    import scipy.sparse as sp

    def diff(n: int):
        d = sp.diags([-np.ones(n), np.ones(n - 1)], [0, 1], shape=(n, n), format="lil")
        d[n - 1, n - 1] = 0.0
        return d.tocsr()

    dx = sp.kron(sp.identity(h, format="csr"), diff(w), format="csr")
    dy = sp.kron(diff(h), sp.identity(w, format="csr"), format="csr")
    return dx, dy


def refine_illumination(t0: np.ndarray, alpha: float, sigma: float, eps: float) -> np.ndarray:
    """Solve LIME's weighted quadratic smoothing (strategy III) for an HxW initial map ``t0``."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla
    from scipy.ndimage import gaussian_filter

    h, w = t0.shape
    dx, dy = _forward_difference_matrices(h, w)
    flat = t0.ravel()
    weights = []
    for d in (dx, dy):
        grad = (d @ flat).reshape(h, w)
        weights.append(1.0 / (np.abs(gaussian_filter(grad, sigma, mode="nearest")) + eps))
    system = sp.identity(h * w, format="csr")
    for d, wgt in zip((dx, dy), weights, strict=True):
        system = system + alpha * (d.T @ sp.diags(wgt.ravel()) @ d)
    if h * w <= 300_000:
        solution = spla.spsolve(system.tocsc(), flat)
    else:
        solution, _ = spla.cg(system, flat, x0=flat, rtol=1e-5, maxiter=2000)
    return solution.reshape(h, w)


class LIME(ClassicalMethod):
    name = "lime"
    task = "lowlight"

    def restore_array(self, image: np.ndarray) -> np.ndarray:
        p = self.params
        t0 = image.max(axis=2)
        t = refine_illumination(t0, p["alpha"], p["sigma"], p["eps"])
        t = np.clip(t, p["floor"], 1.0) ** p["gamma"]
        return image / t[..., None]


def make(alpha: float = 0.15, gamma: float = 0.5, sigma: float = 2.0, eps: float = 1e-3,
         floor: float = 0.02) -> LIME:
    """Options: ``alpha`` smoothness weight, ``gamma`` applied to the map, ``sigma`` (px) of the gradient
    averaging, ``eps`` weight regulariser, ``floor`` smallest illumination divided by (all on [0, 1] images)."""
    m = "lime"
    return LIME(
        alpha=check_option(m, "alpha", alpha, 0.0, 100.0),
        gamma=check_option(m, "gamma", gamma, 0.05, 3.0),
        sigma=check_option(m, "sigma", sigma, 0.1, 20.0),
        eps=check_option(m, "eps", eps, 1e-6, 1.0),
        floor=check_option(m, "floor", floor, 1e-4, 1.0),
    )
