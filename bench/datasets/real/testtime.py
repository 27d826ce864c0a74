"""Degradations made at load time from clean files: Gaussian noise (two seedings), JPEG, bit depth,
and the generated mixed recipes. All inputs and outputs are uint8 HxWx3 arrays (0..255, RGB).

Gaussian noise (CBSD68 sets) uses numpy only, never torch, and quantises exactly as the all-in-one
code does: ``np.clip(clean + randn * sigma, 0, 255).astype(np.uint8)`` with ``clean`` the uint8
image promoted to float64; ``astype`` *truncates* toward zero (it does not round), so the noisy image
is on average 0.5 grey levels darker than a rounded one. Both seedings use that formula:

- ``per-image`` (default): ``np.random.default_rng(seed_from_string(dataset, image_id, "noise-sS"))``
  ``.standard_normal(clean.shape)`` on the full image; any one image can be regenerated alone.
- ``promptir``: PromptIR's / AdaIR's ``test.py`` realisation, byte for byte: one
  ``np.random.seed(0)``, then for sigma 15, 25, 50 in that order, for every file of the clean folder
  in ``os.listdir`` order, the clean image is centre-cropped to a multiple of 16 (``crop_img``,
  base 16) and ``np.random.randn(*cropped.shape)`` is drawn. The realisation depends on the file
  order, which ``os.listdir`` takes from the file system: the order used is recorded in the manifest.
  Pairs are the cropped images.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

PROMPTIR_SIGMAS = (15, 25, 50)
PROMPTIR_SEED = 0
PROMPTIR_BASE = 16


def noise_seed(dataset: str, image_id: str, sigma) -> int:
    from abair.degradations import seed_from_string

    return seed_from_string(dataset, image_id, f"noise-s{sigma:g}")


def add_noise(clean: np.ndarray, noise: np.ndarray, sigma: float) -> np.ndarray:
    """``np.clip(clean + noise * sigma, 0, 255).astype(np.uint8)`` (truncating), clean uint8."""
    return np.clip(clean + noise * sigma, 0, 255).astype(np.uint8)


def per_image_noise(clean: np.ndarray, dataset: str, image_id: str, sigma: float) -> np.ndarray:
    rng = np.random.default_rng(noise_seed(dataset, image_id, sigma))
    return add_noise(clean, rng.standard_normal(clean.shape), sigma)


def crop_multiple(image: np.ndarray, base: int = PROMPTIR_BASE) -> np.ndarray:
    """PromptIR's ``crop_img``: centre crop to a multiple of ``base``, offsets ``(h % base) // 2``."""
    from abair.imageops import crop_to_multiple

    return crop_to_multiple(image, base)


def listdir_images(folder: Path) -> list[str]:
    """Image file names of ``folder`` in ``os.listdir`` order (the order PromptIR's test uses)."""
    from .scan import is_image_name

    return [n for n in os.listdir(folder) if is_image_name(n) and (folder / n).is_file()]


class PromptIRNoise:
    """The PromptIR test realisation for one sigma over ``files`` (``[(image_id, path)]`` in order).

    The generator states at the start of each image of the target sigma's pass are recorded once
    (the earlier passes are drawn and discarded), so any image is then regenerated alone.
    """

    def __init__(self, files: list[tuple[str, Path]], sigma: int):
        if sigma not in PROMPTIR_SIGMAS:
            raise ValueError(f"promptir noise seeding exists for sigma {PROMPTIR_SIGMAS}, not {sigma}")
        self.files = files
        self.sigma = sigma
        self._states: dict[str, tuple] | None = None

    def _build(self) -> dict[str, tuple]:
        from abair.imagefile import open_image

        shapes = []
        for _image_id, path in self.files:
            with open_image(path) as im:  # the noise drawn is as large as the image: within the decode budget
                w, h = im.size
            shapes.append((h - h % PROMPTIR_BASE, w - w % PROMPTIR_BASE, 3))
        rs = np.random.RandomState(PROMPTIR_SEED)
        states: dict[str, tuple] = {}
        for s in PROMPTIR_SIGMAS:
            for (image_id, _path), shape in zip(self.files, shapes, strict=True):
                if s == self.sigma:
                    states[image_id] = rs.get_state()
                rs.standard_normal(int(np.prod(shape)))  # same stream as randn(*shape)
            if s == self.sigma:
                break
        return states

    def noisy(self, image_id: str, clean_cropped: np.ndarray) -> np.ndarray:
        if self._states is None:
            self._states = self._build()
        rs = np.random.RandomState()
        rs.set_state(self._states[image_id])
        return add_noise(clean_cropped, rs.randn(*clean_cropped.shape), self.sigma)


# --- JPEG ---------------------------------------------------------------------------------------


def jpeg_codec(quality: int) -> str:
    """The codec description recorded in the manifest."""
    import PIL
    from PIL import features

    return (
        f"Pillow {PIL.__version__} (libjpeg-turbo {features.version('jpg')}), quality {quality}, "
        "baseline, standard IJG tables, 4:2:0 chroma subsampling for colour; grey sources as 1-channel JPEG"
    )


def jpeg_roundtrip(image: np.ndarray, quality: int, grey: bool) -> np.ndarray:
    """Encode uint8 HxWx3 with Pillow at ``quality`` and decode; ``grey`` encodes channel 0 as a
    1-channel JPEG (the sources are grey) and replicates the result to 3 channels."""
    from PIL import Image

    buf = io.BytesIO()
    if grey:
        Image.fromarray(np.ascontiguousarray(image[..., 0]), "L").save(buf, "JPEG", quality=quality)
    else:
        Image.fromarray(image, "RGB").save(buf, "JPEG", quality=quality, subsampling=2)
    buf.seek(0)
    with Image.open(buf) as im:
        out = np.asarray(im.convert("RGB"))
    return np.ascontiguousarray(out)


# --- project operators (bit depth, generated mixed sets) ------------------------------------------


def apply_operators(image: np.ndarray, dataset: str, image_id: str, steps) -> np.ndarray:
    """Apply ``[(operator, params), ...]`` of :mod:`abair.degradations` in float64, each seeded by
    ``seed_from_string(dataset, image_id, operator)``; clip and round to uint8 at the end."""
    import torch

    from abair.degradations import apply, seed_from_string
    from abair.imageops import tensor_to_uint8, uint8_to_tensor

    x = uint8_to_tensor(image, dtype=torch.float64)
    for op, params in steps:
        x = apply(op, x, seed_from_string(dataset, image_id, op), **params)
    return tensor_to_uint8(x)
