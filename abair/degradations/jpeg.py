"""JPEG compression artefacts through Pillow.

Each image is rounded to uint8 (:func:`abair.imageops.tensor_to_uint8`: clip, round half to even),
encoded as baseline JPEG by Pillow with ``quality``, 4:2:0 chroma subsampling, the standard
(IJG) quantisation tables scaled by quality, ``optimize=False``, not progressive, then decoded
by the same library and returned as float in [0, 1] in the input's dtype. The codec's name and
version are in :data:`JPEG_CODEC` (``abair.degradations.JPEG_CODEC``): other codecs (OpenCV,
other libjpeg builds) give different bytes, so record it with any result made with this operator.

Parameters (default range when left ``None``):

- ``quality``: integer drawn uniformly from 10..50. Allowed 1..100.

No other randomness: the output is a deterministic function of the image and ``quality``.
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
import torch

from abair.imageops import tensor_to_uint8, uint8_to_tensor

from ._common import check_int, draw_int, per_image, resolve

NAME = "jpeg"
RANGES = {"quality": (10, 50)}
SUBSAMPLING = "4:2:0"


@lru_cache(maxsize=1)
def codec_name() -> str:
    """``"Pillow-<version>/libjpeg-turbo <version>, 4:2:0, optimize=False"`` (or ``libjpeg <version>``)."""
    import PIL
    from PIL import features

    turbo = features.check_feature("libjpeg_turbo")
    library = (
        f"libjpeg-turbo {features.version('libjpeg_turbo')}"
        if turbo
        else f"libjpeg {features.version('jpg')}"
    )
    return f"Pillow-{PIL.__version__}/{library}, {SUBSAMPLING}, optimize=False"


def sample_params(generator: torch.Generator) -> dict:
    """Draw ``quality`` uniformly from :data:`RANGES` (integers, both ends included)."""
    return {"quality": draw_int(generator, *RANGES["quality"])}


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """Encode a uint8 HxWx3 array (0..255) with the settings above; returns the JPEG file bytes."""
    from PIL import Image

    quality = check_int(NAME, "quality", quality, 1, 100)
    buffer = io.BytesIO()
    Image.fromarray(image).save(
        buffer, format="JPEG", quality=quality, subsampling=SUBSAMPLING, optimize=False, progressive=False
    )
    return buffer.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    """Decode JPEG bytes with Pillow into a uint8 HxWx3 array (0..255)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB")).copy()


def jpeg(
    image: torch.Tensor,
    generator: torch.Generator | int | None = None,
    *,
    quality: int | None = None,
) -> torch.Tensor:
    """JPEG round trip of ``image`` (3,H,W) or (N,3,H,W) float in [0,1]; same shape/dtype/device out."""
    given = {"quality": quality}

    def one(img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        p = resolve(NAME, sample_params(gen), given)
        q = check_int(NAME, "quality", p["quality"], 1, 100)
        decoded = decode_jpeg(encode_jpeg(tensor_to_uint8(img), q))
        return uint8_to_tensor(decoded, dtype=img.dtype).to(img.device)

    return per_image(image, generator, one)
