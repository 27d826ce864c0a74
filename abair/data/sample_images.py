"""Natural colour images that ship inside installed packages, split into train and test pools.

The split is by *source image*, so no pixel of a test tile ever appears in training:

- test pool: ``astronaut``, ``coffee``, ``chelsea`` (scikit-image) -> the mini suite's test tiles;
- train pool: ``rocket``, ``motorcycle-left``, ``motorcycle-right``, ``immunohistochemistry``
  (scikit-image), ``china``, ``flower`` (scikit-learn), ``grace-hopper`` (matplotlib) -> training crops.

The two stereo views of the motorcycle are near-duplicates, so both sit on the same (train) side.
All images are uint8 HxWx3 RGB arrays, values 0..255. Nothing is downloaded: images that need
``pooch`` are not used.
"""

from __future__ import annotations

import hashlib
from functools import cache

import numpy as np

from abair.errors import UserError

TEST_POOL = ("astronaut", "coffee", "chelsea")
TRAIN_POOL = (
    "rocket",
    "motorcycle-left",
    "motorcycle-right",
    "immunohistochemistry",
    "china",
    "flower",
    "grace-hopper",
)


def _skimage(name: str):
    import skimage.data

    return getattr(skimage.data, name)()


def _sklearn(filename: str):
    from sklearn.datasets import load_sample_image

    return load_sample_image(filename)


def _matplotlib(filename: str):
    import matplotlib.cbook
    from PIL import Image

    with matplotlib.cbook.get_sample_data(filename) as fh:
        return np.asarray(Image.open(fh).convert("RGB"))


_LOADERS = {
    "astronaut": ("scikit-image", lambda: _skimage("astronaut")),
    "coffee": ("scikit-image", lambda: _skimage("coffee")),
    "chelsea": ("scikit-image", lambda: _skimage("chelsea")),
    "rocket": ("scikit-image", lambda: _skimage("rocket")),
    "motorcycle-left": ("scikit-image", lambda: _skimage("stereo_motorcycle")[0]),
    "motorcycle-right": ("scikit-image", lambda: _skimage("stereo_motorcycle")[1]),
    "immunohistochemistry": ("scikit-image", lambda: _skimage("immunohistochemistry")),
    "china": ("scikit-learn", lambda: _sklearn("china.jpg")),
    "flower": ("scikit-learn", lambda: _sklearn("flower.jpg")),
    "grace-hopper": ("matplotlib", lambda: _matplotlib("grace_hopper.jpg")),
}


@cache
def load_source(name: str) -> np.ndarray:
    """The full source image ``name`` as a read-only uint8 HxWx3 RGB array."""
    if name not in _LOADERS:
        raise UserError(f"unknown sample image '{name}'; known: {', '.join(_LOADERS)}")
    package, loader = _LOADERS[name]
    try:
        image = np.ascontiguousarray(loader())
    except Exception as exc:  # a broken or too-old package
        raise UserError(f"cannot load sample image '{name}' from {package}: {exc}; reinstall {package}") from None
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UserError(f"sample image '{name}' from {package} is not uint8 RGB (got {image.dtype} {image.shape})")
    image.setflags(write=False)
    return image


def source_package(name: str) -> str:
    return _LOADERS[name][0]


def source_sha256(name: str) -> str:
    return hashlib.sha256(load_source(name).tobytes()).hexdigest()


def grid_tiles(name: str, tile: int) -> list[tuple[str, tuple[int, int, int, int]]]:
    """Non-overlapping ``tile`` x ``tile`` boxes on a centred grid over ``name``.

    Returns ``[(tile_id, (top, left, height, width)), ...]`` in row-major order with ids like
    ``astronaut-r0c1``.
    """
    h, w = load_source(name).shape[:2]
    rows, cols = h // tile, w // tile
    top0, left0 = (h - rows * tile) // 2, (w - cols * tile) // 2
    return [
        (f"{name}-r{r}c{c}", (top0 + r * tile, left0 + c * tile, tile, tile))
        for r in range(rows)
        for c in range(cols)
    ]


def train_pool() -> list[np.ndarray]:
    """Every train-pool image (uint8 HxWx3), for random training crops."""
    return [load_source(name) for name in TRAIN_POOL]
