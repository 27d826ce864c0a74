"""``wiener-ml``: semi-blind deblurring: a parametric blur identified by maximum likelihood, then
Tikhonov-regularised Wiener deconvolution.

What it assumes, plainly: one spatially uniform blur for the whole image, taken from a parametric
family (isotropic Gaussian, sigma 0.5..3 px; defocus disk, radius 1..5 px; straight linear motion,
length 3..25 px at 15 degree steps), the same for the three channels, and a natural-image prior
(power spectrum ~ 1/f^2) plus white noise. Blur outside the family (curved camera shake, blur that
varies across the image) is only approximated by the closest member, and a kernel whose centroid
is off its centre (which shifts the image) cannot be recovered by any blind method: on such data
the method can lose a little against the blurred input. It is not a learned or fully blind kernel
estimator.

Blur identification is the maximum-likelihood method of R. L. Lagendijk, J. Biemond and
D. E. Boekee ("Identification and restoration of noisy blurred images using the expectation-
maximization algorithm", IEEE TASSP 38(7), 1990), in closed form on the spectrum: with the image
prior ``E|X(f)|^2 = a / |C(f)|^2`` (``C`` = the gradient, ``|C|^2 = |Dx|^2 + |Dy|^2``) and noise
``sigma^2 = lam * a``, each frequency of the blurred image is zero-mean Gaussian with variance
``a * (|H|^2 / |C|^2 + lam)``. For every candidate kernel ``h`` and ``lam`` on a grid, ``a`` is
set to its ML value and the negative log-likelihood ``sum log(|H|^2/|C|^2 + lam) + N log a`` is
compared; the smallest wins (no blur is a candidate too). It is computed on the luma of a centre
crop of at most ``crop`` px (faster, and the blur is assumed uniform).

Before every FFT the image is padded symmetrically and its outer band tapered (towards the mean
for the search, towards the image blurred by the chosen kernel for the restoration, as MATLAB's
``edgetaper``), so the periodic convolution of the Fourier domain sees no border jump.
Deconvolution: ``X = conj(H) Y / (|H|^2 + max(lam, min_lam) |C|^2)`` per RGB channel, cropped back.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ._common import ClassicalMethod, check_option, luminance

LAMBDAS = np.logspace(-6.0, -2.0, 5)


def gaussian_kernel(sigma: float) -> np.ndarray:
    r = max(1, int(np.ceil(3.0 * sigma)))
    c = np.arange(-r, r + 1)
    g = np.exp(-(c[:, None] ** 2 + c[None, :] ** 2) / (2.0 * sigma * sigma))
    return g / g.sum()


def disk_kernel(radius: float, supersample: int = 8) -> np.ndarray:
    r = int(np.ceil(radius - 0.5)) if radius > 0.5 else 0
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    pos = (np.arange(-r, r + 1)[:, None] + sub[None, :]).ravel()
    inside = (pos[:, None] ** 2 + pos[None, :] ** 2) <= radius * radius
    k = 2 * r + 1
    cover = inside.reshape(k, supersample, k, supersample).sum(axis=(1, 3)).astype(np.float64)
    return cover / cover.sum()


def line_kernel(length: float, angle: float) -> np.ndarray:
    """Straight motion of ``length`` px at ``angle`` degrees (0 = horizontal), bilinear splatting, sum 1."""
    r = int(np.ceil(length / 2.0)) + 1
    k = 2 * r + 1
    ts = np.linspace(-(length - 1) / 2.0, (length - 1) / 2.0, int(8 * length) + 1)
    rad = np.radians(angle)
    xs, ys = ts * np.cos(rad) + r, -ts * np.sin(rad) + r
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    kernel = np.zeros((k, k))
    for dy, dx, w in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(kernel, (y0 + dy, x0 + dx), w)
    return kernel / kernel.sum()


@lru_cache(maxsize=1)
def candidate_kernels() -> tuple[tuple[str, np.ndarray], ...]:
    """The parametric family, as ``(description, kernel)`` pairs (kernels float64, sum 1)."""
    out = [("none", np.ones((1, 1)))]
    out += [(f"gaussian sigma={s}", gaussian_kernel(s)) for s in (0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0)]
    out += [(f"disk radius={r}", disk_kernel(r)) for r in (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0)]
    for length in (3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 25):
        for angle in range(0, 180, 15):
            out.append((f"motion length={length} angle={angle}", line_kernel(length, angle)))
    return tuple(out)


MARGIN = 24  # px of padding around the image before every FFT (> the largest kernel radius)


def taper_window(n: int, margin: int) -> np.ndarray:
    """1-D weights for a padded length ``n``: 1 inside, a raised-cosine fall to 0 across the outer ``margin``."""
    w = np.ones(n)
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(margin) + 0.5) / margin)
    w[:margin] = ramp
    w[n - margin :] = ramp[::-1]
    return w


def periodic_extend(x: np.ndarray, margin: int = MARGIN, kernel: np.ndarray | None = None) -> np.ndarray:
    """Pad an HxW[xC] image by ``2 * margin`` (symmetric) and taper the outer ``margin`` so that the result
    is smooth when wrapped around, as the Fourier domain assumes.

    The taper blends towards the padded image blurred by ``kernel`` (periodically), in the spirit of
    MATLAB's ``edgetaper``, so the blur model also roughly holds in the band; without a kernel it
    blends towards the image mean.
    """
    pad = 2 * margin
    widths = ((pad, pad), (pad, pad)) + (((0, 0),) if x.ndim == 3 else ())
    ext = np.pad(x, widths, mode="symmetric")
    shape = ext.shape[:2]
    if kernel is None:
        target = np.broadcast_to(x.mean(axis=(0, 1)), ext.shape)
    else:
        hf = otf(kernel, shape)
        chans = ext[..., None] if ext.ndim == 2 else ext
        target = np.stack([np.fft.irfft2(hf * np.fft.rfft2(chans[..., c]), s=shape)
                           for c in range(chans.shape[2])], axis=2).reshape(ext.shape)
    w = np.outer(taper_window(shape[0], margin), taper_window(shape[1], margin))
    if ext.ndim == 3:
        w = w[..., None]
    return w * ext + (1.0 - w) * target


def otf(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Real FFT (rfft2) of ``kernel`` zero-padded to ``shape`` with its centre moved to (0, 0)."""
    padded = np.zeros(shape)
    kh, kw = kernel.shape
    padded[:kh, :kw] = kernel
    padded = np.roll(padded, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return np.fft.rfft2(padded)


def _rfft_weights(shape: tuple[int, int]) -> np.ndarray:
    """Multiplicity of each rfft2 column in the full spectrum (1 for DC/Nyquist, 2 otherwise)."""
    w = np.full(shape[1] // 2 + 1, 2.0)
    w[0] = 1.0
    if shape[1] % 2 == 0:
        w[-1] = 1.0
    return w[None, :]


def _gradient_power(shape: tuple[int, int]) -> np.ndarray:
    """``|Dx|^2 + |Dy|^2`` of the forward differences: the regulariser, ~ (2 pi f)^2 like the inverse
    power spectrum of natural images."""
    dx = np.array([[0.0, 0.0, 0.0], [0.0, -1.0, 1.0], [0.0, 0.0, 0.0]])
    return np.abs(otf(dx, shape)) ** 2 + np.abs(otf(dx.T, shape)) ** 2


def identify_blur(gray: np.ndarray) -> tuple[str, np.ndarray, float, float]:
    """Maximum-likelihood blur identification on an HxW image in [0, 1].

    Returns ``(description, kernel, lam, gain)`` where ``gain`` is the drop of the negative
    log-likelihood per frequency relative to "no blur" (0 when no kernel is better).
    """
    ext = periodic_extend(gray)
    shape = ext.shape
    c2 = _gradient_power(shape)
    keep = c2 > 1e-12  # the DC term carries no information about the blur
    y2 = (np.abs(np.fft.rfft2(ext)) ** 2)[keep]
    weights = np.broadcast_to(_rfft_weights(shape), c2.shape)[keep]
    c2 = c2[keep]
    n = weights.sum()
    lam = LAMBDAS[:, None]

    def nll(h2: np.ndarray) -> np.ndarray:
        g = h2[None, :] / c2[None, :] + lam  # data spectrum up to the scale a
        a = (weights * y2 / g).sum(axis=1) / n  # ML scale for each lam
        return ((weights * np.log(g)).sum(axis=1) + n * np.log(a)) / n

    base = nll(np.ones_like(c2))
    best = ("none", np.ones((1, 1)), float(LAMBDAS[int(np.argmin(base))]), float(base.min()))
    for description, kernel in candidate_kernels()[1:]:
        scores = nll((np.abs(otf(kernel, shape)) ** 2)[keep])
        i = int(np.argmin(scores))
        if scores[i] < best[3]:
            best = (description, kernel, float(LAMBDAS[i]), float(scores[i]))
    return best[0], best[1], best[2], float(base.min() - best[3])


def deconvolve(image: np.ndarray, kernel: np.ndarray, lam: float) -> np.ndarray:
    """Tikhonov-Wiener deconvolution of each channel of an HxWxC image (mirror-extended FFT)."""
    h, w = image.shape[:2]
    pad = 2 * MARGIN
    ext = periodic_extend(image, MARGIN, kernel)
    shape = ext.shape[:2]
    hf = otf(kernel, shape)
    c2 = _gradient_power(shape)
    filt = np.conj(hf) / (np.abs(hf) ** 2 + lam * c2)
    out = np.empty_like(image)
    for c in range(image.shape[2]):
        out[..., c] = np.fft.irfft2(filt * np.fft.rfft2(ext[..., c]), s=shape)[pad : pad + h, pad : pad + w]
    return out


class WienerML(ClassicalMethod):
    name = "wiener-ml"
    task = "deblur"

    def restore_array(self, image: np.ndarray) -> np.ndarray:
        gray = luminance(image)
        h, w = gray.shape
        crop = self.params["crop"]
        top, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        description, kernel, lam, gain = identify_blur(gray[top : top + crop, left : left + crop])
        self.last_kernel = description  # for inspection in tests and notebooks
        if description == "none" or gain < self.params["min_gain"]:
            self.last_kernel = "none"
            return image
        return deconvolve(image, kernel, max(lam, self.params["min_lam"]))


def make(crop: int = 128, min_lam: float = 1e-3, min_gain: float = 0.0) -> WienerML:
    """Options: ``crop`` side (px) of the centre crop used to identify the blur, ``min_lam`` smallest
    regularisation weight of the final deconvolution (larger: smoother, less ringing), ``min_gain`` the
    log-likelihood gain per frequency over "no blur" needed before deconvolving (0: any gain)."""
    m = "wiener-ml"
    return WienerML(
        crop=check_option(m, "crop", crop, 16, 4096, int),
        min_lam=check_option(m, "min_lam", min_lam, 0.0, 1.0),
        min_gain=check_option(m, "min_gain", min_gain, 0.0, 100.0),
    )
