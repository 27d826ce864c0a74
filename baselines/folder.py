"""``folder:NAME=/path``: score a folder of precomputed restored images (published outputs, another
codebase's results) as if they came from a method called ``NAME``.

Layout: one sub-folder per dataset, one file per image named by its image id::

    /path/<dataset>/<image_id>.png     (also .jpg .jpeg .tif .tiff .bmp .webp)

Image ids may contain ``/`` (sub-folders). The path may instead contain the placeholder
``{dataset}`` to put the dataset name elsewhere, e.g. ``folder:deg=/export/{dataset}/degraded`` scores
the degraded images written by ``abair-bench suite export`` (which reproduces ``identity`` exactly).

Before anything is scored the harness calls :meth:`FolderMethod.check` for each dataset, which
refuses a folder with missing files, or extra files (unless ``strict=False``), listing the first
few names and the counts. Files are read as 8-bit RGB: 16-bit images are scaled
(``round(v * 255 / 65535)``; 16-bit colour PNGs are read with OpenCV, which the ``metrics`` extra
installs, because Pillow truncates them), float images are taken as [0, 1], greyscale is repeated to three
channels and an alpha channel is dropped; a file whose header declares more pixels than the decode
budget (``ABAIR_MAX_PIXELS``, :mod:`abair.imagefile`) is refused before it is decoded. A restored
image must have the input's size; when the protocol centre-cropped the input to a multiple of 2..64
(the all-in-one protocols), a full-size file is centre-cropped the same way, anything else is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abair.errors import UserError

from .base import Method, RestoreContext

if TYPE_CHECKING:  # pragma: no cover
    import torch

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
SHOW = 5  # names listed per kind of problem


def _listing(names: list[str], total: int) -> str:
    shown = ", ".join(names[:SHOW])
    return f"{shown}, ... ({total} in all)" if total > SHOW else shown


def _is_16bit_colour_png(path: Path) -> bool:
    """True for a PNG whose IHDR says 16 bits per sample and colour type RGB (2) or RGBA (6)."""
    with open(path, "rb") as fh:
        head = fh.read(26)
    return head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) == 26 and head[24] == 16 and head[25] in (2, 6)


def _read_16bit_colour_png(path: Path) -> np.ndarray:
    """uint16 HxWx3 from a 16-bit colour PNG (Pillow would truncate it to 8 bits): read with OpenCV."""
    try:
        import cv2
    except ImportError:
        raise UserError(
            f"{path} is a 16-bit colour PNG, which needs OpenCV to read without truncation: "
            "pip install opencv-python-headless, or save the outputs as 8-bit PNG"
        ) from None
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise UserError(f"cannot read restored image {path}; replace or re-export the file")
    return image[..., 2::-1] if image.shape[2] == 3 else image[..., [2, 1, 0, 3]]


def _check_declared_size(path: Path) -> None:
    """One-line UserError if ``path`` is no image, or declares more pixels than the decode budget; its
    header is read by Pillow, or, for what Pillow cannot open (float TIFF), by imageio's other readers."""
    import imageio.v3 as iio

    from abair.filekind import file_kind
    from abair.imagefile import NotAnImage, check_pixels, open_image

    try:
        with open_image(path, what="restored image"):
            return
    except NotAnImage:
        if file_kind(path) != "binary data of unknown format":  # text, HTML, empty: say so
            raise
    shape = iio.improps(path).shape
    planes_first = len(shape) == 3 and shape[0] in (3, 4) and shape[2] not in (3, 4)
    height, width = shape[1:3] if planes_first else shape[:2]
    check_pixels(path, width, height, what="restored image")


def read_image_8bit(path: Path) -> np.ndarray:
    """Read an image file as uint8 HxWx3 RGB (0..255); UserError naming the file if it cannot be used."""
    import warnings

    import imageio.v3 as iio

    try:
        _check_declared_size(path)
        if _is_16bit_colour_png(path):
            image = _read_16bit_colour_png(path)
        else:
            with warnings.catch_warnings():  # imageio's legacy plugins warn while probing a bad file
                warnings.simplefilter("ignore", DeprecationWarning)
                image = np.asarray(iio.imread(path))
    except UserError:
        raise
    except Exception as exc:  # corrupt, truncated, unsupported
        from .archs.loading import first_sentence

        raise UserError(f"cannot read restored image {path}: {first_sentence(exc)}; replace or re-export the file") from None
    if image.ndim == 3 and image.shape[0] in (3, 4) and image.shape[2] not in (3, 4):
        image = image.transpose(1, 2, 0)  # some TIFF writers store planes first
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise UserError(f"restored image {path} has shape {image.shape}; expected an RGB (or grey) image")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    image = image[..., :3]
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    if image.dtype == np.uint16:
        return np.round(image.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        return np.round(np.clip(image.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    raise UserError(f"restored image {path} has pixel type {image.dtype}; use 8-bit or 16-bit PNG")


def _fit_to_input(image: np.ndarray, height: int, width: int, path: Path) -> np.ndarray:
    """Return ``image`` if it is ``height`` x ``width``; centre-crop it as the protocols do if that explains
    the difference (crop to a multiple of 2..64); UserError otherwise."""
    from abair.imageops import crop_to_multiple

    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    for multiple in (2, 4, 8, 16, 32, 64):
        if (h - h % multiple, w - w % multiple) == (height, width):
            return crop_to_multiple(image, multiple)
    raise UserError(
        f"restored image {path} is {h}x{w} (HxW) but the degraded input is {height}x{width}; "
        "a precomputed output must have the degraded image's size"
    )


class FolderMethod(Method):
    """Precomputed outputs read from ``root`` (see the module docstring)."""

    max_batch = 64
    tileable = False  # outputs are whole images: tiled inference restores them in one piece

    def __init__(self, name: str, root: str, strict: bool = True):
        if not name:
            raise UserError("folder method needs a name: folder:NAME=/path")
        self.name = name
        self.root = str(root)
        self.strict = bool(strict)
        self._index: dict[str, dict[str, Path]] = {}
        base = Path(self.root.split("{dataset}")[0] or ".")
        if not base.is_dir():
            raise UserError(f"folder method '{name}': {base} is not a folder")

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "folder", "root": str(Path(self.root).resolve()), "strict": self.strict}

    def folder(self, dataset: str) -> Path:
        """Where the outputs for ``dataset`` are expected."""
        if "{dataset}" in self.root:
            return Path(self.root.replace("{dataset}", dataset))
        return Path(self.root) / dataset

    def index(self, dataset: str) -> dict[str, Path]:
        """``{image_id: file}`` for every image file under the dataset's folder (cached)."""
        if dataset in self._index:
            return self._index[dataset]
        folder = self.folder(dataset)
        if not folder.is_dir():
            raise UserError(
                f"folder method '{self.name}': no folder {folder} for dataset '{dataset}'; "
                f"expected {folder}/<image_id>.png (one file per image)"
            )
        found: dict[str, Path] = {}
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if not path.is_file() or any(part.startswith(".") for part in rel.parts):
                continue
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            image_id = rel.with_suffix("").as_posix()
            if image_id in found:
                raise UserError(
                    f"folder method '{self.name}': two files for image '{image_id}' in {folder}: "
                    f"{found[image_id].name} and {path.name}; keep one"
                )
            found[image_id] = path
        self._index[dataset] = found
        return found

    def check(self, dataset: str, image_ids) -> None:
        """UserError listing missing (and, if strict, extra) files; returns None when they match."""
        found = self.index(dataset)
        wanted = list(image_ids)
        wanted_set = set(wanted)
        missing = [i for i in wanted if i not in found]
        extra = sorted(i for i in found if i not in wanted_set) if self.strict else []
        if not missing and not extra:
            return None
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing ({_listing(missing, len(missing))})")
        if extra:
            problems.append(f"{len(extra)} extra ({_listing(extra, len(extra))})")
        hint = f"; remove the extra files or pass --method-arg {self.name}.strict=false" if extra else ""
        raise UserError(
            f"folder method '{self.name}': {self.folder(dataset)} does not match dataset '{dataset}' "
            f"({len(wanted)} images): {' and '.join(problems)}; expected one <image_id>"
            f"{{{','.join(IMAGE_EXTENSIONS)}}} per image{hint}"
        )

    def restore(self, batch: torch.Tensor, context: RestoreContext) -> torch.Tensor:
        import torch

        from abair.imageops import uint8_to_tensor

        if len(context.image_ids) != batch.shape[0]:
            raise UserError(
                f"folder method '{self.name}' needs one image id per input image, got {len(context.image_ids)} "
                f"for a batch of {batch.shape[0]} (tiled inference cannot use precomputed outputs)"
            )
        found = self.index(context.dataset)
        height, width = batch.shape[-2:]
        out = []
        for image_id in context.image_ids:
            if image_id not in found:
                raise UserError(
                    f"folder method '{self.name}': no file for image '{image_id}' in {self.folder(context.dataset)}"
                )
            path = found[image_id]
            image = _fit_to_input(read_image_8bit(path), height, width, path)
            out.append(uint8_to_tensor(np.ascontiguousarray(image)))
        return torch.stack(out).to(dtype=batch.dtype, device=batch.device)


def make(name: str, root: str, strict: bool = True) -> FolderMethod:
    """The factory behind ``folder:NAME=/path`` (``strict=False`` ignores extra files)."""
    if isinstance(strict, str):
        strict = strict.lower() not in ("false", "0", "no")
    return FolderMethod(name, root, strict=strict)


def parse_spec(spec: str) -> tuple[str, str]:
    """``"NAME=/path"`` (or ``"folder:NAME=/path"``) -> ``("NAME", "/path")``; UserError if malformed."""
    body = spec[len("folder:") :] if spec.startswith("folder:") else spec
    name, sep, root = body.partition("=")
    if not sep or not name.strip() or not root.strip():
        raise UserError(
            f"'folder:{body}' must look like folder:NAME=/path (NAME is the method name in the records)"
        )
    return name.strip(), root.strip()


def record_name(spec: str) -> str:
    """The method name ``folder:NAME=/path`` records: ``NAME`` (``spec`` is the text after ``folder:``)."""
    return parse_spec(spec)[0]


def make_from_spec(spec: str, strict: bool = True) -> FolderMethod:
    """The factory behind the method name ``folder:NAME=/path``: ``spec`` is the text after ``folder:``."""
    name, root = parse_spec(spec)
    return make(name, root, strict=strict)
