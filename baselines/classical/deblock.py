"""``deblock``: JPEG artefact reduction by re-application of JPEG at shifted grids (Nosratinia 2001),
with the quality factor estimated blindly from the decoded pixels.

Assumes a baseline JPEG with the standard (IJG, Annex K) quantisation tables scaled by a quality
factor, and a block grid aligned with the image's top-left corner (true for whole images and for
tiles cut before compression). Steps, on the 8-bit image:

1. quality estimate: the luma (BT.601) is cut into the 8x8 grid and transformed with the orthonormal
   DCT that JPEG uses (blocks with a clipped pixel are left out); for quality q = 1..100 the standard luma table ``T_q`` is built and q is
   accepted when, of the coefficients large enough to be quantised to a non-zero value at q (at
   least 20 of them, counting only AC coefficients at steps of 6 or more, which chance rarely fits), a fraction
   of at least 0.7 lies within 1.5 of a multiple of ``T_q`` (the decoder's integer transforms, the
   colour conversion and rounding blur the lattice by about one unit). The lowest accepted q is the estimate (finer tables fit any image, so the
   coarsest table that fits is the one the encoder used). If no q below 95 fits, the image is not
   treated as compressed and is returned unchanged.
2. re-application (A. Nosratinia, "Enhancement of JPEG-compressed images by re-application of
   JPEG", J. VLSI Signal Processing 27, 2001): for each of the ``shifts`` x ``shifts`` grid offsets
   the image is shifted (edge-replicated), compressed and decompressed with the estimated quality
   (Pillow, 4:2:0), shifted back, and the results are averaged. Averaging over shifted grids
   removes the block edges; recompressing at the same quality keeps the detail the first
   compression kept.

``quality`` may be given to skip the estimate. About 64 small encodes per image: tens of ms for
128x128 with libjpeg-turbo.
"""

from __future__ import annotations

import io

import numpy as np

from ._common import ClassicalMethod, check_option, luminance

# ITU-T T.81 Annex K luminance table (row-major), the base of the IJG quality scaling
_LUMA_TABLE = np.array(
    [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ],
    dtype=np.float64,
).reshape(8, 8)


def luma_table(quality: int) -> np.ndarray:
    """The IJG-scaled 8x8 luminance quantisation table for ``quality`` in 1..100 (values 1..255)."""
    scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    return np.clip(np.floor((_LUMA_TABLE * scale + 50.0) / 100.0), 1.0, 255.0)


def block_dct(channel: np.ndarray) -> np.ndarray:
    """HxW (8-bit units) -> (n_blocks, 8, 8) orthonormal DCT-II of the level-shifted 8x8 blocks (grid at 0, 0)."""
    from scipy.fft import dctn

    h, w = (channel.shape[0] // 8) * 8, (channel.shape[1] // 8) * 8
    blocks = (channel[:h, :w] - 128.0).reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 8, 8)
    return dctn(blocks, axes=(1, 2), norm="ortho")


def _lattice_fit(coeffs: np.ndarray, quality: int, tolerance: float, min_step: float,
                 min_coefficients: int) -> float:
    """Fraction of the informative AC coefficients within ``tolerance`` of a multiple of ``T_quality`` (-1 if too few)."""
    table = luma_table(quality)
    # only coefficients quantised to non-zero, at steps coarse enough that chance rarely fits them
    quantised = (np.abs(coeffs) >= table / 2.0) & (table >= min_step)
    quantised[:, 0, 0] = False  # the decoded DC carries a small offset (rounding in the decoder)
    if int(quantised.sum()) < min_coefficients:
        return -1.0
    steps = np.broadcast_to(table, coeffs.shape)[quantised]
    values = coeffs[quantised]
    return float(np.mean(np.abs(values - np.round(values / steps) * steps) <= tolerance))


def estimate_quality(image255: np.ndarray, tolerance: float = 1.5, fit: float = 0.7, min_step: float = 6.0,
                     min_coefficients: int = 20) -> int | None:
    """Blind IJG quality estimate of a decoded JPEG (float HxWx3 in 0..255); None if it does not look compressed.

    The lowest quality whose table fits (see the module docstring), then the best-fitting of it and
    the next four (neighbouring qualities have nearly equal tables)."""
    coeffs = block_dct(luminance(image255))
    # blocks with a clipped pixel (0 or 255 in any channel) leave the lattice: leave them out
    h, w = (image255.shape[0] // 8) * 8, (image255.shape[1] // 8) * 8
    clipped = (image255[:h, :w] <= 0.0) | (image255[:h, :w] >= 255.0)
    clipped = clipped.any(axis=2).reshape(h // 8, 8, w // 8, 8).any(axis=(1, 3)).ravel()
    coeffs = coeffs[~clipped]
    for quality in range(1, 95):
        if _lattice_fit(coeffs, quality, tolerance, min_step, min_coefficients) >= fit:
            near = range(quality, min(quality + 5, 95))
            scores = [_lattice_fit(coeffs, q, tolerance, min_step, min_coefficients) for q in near]
            return near[int(np.argmax(scores))]
    return None


def jpeg_round_trip(image8: np.ndarray, quality: int) -> np.ndarray:
    """Compress and decompress a uint8 HxWx3 array with Pillow (baseline, 4:2:0); returns uint8 HxWx3."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image8).save(buffer, format="JPEG", quality=int(quality), subsampling="4:2:0",
                                 optimize=False, progressive=False)
    with Image.open(io.BytesIO(buffer.getvalue())) as img:
        return np.asarray(img.convert("RGB"))


class Deblock(ClassicalMethod):
    name = "deblock"
    task = "jpeg"

    def restore_array(self, image: np.ndarray) -> np.ndarray:
        image255 = image * 255.0
        quality = self.params["quality"] or estimate_quality(image255)
        if quality is None:
            return image
        image8 = np.clip(np.round(image255), 0, 255).astype(np.uint8)
        h, w = image8.shape[:2]
        n = self.params["shifts"]
        pad = 8
        padded = np.pad(image8, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        acc = np.zeros(image8.shape, dtype=np.float64)
        for dy in range(n):
            for dx in range(n):
                # shifting the content by (dy, dx) moves the encoder's grid by (-dy, -dx) relative to it
                window = padded[pad - dy : pad - dy + h + 8, pad - dx : pad - dx + w + 8]
                decoded = jpeg_round_trip(np.ascontiguousarray(window), quality)
                acc += decoded[dy : dy + h, dx : dx + w]
        return acc / (n * n * 255.0)


def make(quality: int | None = None, shifts: int = 8) -> Deblock:
    """Options: ``quality`` the JPEG quality 1..100 (None: estimated per image), ``shifts`` grid offsets per
    axis (1..8; 8 = all 64 shifts)."""
    m = "deblock"
    return Deblock(
        quality=None if quality is None else check_option(m, "quality", quality, 1, 100, int),
        shifts=check_option(m, "shifts", shifts, 1, 8, int),
    )
