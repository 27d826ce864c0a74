"""``motion-deblur``: blind camera-shake deblurring: a free-form kernel estimated coarse to fine by
alternating an L0-gradient latent image and a least-squares kernel, projected onto a smooth curve,
accepted only when confident, then hyper-Laplacian deconvolution with the reflect-boundary blur model.

What it assumes, plainly: one spatially uniform blur for the whole image, the same for the three
channels, which is camera shake: a thin, smooth, roughly uniformly exposed path (straight or gently
curved, S shapes included) between about 5 and 23 px long, centred on its centre of mass (the
sharp image is the mid-exposure frame, so the result is not shifted), plus little noise (8-bit
rounding). The blur is assumed to have been computed with the image mirrored at its borders
(reflect padding without repeating the edge pixel, as this project's ``blur`` operator does); on
other data the border band is less accurate. Defocus, Gaussian or spatially varying blur is outside
its model. It is not a learned method and cannot beat a blur-specific network.

Safety net: the input is returned unchanged when the image has too little structure to identify a
blur (mean squared neighbour difference of the luma below ``min_structure``), when the estimated
path is shorter than ``min_length`` px, when the Gaussian-prior log-likelihood gain of the
estimated kernel over "no blur" is below ``min_gain`` (per frequency, as ``wiener-ml`` computes it:
Lagendijk, Biemond & Boekee 1990), or when the deconvolved image re-blurred by the kernel misses
the input by more than ``max_residual`` times the input's gradient RMS. All thresholds and
defaults were chosen on motion-blurred (and unblurred) crops of the training pool and the
scikit-image brick/grass/gravel textures, never on test tiles.

1. Kernel estimation (on the luma of a centre crop of at most ``crop`` px), coarse to fine over
   kernel supports 7, 9, 13, 17, 23 px (ratio about sqrt 2) with the image resized alike. At each
   scale, 5 alternations of

   - latent image: ``min_x ||k * x - y||^2 + lam ||grad x||_0`` by half-quadratic splitting
     (Xu, Zheng & Jia, "Unnatural L0 sparse representation for natural image deblurring",
     CVPR 2013; Pan, Hu, Su & Yang, "Deblurring text images via L0-regularized intensity and
     gradient prior", CVPR 2014), ``lam`` from 4e-3 shrinking by 0.9 per iteration to 1e-4;
   - kernel: ``min_k sum_W ||grad x * k - grad y||^2 + gamma ||k||^2`` over a ``ks x ks`` support
     by conjugate gradients, the data term restricted to pixels inside the image (weights ``W``),
     then negative taps and taps under 10 % of the peak set to 0, specks under 10 % of the largest
     connected piece dropped, renormalised (the kernel cleaning of Cho & Lee, "Fast motion
     deblurring", SIGGRAPH Asia 2009, and Pan et al.).

   Every FFT sees the image reflect-padded and tapered towards its blurred self at the seam.
2. Projection: a cubic ``s(t)`` is fitted (weighted least squares) to the kernel in the frame of
   its principal axis between its 2 % and 98 % weight quantiles along that axis and re-drawn as a
   uniformly exposed curve (bilinear splatting), re-centred on its centre of mass. This removes
   the speckle a free-form estimate keeps, which otherwise rings.
3. Deconvolution of each RGB channel: ``min_x 0.5 ||A_k x - y||^2 + lam sum |grad x|^0.8`` where
   ``A_k`` blurs the reflect-padded image exactly as the degradation does (so the border band is
   modelled, not guessed), by half-quadratic splitting (Krishnan & Fergus, "Fast image
   deconvolution using hyper-Laplacian priors", NIPS 2009) with the quadratic step solved by
   conjugate gradients (the operator is not diagonal in Fourier with this boundary); the result is
   ``strength * x + (1 - strength) * y``.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from ._common import ClassicalMethod, check_option, luminance
from .wiener_ml import _gradient_power, _rfft_weights, otf, periodic_extend

KMAX = 23  # largest kernel support (px) searched
MIN_SIDE = 48  # smaller images are returned unchanged
ML_LAMBDAS = np.logspace(-6.0, -2.0, 9)


# ----------------------------------------------------------------------------------- Fourier helpers


def _fft_shape(h: int, w: int) -> tuple[int, int]:
    return sfft.next_fast_len(h, real=True), sfft.next_fast_len(w, real=True)


def _rfft(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return sfft.rfft2(x, s=shape, axes=(0, 1), workers=1)


def _irfft(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return sfft.irfft2(x, s=shape, axes=(0, 1), workers=1)


def _kernel_otf(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """rfft2 of an odd square ``kernel`` zero-padded to ``shape`` with its centre tap at (0, 0)."""
    padded = np.zeros(shape)
    n = kernel.shape[0]
    padded[:n, :n] = kernel
    return _rfft(np.roll(padded, (-(n // 2), -(n // 2)), axis=(0, 1)), shape)


def _difference_otfs(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Forward differences ``x(p + 1) - x(p)`` along columns and rows, as (periodic) OTFs."""
    dx = np.zeros(shape)
    dx[0, 0], dx[0, -1] = -1.0, 1.0
    dy = np.zeros(shape)
    dy[0, 0], dy[-1, 0] = -1.0, 1.0
    return _rfft(dx, shape), _rfft(dy, shape)


def _extend(y: np.ndarray, margin: int, kernel: np.ndarray | None) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pad an HxW image by ``margin``, fill up to a fast FFT size, and taper a band of
    ``margin // 2`` px at the wrap-around seam towards the image blurred by ``kernel`` (a box
    average without one), so the periodic FFT sees no jump. The image starts at (margin, margin)."""
    ext = np.pad(y, margin, mode="reflect")
    n0, n1 = ext.shape
    shape = _fft_shape(n0, n1)
    full = np.zeros(shape)
    full[:n0, :n1] = ext
    if shape[0] > n0:
        full[n0:, :n1] = ext[::-1][: shape[0] - n0]
    if shape[1] > n1:
        full[:, n1:] = full[:, :n1][:, ::-1][:, : shape[1] - n1]
    band = max(2, margin // 2)
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(band) + 0.5) / band)
    w0, w1 = np.ones(shape[0]), np.ones(shape[1])
    w0[:band], w0[-band:] = ramp, ramp[::-1]
    w1[:band], w1[-band:] = ramp, ramp[::-1]
    weight = np.outer(w0, w1)
    if kernel is None:
        target = ndimage.uniform_filter(full, 9, mode="wrap")
    else:
        target = _irfft(_kernel_otf(kernel, shape) * _rfft(full, shape), shape)
    return weight * full + (1.0 - weight) * target, shape


# ------------------------------------------------------------------------------- kernel estimation


def _l0_latent(spec_y, otf_k, dx, dy, shape, lam, beta_max=1e5, rate=2.0):
    """``argmin_x ||k * x - y||^2 + lam ||grad x||_0`` (half-quadratic splitting), in Fourier."""
    ky = np.conj(otf_k) * spec_y
    k2 = np.abs(otf_k) ** 2
    d2 = np.abs(dx) ** 2 + np.abs(dy) ** 2
    spec_x = ky / (k2 + 1e-3 * d2 + 1e-9)
    beta = 2.0 * lam
    while beta < beta_max:
        gx, gy = _irfft(dx * spec_x, shape), _irfft(dy * spec_x, shape)
        small = gx * gx + gy * gy < lam / beta
        gx[small] = 0.0
        gy[small] = 0.0
        spec_x = (ky + beta * (np.conj(dx) * _rfft(gx, shape) + np.conj(dy) * _rfft(gy, shape))) / (k2 + beta * d2)
        beta *= rate
    return spec_x


def _kernel_step(gx_spec, gy_spec, gyx, gyy, weight, shape, size, gamma, k0, iters=25):
    """``argmin_k sum weight * ((grad_x x * k - gyx)^2 + (grad_y x * k - gyy)^2) + gamma ||k||^2`` over a
    ``size x size`` support, by conjugate gradients started at ``k0``."""
    r = size // 2

    def normal(k):
        kf = _kernel_otf(k, shape)
        a = weight * _irfft(gx_spec * kf, shape)
        b = weight * _irfft(gy_spec * kf, shape)
        c = _irfft(np.conj(gx_spec) * _rfft(a, shape) + np.conj(gy_spec) * _rfft(b, shape), shape)
        return np.roll(c, (r, r), axis=(0, 1))[:size, :size] + gamma * k

    c = _irfft(np.conj(gx_spec) * _rfft(weight * gyx, shape) + np.conj(gy_spec) * _rfft(weight * gyy, shape), shape)
    rhs = np.roll(c, (r, r), axis=(0, 1))[:size, :size]
    return _cg(normal, rhs, k0, iters, tol=1e-24)


def _delta(size: int) -> np.ndarray:
    k = np.zeros((size, size))
    k[size // 2, size // 2] = 1.0
    return k


def clean_kernel(kernel: np.ndarray, rel: float = 0.1) -> np.ndarray:
    """Non-negative, taps under ``rel`` x peak zeroed, 8-connected pieces under 10 % of the largest
    piece's mass dropped, sum 1 (a delta if nothing is left)."""
    k = np.maximum(kernel, 0.0)
    if k.max() <= 0:
        return _delta(k.shape[0])
    k[k < rel * k.max()] = 0.0
    labels, n = ndimage.label(k > 0, structure=np.ones((3, 3)))
    if n > 1:
        mass = np.asarray(ndimage.sum(k, labels, range(1, n + 1)))
        keep = np.concatenate([[False], mass >= 0.1 * mass.max()])
        k[~keep[labels]] = 0.0
    return k / k.sum()


def centre_kernel(kernel: np.ndarray) -> np.ndarray:
    """Shift (bilinear, sub-pixel) so the centre of mass sits on the centre tap; sum 1."""
    n = kernel.shape[0]
    c = np.arange(n)
    my, mx = float((kernel.sum(1) * c).sum()), float((kernel.sum(0) * c).sum())
    out = np.maximum(ndimage.shift(kernel, (n // 2 - my, n // 2 - mx), order=1, mode="constant"), 0.0)
    return out / out.sum() if out.sum() > 0 else _delta(n)


def splat_path(points: np.ndarray, size: int) -> np.ndarray:
    """Uniform exposure along dense ``(N, 2)`` (x, y) points, bilinear splatting into ``size x size``, sum 1."""
    x, y = points[:, 0], points[:, 1]
    inside = (x >= 0) & (y >= 0) & (x <= size - 1) & (y <= size - 1)
    x, y = x[inside], y[inside]
    k = np.zeros((size, size))
    if x.size == 0:
        return _delta(size)
    x0 = np.minimum(np.floor(x).astype(int), size - 2)
    y0 = np.minimum(np.floor(y).astype(int), size - 2)
    fx, fy = x - x0, y - y0
    for oy, ox, w in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(k, (y0 + oy, x0 + ox), w)
    return k / k.sum()


def project_curve(kernel: np.ndarray, degree: int = 3, quantile: float = 0.02) -> np.ndarray:
    """Fit ``s = poly(t)`` (weighted least squares, ``t`` along the principal axis) to the kernel's
    mass between its ``quantile`` and ``1 - quantile`` points along ``t`` and redraw it as a thin,
    uniformly exposed curve of the same support size."""
    size = kernel.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    sel = kernel.ravel() > 0
    if sel.sum() < 3:
        return kernel
    w = kernel.ravel()[sel]
    w = w / w.sum()
    px, py = xx.ravel()[sel], yy.ravel()[sel]
    mx, my = float((w * px).sum()), float((w * py).sum())
    cov = np.cov(np.stack([px - mx, py - my]), aweights=w, bias=True)
    _, vecs = np.linalg.eigh(cov)
    u, v = vecs[:, 1], vecs[:, 0]
    t = (px - mx) * u[0] + (py - my) * u[1]
    s = (px - mx) * v[0] + (py - my) * v[1]
    order = np.argsort(t)
    cum = np.cumsum(w[order])
    t0 = t[order][min(len(cum) - 1, int(np.searchsorted(cum, quantile)))]
    t1 = t[order][min(len(cum) - 1, int(np.searchsorted(cum, 1.0 - quantile)))]
    deg = min(degree, max(0, int((t1 - t0) // 3)))
    basis = np.stack([t**j for j in range(deg + 1)], 1)
    sw = np.sqrt(w)
    coef = np.linalg.lstsq(basis * sw[:, None], s * sw, rcond=None)[0]
    tt = np.linspace(t0, t1, max(2, int(8 * (t1 - t0)) + 1))
    ss = np.stack([tt**j for j in range(deg + 1)], 1) @ coef
    points = np.stack([mx + tt * u[0] + ss * v[0], my + tt * u[1] + ss * v[1]], 1)
    return splat_path(points, size)


def _scale_sizes(kmax: int, smallest: int = 7) -> list[int]:
    sizes = [kmax]
    while True:
        s = int(round(sizes[-1] / np.sqrt(2.0)))
        s += s % 2 == 0
        if s < smallest or s >= sizes[-1]:
            break
        sizes.append(s)
    return sizes[::-1]


def estimate_kernel(gray: np.ndarray, kmax: int = KMAX, iters: int = 5, lam0: float = 4e-3, lam_min: float = 1e-4,
                    lam_decay: float = 0.9, gamma_rel: float = 2e-3, rel: float = 0.1) -> np.ndarray:
    """Free-form blind kernel estimate (``kmax x kmax``, sum 1, centred on its centre of mass) of an
    HxW luma in [0, 1]; see the module docstring, step 1."""
    from skimage.transform import resize

    h, w = gray.shape
    k = None
    lam = lam0
    for size in _scale_sizes(kmax):
        f = size / kmax
        ys = gray if f >= 1 else resize(gray, (max(16, round(h * f)), max(16, round(w * f))), anti_aliasing=True,
                                         order=1)
        if k is None:
            k = ndimage.gaussian_filter(_delta(size), 0.7)
            k /= k.sum()
        else:
            k = np.maximum(resize(k, (size, size), order=1, anti_aliasing=False), 0.0)
            k /= k.sum()
        margin = size
        hs, ws = ys.shape
        for _ in range(iters):
            ext, shape = _extend(ys, margin, k)
            dx, dy = _difference_otfs(shape)
            spec_y = _rfft(ext, shape)
            gyx, gyy = _irfft(dx * spec_y, shape), _irfft(dy * spec_y, shape)
            weight = np.zeros(shape)
            weight[margin + 1 : margin + hs - 1, margin + 1 : margin + ws - 1] = 1.0
            spec_x = _l0_latent(spec_y, _kernel_otf(k, shape), dx, dy, shape, lam)
            gx_spec, gy_spec = dx * spec_x, dy * spec_x
            energy = float(np.sum(weight * (_irfft(gx_spec, shape) ** 2 + _irfft(gy_spec, shape) ** 2)))
            k = clean_kernel(_kernel_step(gx_spec, gy_spec, gyx, gyy, weight, shape, size, gamma_rel * energy, k), rel)
            lam = max(lam * lam_decay, lam_min)
    return centre_kernel(k)


def path_length(kernel: np.ndarray) -> float:
    """Length (px) of the straight, uniformly exposed segment with the kernel's principal variance."""
    n = kernel.shape[0]
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    mx, my = float((kernel * xx).sum()), float((kernel * yy).sum())
    cov = np.array([[(kernel * (xx - mx) ** 2).sum(), (kernel * (xx - mx) * (yy - my)).sum()],
                    [(kernel * (xx - mx) * (yy - my)).sum(), (kernel * (yy - my) ** 2).sum()]])
    return float(np.sqrt(12.0 * max(np.linalg.eigvalsh(cov)[1], 0.0)))


def likelihood_gain(gray: np.ndarray, kernel: np.ndarray) -> float:
    """Drop of the Gaussian-prior negative log-likelihood per frequency when ``kernel`` replaces
    "no blur" (the closed form of ``wiener-ml``, noise level profiled over a grid)."""
    ext = periodic_extend(gray)
    shape = ext.shape
    c2 = _gradient_power(shape)
    keep = c2 > 1e-12
    y2 = (np.abs(np.fft.rfft2(ext)) ** 2)[keep]
    weights = np.broadcast_to(_rfft_weights(shape), c2.shape)[keep]
    c2 = c2[keep]
    n = weights.sum()

    def nll(h2):
        g = h2[None, :] / c2[None, :] + ML_LAMBDAS[:, None]
        a = (weights * y2 / g).sum(axis=1) / n
        return float(((weights * np.log(g)).sum(axis=1) / n + np.log(a)).min())

    return nll(np.ones_like(c2)) - nll((np.abs(otf(kernel, shape)) ** 2)[keep])


# ---------------------------------------------------------------------------- non-blind deconvolution


class ReflectBlur:
    """``A x``: each channel of an HxW[xC] image reflect-padded (edge pixel not repeated) and convolved
    with ``kernel``, same size out (this project's ``blur``), and its adjoint, by FFT."""

    def __init__(self, kernel: np.ndarray, h: int, w: int):
        self.h, self.w = h, w
        self.r = kernel.shape[0] // 2
        if self.r >= min(h, w):
            raise ValueError(f"kernel of {kernel.shape[0]} px is too large for a {h}x{w} image")
        self.shape = _fft_shape(h + 2 * self.r, w + 2 * self.r)
        self.otf = _kernel_otf(kernel, self.shape)

    def _filter(self, x: np.ndarray, conj: bool) -> np.ndarray:
        f = np.conj(self.otf) if conj else self.otf
        if x.ndim == 3:
            f = f[..., None]
        return _irfft(f * _rfft(x, self.shape), self.shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        r = self.r
        padded = np.pad(x, ((r, r), (r, r)) + ((0, 0),) * (x.ndim - 2), mode="reflect")
        return self._filter(padded, False)[r : r + self.h, r : r + self.w]

    def adjoint(self, z: np.ndarray) -> np.ndarray:
        r, h, w = self.r, self.h, self.w
        zp = np.zeros(self.shape + z.shape[2:])
        zp[r : r + h, r : r + w] = z
        q = self._filter(zp, True)[: h + 2 * r, : w + 2 * r]
        # adjoint of reflect padding: fold the padded bands back onto the rows/columns they copy
        q[r + 1 : 2 * r + 1] += q[r - 1 :: -1][:r] if r else 0.0
        q[h - 1 : h + r - 1] += q[h + r : h + 2 * r][::-1]
        q = q[r : r + h]
        q[:, r + 1 : 2 * r + 1] += q[:, r - 1 :: -1][:, :r] if r else 0.0
        q[:, w - 1 : w + r - 1] += q[:, w + r : w + 2 * r][:, ::-1]
        return q[:, r : r + w]


def _grad(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = np.zeros_like(x), np.zeros_like(x)
    gx[:, :-1] = x[:, 1:] - x[:, :-1]
    gy[:-1] = x[1:] - x[:-1]
    return gx, gy


def _grad_adjoint(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    out = np.zeros_like(gx)
    out[:, :-1] -= gx[:, :-1]
    out[:, 1:] += gx[:, :-1]
    out[:-1] -= gy[:-1]
    out[1:] += gy[:-1]
    return out


def _cg(apply, b: np.ndarray, x: np.ndarray, iters: int, tol: float = 1e-20) -> np.ndarray:
    """Conjugate gradients for ``apply(x) = b`` (``apply`` symmetric positive definite) from ``x``;
    stops after ``iters`` steps or when the squared residual norm is under ``tol``."""
    x = x.copy()
    r = b - apply(x)
    p = r.copy()
    rs = float(np.sum(r * r))
    for _ in range(iters):
        if rs < tol:
            break
        ap = apply(p)
        alpha = rs / max(float(np.sum(p * ap)), 1e-30)
        x += alpha * p
        r -= alpha * ap
        rn = float(np.sum(r * r))
        p = r + (rn / rs) * p
        rs = rn
    return x


def deconvolve(image: np.ndarray, kernel: np.ndarray, lam: float = 1e-2, p: float = 0.8, iters: int = 6,
               cg_iters: int = 15) -> np.ndarray:
    """``argmin_x 0.5 ||A_k x - y||^2 + lam sum |grad x|^p`` for an HxWxC image (see step 3)."""
    op = ReflectBlur(kernel, *image.shape[:2])
    aty = op.adjoint(image)
    x = _cg(lambda v: op.adjoint(op.forward(v)) + 1e-2 * _grad_adjoint(*_grad(v)), aty, image, 2 * cg_iters)
    beta = 1.0
    for _ in range(iters):
        ws = []
        for g in _grad(x):
            a = np.abs(g)
            ws.append(np.sign(g) * np.maximum(a - lam / beta * p * np.maximum(a, 1e-8) ** (p - 1.0), 0.0))
        b = aty + beta * _grad_adjoint(*ws)
        x = _cg(lambda v, beta=beta: op.adjoint(op.forward(v)) + beta * _grad_adjoint(*_grad(v)), b, x, cg_iters)
        beta *= 2.83
    return x


# ---------------------------------------------------------------------------------------- the method


class MotionDeblur(ClassicalMethod):
    name = "motion-deblur"
    task = "deblur"

    def restore_array(self, image: np.ndarray) -> np.ndarray:
        p = self.params
        self.last_kernel = None  # for inspection in tests and notebooks
        self.last_decision = "too small"
        gray = luminance(image)
        h, w = gray.shape
        if min(h, w) < MIN_SIDE:
            return image
        crop = p["crop"]
        top, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        patch = gray[top : top + crop, left : left + crop]
        structure = float(np.mean(np.diff(patch, axis=0) ** 2) + np.mean(np.diff(patch, axis=1) ** 2))
        if structure < p["min_structure"]:
            self.last_decision = f"too little structure ({structure:.2g})"
            return image
        kernel = centre_kernel(project_curve(estimate_kernel(patch)))
        self.last_kernel = kernel
        length = path_length(kernel)
        if length < p["min_length"]:
            self.last_decision = f"no blur found (path {length:.1f} px)"
            return image
        gain = likelihood_gain(patch, kernel)
        if gain < p["min_gain"]:
            self.last_decision = f"not confident (likelihood gain {gain:.2f})"
            return image
        restored = deconvolve(image, kernel, p["lam"])
        op = ReflectBlur(kernel, h, w)
        residual = float(np.sqrt(np.mean((op.forward(restored) - image) ** 2)))
        full_structure = float(np.mean(np.diff(gray, axis=0) ** 2) + np.mean(np.diff(gray, axis=1) ** 2))
        ratio = residual / max(np.sqrt(full_structure), 1e-8)
        if ratio > p["max_residual"]:
            self.last_decision = f"kernel does not explain the image (residual ratio {ratio:.2f})"
            return image
        self.last_decision = f"deblurred (path {length:.1f} px, likelihood gain {gain:.2f}, residual ratio {ratio:.2f})"
        s = p["strength"]
        return s * restored + (1.0 - s) * image


def make(crop: int = 192, lam: float = 1e-2, strength: float = 1.0, min_structure: float = 3e-4,
         min_length: float = 5.0, min_gain: float = 0.4, max_residual: float = 0.4) -> MotionDeblur:
    """Options: ``crop`` side (px) of the centre crop the kernel is estimated on (larger: slower, more
    reliable); ``lam`` weight of the ``|grad|^0.8`` prior of the final deconvolution (larger: smoother);
    ``strength`` in [0, 1], the share of the deconvolved image in the output (the rest is the input);
    safety net (input returned unchanged below/above these): ``min_structure`` mean squared
    neighbour difference of the luma (values in [0, 1]), ``min_length`` estimated path length in px,
    ``min_gain`` likelihood gain over "no blur" per frequency, ``max_residual`` re-blur residual RMS
    over the input's gradient RMS."""
    m = "motion-deblur"
    return MotionDeblur(
        crop=check_option(m, "crop", crop, MIN_SIDE, 4096, int),
        lam=check_option(m, "lam", lam, 1e-5, 1.0),
        strength=check_option(m, "strength", strength, 0.0, 1.0),
        min_structure=check_option(m, "min_structure", min_structure, 0.0, 1.0),
        min_length=check_option(m, "min_length", min_length, 0.0, 50.0),
        min_gain=check_option(m, "min_gain", min_gain, -10.0, 100.0),
        max_residual=check_option(m, "max_residual", max_residual, 0.0, 100.0),
    )
