"""Opening a user's image file within a pixel budget, before any pixel is decoded.

Every image decoded from a user's file (test sets, ``hf:`` sets, ``folder:`` outputs, training
corpora) is opened with :func:`open_image` first: Pillow reads the header only, and an image that
declares more than the budget is refused with one line naming the file, its declared size and the
budget, before its pixels cost any memory (a 1 KB PNG can declare 12000x12000 pixels: 432 MB as
8-bit RGB, gigabytes as float tensors).

The budget is :data:`DEFAULT_MAX_PIXELS` (64 megapixels, e.g. 8000x8000: far above every test and
training image of the paper; DIV2K's largest are 2040x1356, 2.8 megapixels), or the whole number
of pixels in the environment variable ``ABAIR_MAX_PIXELS``. It replaces Pillow's own check
(``PIL.Image.MAX_IMAGE_PIXELS``: a warning from 89 megapixels, an error from 179, in Pillow's words),
which :func:`open_image` switches off.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from abair.errors import UserError, shorten
from abair.filekind import head_kind, read_head

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

ENV = "ABAIR_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 64_000_000


class NotAnImage(UserError):
    """The data is no image Pillow reads (the message says what it is)."""


def max_pixels() -> int:
    """The decode budget in pixels (width x height): ``$ABAIR_MAX_PIXELS`` if set, else 64,000,000."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw.replace("_", "").replace(",", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise UserError(f"{ENV}={shorten(raw, 40)} is not a positive whole number of pixels; set it to e.g. "
                        f"{ENV}={2 * DEFAULT_MAX_PIXELS} (width x height of the largest image to decode) or unset it")
    return value


def check_pixels(name: str | Path, width: int, height: int, what: str = "image") -> None:
    """One-line :class:`UserError` if a ``width`` x ``height`` image is over the budget (:func:`max_pixels`)."""
    budget = max_pixels()
    if width * height > budget:
        raise UserError(
            f"{what} {name} declares {width}x{height} pixels ({_amount(width * height)}), over the decode budget of "
            f"{_amount(budget)}; if the image is genuine, raise the budget with {ENV}={width * height} (pixels)"
        )


def _amount(pixels: int) -> str:
    """``"144.0 megapixels"``; small amounts in pixels (``"16 pixels"``)."""
    return f"{pixels / 1e6:,.1f} megapixels" if pixels >= 100_000 else f"{pixels:,} pixels"


@contextmanager
def open_image(source: str | Path | IO[bytes], name: str | Path | None = None, what: str = "image") -> Iterator[Image.Image]:
    """The Pillow image of ``source`` (a path or a binary file object), its header read and its size
    within the budget, no pixel decoded yet (call ``.load()``/``.convert()`` on it); closed on exit.

    One-line :class:`UserError` naming ``what`` and ``name`` (default: the path) when the image declares
    more than :func:`max_pixels` pixels; :class:`NotAnImage` (a UserError) when the data is no image
    Pillow reads, saying what it is (a text file, an HTML page, ...). A missing file raises
    :class:`FileNotFoundError`; a truncated one fails when its pixels are decoded (OSError).
    """
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # the budget below replaces Pillow's check (see the module docstring)
    name = source if name is None else name
    try:
        image = Image.open(source)
    except UnidentifiedImageError:
        raise NotAnImage(f"{what} {name} is not an image but {_kind(source)}; replace the file") from None
    with image:
        check_pixels(name, *image.size, what=what)
        yield image


def _kind(source: str | Path | IO[bytes]) -> str:
    """What the data of ``source`` is (see :func:`abair.filekind.file_kind`)."""
    if isinstance(source, (str, Path)):
        return head_kind(read_head(source))
    if isinstance(source, io.BytesIO):
        return head_kind(source.getvalue())
    return "data of unknown format"
