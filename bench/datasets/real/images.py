"""Read one image file as uint8 HxWx3 (RGB, 0..255) with Pillow, or fail with a one-line UserError.

Grey files are replicated to 3 channels, palette and alpha images are converted to RGB (alpha
dropped); EXIF orientation is ignored (as every restoration codebase does). 16-bit and float
images are refused rather than silently rescaled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from abair.errors import UserError

SUPPORTED_MODES = {"RGB", "L", "P", "RGBA", "LA", "1", "CMYK", "YCbCr", "PA"}


def decode(path: Path) -> tuple[np.ndarray, str]:
    """Decode ``path`` fully; returns (uint8 HxWx3, original Pillow mode). Raises OSError/ValueError
    for unreadable or truncated files (Pillow's own message)."""
    from PIL import Image

    with Image.open(path) as im:
        mode = im.mode
        if mode not in SUPPORTED_MODES:
            raise ValueError(f"unsupported image mode {mode} (only 8-bit images are supported)")
        im.load()
        rgb = im.convert("RGB")
    return np.asarray(rgb).copy(), mode


def verify(path: Path) -> str | None:
    """None if ``path`` decodes completely (checksums included), else the reason it does not."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
        decode(path)
    except Exception as exc:  # any decoder failure is a problem to report
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def read_image(path: Path, dataset: str, rel: str) -> np.ndarray:
    """uint8 HxWx3 of ``path``; a UserError naming the set and file if it cannot be decoded."""
    try:
        image, _mode = decode(path)
    except Exception as exc:
        raise UserError(
            f"{dataset}: cannot read {rel} ({path}): {exc}; replace the file "
            f"(see 'abair-bench datasets check {dataset}')"
        ) from None
    return image


def is_grey(path: Path) -> bool:
    from PIL import Image

    with Image.open(path) as im:
        return im.mode in ("L", "LA", "1")
