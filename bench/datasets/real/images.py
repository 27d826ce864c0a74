"""Read one image file as uint8 HxWx3 (RGB, 0..255) with Pillow, or fail with a one-line UserError.

Grey files are replicated to 3 channels, palette and alpha images are converted to RGB (alpha
dropped); EXIF orientation is ignored (as every restoration codebase does). 16-bit and float
images are refused rather than silently rescaled. Every file is opened with
:func:`abair.imagefile.open_image`: an image declaring more pixels than the decode budget
(``ABAIR_MAX_PIXELS``) is refused before its pixels are decoded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from abair.errors import UserError
from abair.imagefile import open_image

SUPPORTED_MODES = {"RGB", "L", "P", "RGBA", "LA", "1", "CMYK", "YCbCr", "PA"}


def decode(path: Path, what: str = "image") -> tuple[np.ndarray, str]:
    """Decode ``path`` fully; returns (uint8 HxWx3, original Pillow mode). Raises OSError/ValueError
    for unreadable or truncated files (Pillow's own message), UserError (naming ``what`` and the file)
    for one over the decode budget or no image at all."""
    with open_image(path, what=what) as im:
        mode = im.mode
        if mode not in SUPPORTED_MODES:
            raise ValueError(f"unsupported image mode {mode} (only 8-bit images are supported)")
        im.load()
        rgb = im.convert("RGB")
    return np.asarray(rgb).copy(), mode


def verify(path: Path) -> str | None:
    """None if ``path`` decodes completely (checksums included), else the reason it does not."""
    try:
        with open_image(path) as im:
            im.verify()
        decode(path)
    except UserError as exc:  # over the decode budget, or no image: our own line
        return str(exc)
    except Exception as exc:  # any decoder failure is a problem to report
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def read_image(path: Path, dataset: str, rel: str) -> np.ndarray:
    """uint8 HxWx3 of ``path``; a UserError naming the set and file if it cannot be decoded."""
    try:
        image, _mode = decode(path, what=f"{dataset}: image")
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"{dataset}: cannot read {rel} ({path}): {exc}; replace the file "
            f"(see 'abair-bench datasets check {dataset}')"
        ) from None
    return image


def is_grey(path: Path) -> bool:
    with open_image(path) as im:
        return im.mode in ("L", "LA", "1")
