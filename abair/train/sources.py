"""Where training images come from: lazily decoded files, in-memory arrays, or aligned pairs.

A *source* is an indexable collection of images that never holds more than the one image being
read: :meth:`ImageSource.size` reads a file's header only, :meth:`ImageSource.read` decodes one
image (uint8 HxWx3, RGB). The training data classes (:mod:`abair.train.data`) take a random crop of
each image they read and drop the rest, so memory does not grow with the corpus.

- :class:`ArraySource`: images already in memory (the embedded train pool; tests);
- :class:`FileSource`: image files (PNG, JPEG, WebP, TIFF, BMP) decoded with Pillow on demand;
- :class:`PairSource`: aligned (degraded, clean) files or arrays of a paired training set;
- :class:`ConcatSource`: several sources as one (e.g. DIV2K and Flickr2K);
- :class:`HexIdSource`: millions of files named by 64-bit hex ids in a three-level tree (Google
  Landmarks v2), the ids a memory-mapped ``.npy`` array shared by every worker process.

:func:`collect_images` turns what a user names into a list of files: a folder (searched
recursively) or a text file listing image paths (one per line, relative to the list's folder;
blank lines and ``#`` comments skipped).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from abair.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
LIST_SUFFIXES = (".txt", ".lst", ".list")


class ImageSource:
    """Base class: ``len(source)`` images, each with a ``name`` (shown in errors), a ``size`` (H, W)
    read without decoding where possible, and ``read`` -> uint8 HxWx3.

    ``lazy_size`` True: too many files to read every header before training (millions); the
    samplers check an image's size when they draw it instead (:mod:`abair.train.data`)."""

    lazy_size = False

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def name(self, index: int) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def size(self, index: int) -> tuple[int, int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self, index: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class ArraySource(ImageSource):
    """Images held in memory (uint8 HxWx3 arrays; greyscale HxW is repeated to 3 channels)."""

    def __init__(self, images: Sequence[np.ndarray], names: Sequence[str] | None = None):
        self.images = [_rgb(np.asarray(im), f"image {i}") for i, im in enumerate(images)]
        self.names = list(names) if names is not None else [f"image {i}" for i in range(len(self.images))]

    def __len__(self) -> int:
        return len(self.images)

    def name(self, index: int) -> str:
        return self.names[index]

    def size(self, index: int) -> tuple[int, int]:
        return tuple(self.images[index].shape[:2])

    def read(self, index: int) -> np.ndarray:
        return self.images[index]


class FileSource(ImageSource):
    """Image files decoded one at a time with Pillow (EXIF orientation ignored, as every loader of
    the benchmark does; palette/greyscale/alpha images converted to RGB)."""

    def __init__(self, paths: Sequence[str | Path]):
        self.paths = [str(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def name(self, index: int) -> str:
        return self.paths[index]

    def size(self, index: int) -> tuple[int, int]:
        from abair.imagefile import open_image

        try:
            with open_image(self.paths[index], f"'{self.paths[index]}'", what="training image") as im:
                width, height = im.size
        except FileNotFoundError:
            raise UserError(f"training image '{self.paths[index]}' does not exist") from None
        except UserError:  # over the decode budget, or no image
            raise
        except Exception as exc:
            raise UserError(f"training image '{self.paths[index]}' is not a readable image "
                            f"({type(exc).__name__})") from None
        return height, width

    def read(self, index: int) -> np.ndarray:
        from abair.imagefile import open_image

        path = self.paths[index]
        try:
            with open_image(path, f"'{path}'", what="training image") as im:
                return _rgb(np.asarray(im.convert("RGB")), path)
        except UserError:
            raise
        except Exception as exc:
            raise UserError(f"training image '{path}' could not be decoded ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:120]})") from None


class ConcatSource(ImageSource):
    """Several sources as one (indices run through them in order)."""

    def __init__(self, sources: list[ImageSource]):
        self.sources = sources
        self.offsets = []
        total = 0
        for s in sources:
            self.offsets.append(total)
            total += len(s)
        self.total = total

    def _locate(self, index: int) -> tuple[ImageSource, int]:
        import bisect

        k = bisect.bisect_right(self.offsets, index) - 1
        return self.sources[k], index - self.offsets[k]

    def __len__(self) -> int:
        return self.total

    @property
    def lazy_size(self) -> bool:
        return any(s.lazy_size for s in self.sources)

    def name(self, index: int) -> str:
        source, i = self._locate(index)
        return source.name(i)

    def size(self, index: int) -> tuple[int, int]:
        source, i = self._locate(index)
        return source.size(i)

    def read(self, index: int):
        source, i = self._locate(index)
        return source.read(i)


class HexIdPaths(Sequence):
    """The paths ``<root>/<a>/<b>/<c>/<id>.<ext>`` of files named by 64-bit ids written as 16
    lowercase hex digits (``a``, ``b``, ``c``: the id's first three digits; Google Landmarks v2's
    layout), the ids a sorted uint64 array memory-mapped from the ``.npy`` file ``ids_file``: 8 bytes
    per path, whose pages every worker process shares (pickling sends the file's name, not the ids)."""

    def __init__(self, root: str | Path, ids_file: str | Path, ext: str = "jpg"):
        self.root, self.ids_file, self.ext = str(root), str(ids_file), ext
        try:
            self.ids = np.load(self.ids_file, mmap_mode="r")
        except ValueError:  # an empty array cannot be memory-mapped
            self.ids = np.load(self.ids_file)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> str:
        h = f"{int(self.ids[index]):016x}"
        return f"{self.root}/{h[0]}/{h[1]}/{h[2]}/{h}.{self.ext}"

    def __getstate__(self) -> dict:
        return {"root": self.root, "ids_file": self.ids_file, "ext": self.ext}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)


class HexIdSource(FileSource):
    """A :class:`FileSource` over :class:`HexIdPaths` (millions of files: sizes checked lazily)."""

    lazy_size = True

    def __init__(self, root: str | Path, ids_file: str | Path, ext: str = "jpg"):
        self.paths = HexIdPaths(root, ids_file, ext)


class PairSource:
    """Aligned (degraded, clean) pairs: two sources of equal length, pair ``i`` = item ``i`` of each.

    :meth:`read` checks that both images have the same size (one-line :class:`UserError` naming
    both files otherwise)."""

    def __init__(self, degraded: ImageSource, clean: ImageSource):
        if len(degraded) != len(clean):
            raise UserError(f"a paired training set needs as many degraded as clean images "
                            f"({len(degraded)} vs {len(clean)})")
        self.degraded, self.clean = degraded, clean

    @classmethod
    def from_files(cls, pairs: Sequence[tuple[str | Path, str | Path]]) -> PairSource:
        return cls(FileSource([d for d, _ in pairs]), FileSource([c for _, c in pairs]))

    @classmethod
    def from_arrays(cls, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> PairSource:
        return cls(ArraySource([d for d, _ in pairs]), ArraySource([c for _, c in pairs]))

    def __len__(self) -> int:
        return len(self.clean)

    def name(self, index: int) -> str:
        return self.degraded.name(index)

    def size(self, index: int) -> tuple[int, int]:
        return self.clean.size(index)

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        degraded, clean = self.degraded.read(index), self.clean.read(index)
        if degraded.shape != clean.shape:
            raise UserError(f"training pair '{self.degraded.name(index)}' ({degraded.shape[1]}x{degraded.shape[0]}) "
                            f"and '{self.clean.name(index)}' ({clean.shape[1]}x{clean.shape[0]}) differ in size; "
                            "pairs must be aligned")
        return degraded, clean


def _rgb(image: np.ndarray, what: str) -> np.ndarray:
    if image.dtype != np.uint8:
        raise UserError(f"training image {what} must be 8-bit, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise UserError(f"training image {what} must be HxWx3 RGB, got shape {image.shape}")
    return image


def collect_images(path: str | Path) -> list[Path]:
    """The image files a user names by ``path``: a folder (recursively, sorted) or a list file.

    One-line :class:`UserError` when the path does not exist, a list names a missing file, or no
    image is found."""
    path = Path(path).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                       and not p.name.startswith("."))
        if not files:
            raise UserError(f"'{path}' holds no image ({', '.join(s[1:] for s in IMAGE_SUFFIXES)}) in any sub-folder")
        return files
    if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        return _read_list(path)
    if path.is_file():
        raise UserError(f"'{path}' is neither a folder of images nor a list of image paths "
                        f"({', '.join(LIST_SUFFIXES)})")
    raise UserError(f"'{path}' does not exist")


def _read_list(path: Path) -> list[Path]:
    files, missing = [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        file = Path(line).expanduser()
        file = file if file.is_absolute() else path.parent / file
        (files if file.is_file() else missing).append(file)
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise UserError(f"the image list '{path}' names '{missing[0]}'{more}, which does not exist")
    if not files:
        raise UserError(f"the image list '{path}' names no image")
    return files
