"""Sweep points as test sets: one in-memory :class:`~bench.datasets.base.Dataset` per point.

Clean images come from a *source*: ``test-pool`` (the mini suite's 34 clean 128x128 tiles of the
test pool; the default), the name of a registered test set (its ground truth), or ``folder:PATH``
(every PNG/JPEG/BMP/TIFF/WebP file in a folder, sorted by name). With ``images`` N, N ids evenly
spaced over the source's order are kept (all three test-pool pictures take part).

A degraded image: clean uint8 -> float64 in [0, 1] -> each step's operator in order, all drawing
from one generator seeded by ``seed_from_string("sweep", point name, image id)`` -> clip -> round
to uint8 (the mini suite's recipe, another namespace). The runner, run store, resume and readers
see ordinary datasets named ``sweep:...`` with task ``sweep``; the manifest's entry of each holds the
point's steps, axis and level under ``sweep``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from abair.errors import UserError
from bench.datasets.base import Dataset, Pair

from .spec import Point

SEED_NAMESPACE = "sweep"
TASK = "sweep"
TEST_POOL = "test-pool"
FOLDER_PREFIX = "folder:"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def degrade(point: Point, image_id: str, clean: np.ndarray) -> np.ndarray:
    """``point``'s steps applied to one clean uint8 HxWx3 image; returns the degraded uint8 image."""
    import torch

    from abair.degradations import apply, make_generator, seed_from_string
    from abair.imageops import tensor_to_uint8, uint8_to_tensor

    generator = make_generator(seed_from_string(SEED_NAMESPACE, point.name, image_id))
    x = uint8_to_tensor(clean, dtype=torch.float64)
    for step in point.steps:
        x = apply(step.operator, x, generator, **step.kwargs())
    return tensor_to_uint8(x)


class CleanSource:
    """The clean images of a sweep: ``ids`` in order and ``load(id)`` -> uint8 HxWx3."""

    def __init__(self, source: str = TEST_POOL, images: int | None = None, dataset_options=None):
        self.source = source
        self._options = dataset_options
        all_ids = self._all_ids()
        if not all_ids:
            raise UserError(f"sweep source '{source}' holds no image")
        if images is not None and images < len(all_ids):
            all_ids = [all_ids[(i * len(all_ids)) // images] for i in range(images)]
        self.ids = all_ids
        self._cache: dict[str, np.ndarray] = {}

    def _all_ids(self) -> list[str]:
        if self.source == TEST_POOL:
            return list(self._tiles)
        if self.source.startswith(FOLDER_PREFIX):
            return sorted(self._files)
        return self._dataset.image_ids()

    @cached_property
    def _tiles(self) -> dict[str, np.ndarray]:
        from bench.datasets.mini import clean_tiles

        return clean_tiles()

    @cached_property
    def _files(self) -> dict[str, Path]:
        folder = Path(self.source[len(FOLDER_PREFIX):]).expanduser()
        if not folder.is_dir():
            raise UserError(f"sweep source {self.source}: {folder} is not a folder; give folder:PATH of clean images")
        return {p.name: p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}

    @cached_property
    def _dataset(self):
        from bench.datasets import DATASETS, get_dataset

        if self.source not in DATASETS:
            from abair.errors import unknown_name

            raise unknown_name("sweep source", self.source, [TEST_POOL, *DATASETS.names()],
                               "abair-bench datasets list") from None
        return get_dataset(self.source, self._options)

    def load(self, image_id: str) -> np.ndarray:
        if self.source == TEST_POOL:
            return self._tiles[image_id]
        if image_id not in self._cache:
            if self.source.startswith(FOLDER_PREFIX):
                from bench.datasets.real.images import read_image

                self._cache[image_id] = read_image(self._files[image_id], self.source, image_id)
            else:
                self._cache[image_id] = self._dataset.load_clean(image_id)
        return self._cache[image_id]

    def describe(self) -> dict:
        if self.source == TEST_POOL:
            from abair.data.sample_images import TEST_POOL as POOL
            from abair.data.sample_images import source_package, source_sha256

            return {"source": TEST_POOL, "sources": {s: {"package": source_package(s), "sha256": source_sha256(s)}
                                                    for s in POOL}, "tile": 128}
        return {"source": self.source}


class SweepDataset(Dataset):
    """One sweep point over a :class:`CleanSource`; degraded images are made on first load."""

    point: Point
    clean_source: CleanSource
    spec_name: str

    def image_ids(self) -> list[str]:
        return list(self.clean_source.ids)

    @cached_property
    def _degraded(self) -> dict[str, np.ndarray]:
        return {}

    def load(self, image_id: str) -> Pair:
        clean = self.clean_source.load(image_id)
        degraded = self._degraded.get(image_id)
        if degraded is None:
            degraded = self._degraded[image_id] = degrade(self.point, image_id, clean)
        return Pair(self.name, self.task, image_id, degraded, clean)

    def load_clean(self, image_id: str) -> np.ndarray:
        return self.clean_source.load(image_id)

    def prefetch(self, image_ids: list[str]) -> None:
        for image_id in image_ids:
            self.load(image_id)

    def describe(self) -> dict:
        info = super().describe()
        info.update(suite="sweep", layout="generated", sweep={"spec": self.spec_name, **self.point.describe()},
                    seed=f"seed_from_string('{SEED_NAMESPACE}', '{self.name}', image_id)",
                    **self.clean_source.describe())
        if "jpeg" in self.point.operators:
            from abair.degradations import JPEG_CODEC

            info["jpeg_codec"] = JPEG_CODEC
        return info


def make_datasets(points: list[Point], source: CleanSource, spec_name: str) -> list[SweepDataset]:
    """One :class:`SweepDataset` per point (same clean images), in the spec's order."""
    out = []
    for point in points:
        ds = SweepDataset(name=point.name, task=TASK, default_protocol="allinone-rgb",
                          degradations=tuple(dict.fromkeys(point.operators)),
                          description=f"{len(source.ids)} clean images ({source.source}) degraded by "
                                      f"{' then '.join(s.name for s in point.steps)}")
        ds.point, ds.clean_source, ds.spec_name = point, source, spec_name
        out.append(ds)
    return out
