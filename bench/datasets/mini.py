"""The embedded ``mini`` suite: 13 test sets made from images that ship inside installed packages.

Clean tiles: every 128x128 tile of a centred grid over the three *test-pool* images
(``astronaut`` 16 tiles, ``coffee`` 12, ``chelsea`` 6: 34 tiles; see
:mod:`abair.data.sample_images`, whose train pool never overlaps them). Every set uses the same 34
clean tiles, as the paper's BSD68 sigma 15/25/50 sets share their clean images.

Degraded tiles: clean uint8 -> float64 in [0, 1] -> the recipe's operators in order (severities
not fixed by the recipe are drawn from each operator's documented range) -> clip -> round to uint8.
Each image's generator is seeded by ``seed_from_string("mini", dataset, image_id)``, so any single
image can be regenerated alone, and all arithmetic is float64 so the PNG bytes are identical across
runs and machines (the set hashes in the manifest and in ``tests/test_mini_suite.py`` check it).

The suite is built on the fly in memory (a few seconds) and never downloads anything.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from .base import Dataset, Pair

SUITE = "mini"
TILE = 128
SEED_NAMESPACE = "mini"

# name -> (task, degradation classes present, [(operator, fixed parameters), ...] applied in order)
RECIPES: dict[str, tuple[str, tuple[str, ...], list[tuple[str, dict]]]] = {
    "mini-derain": ("derain", ("rain",), [("rain", {})]),
    "mini-dehaze": ("dehaze", ("haze",), [("haze", {})]),
    "mini-denoise-s15": ("denoise", ("noise",), [("noise", {"sigma": 15.0})]),
    "mini-denoise-s25": ("denoise", ("noise",), [("noise", {"sigma": 25.0})]),
    "mini-denoise-s50": ("denoise", ("noise",), [("noise", {"sigma": 50.0})]),
    "mini-deblur": ("deblur", ("blur",), [("blur", {"kind": "motion"})]),
    "mini-lowlight": ("lowlight", ("lowlight",), [("lowlight", {})]),
    "mini-jpeg-q20": ("jpeg", ("jpeg",), [("jpeg", {"quality": 20})]),
    "mini-4to8bit": ("bitdepth", ("bitdepth",), [("bitdepth", {"bits": 4})]),
    "mini-desnow": ("desnow", ("snow",), [("snow", {})]),
    "mini-blur+noise": ("mixed", ("blur", "noise"), [("blur", {"kind": "motion"}), ("noise", {"sigma": 25.0})]),
    "mini-blur+jpeg": ("mixed", ("blur", "jpeg"), [("blur", {"kind": "motion"}), ("jpeg", {"quality": 20})]),
    "mini-haze+snow": ("mixed", ("haze", "snow"), [("haze", {}), ("snow", {})]),
}


def clean_tiles() -> dict[str, np.ndarray]:
    """Every clean test tile, ``{image_id: uint8 128x128x3}``, in a fixed order."""
    from abair.data.sample_images import TEST_POOL, grid_tiles, load_source

    tiles = {}
    for source in TEST_POOL:
        image = load_source(source)
        for tile_id, (top, left, h, w) in grid_tiles(source, TILE):
            tiles[tile_id] = image[top : top + h, left : left + w]
    return tiles


def degrade(dataset: str, image_id: str, clean: np.ndarray) -> np.ndarray:
    """Apply ``dataset``'s recipe to one clean uint8 tile; returns the degraded uint8 tile."""
    import torch

    from abair.degradations import apply, make_generator, seed_from_string
    from abair.imageops import tensor_to_uint8, uint8_to_tensor

    generator = make_generator(seed_from_string(SEED_NAMESPACE, dataset, image_id))
    x = uint8_to_tensor(clean, dtype=torch.float64)
    for operator, params in RECIPES[dataset][2]:
        x = apply(operator, x, generator, **params)
    return tensor_to_uint8(x)


class MiniDataset(Dataset):
    """One of the 13 embedded sets; each degraded tile is generated deterministically on its first load."""

    def image_ids(self) -> list[str]:
        return list(self._tiles)

    @cached_property
    def _tiles(self) -> dict[str, np.ndarray]:
        return clean_tiles()

    @cached_property
    def _degraded(self) -> dict[str, np.ndarray]:
        return {}  # filled per image on first load: a rank of a sharded run makes only its own images

    def load(self, image_id: str) -> Pair:
        clean = self._tiles[image_id]
        degraded = self._degraded.get(image_id)
        if degraded is None:
            degraded = self._degraded[image_id] = degrade(self.name, image_id, clean)
        return Pair(self.name, self.task, image_id, degraded, clean)

    def load_clean(self, image_id: str) -> np.ndarray:
        return self._tiles[image_id]

    def prefetch(self, image_ids: list[str]) -> None:
        for image_id in image_ids:
            self.load(image_id)

    def describe(self) -> dict:
        from abair.data.sample_images import TEST_POOL, source_package, source_sha256
        from abair.degradations import JPEG_CODEC

        info = super().describe()
        info.update(
            suite=SUITE,
            layout="embedded",
            recipe=[{"operator": op, "params": params} for op, params in RECIPES[self.name][2]],
            seed=f"seed_from_string('{SEED_NAMESPACE}', '{self.name}', image_id)",
            sources={s: {"package": source_package(s), "sha256": source_sha256(s)} for s in TEST_POOL},
            tile=TILE,
        )
        if any(op == "jpeg" for op, _ in RECIPES[self.name][2]):
            info["jpeg_codec"] = JPEG_CODEC
        return info


def make(name: str, options=None) -> MiniDataset:
    task, degradations, recipe = RECIPES[name]
    steps = " then ".join(f"{op}{params or ''}" for op, params in recipe)
    return MiniDataset(
        name=name,
        task=task,
        default_protocol="allinone-rgb",
        degradations=degradations,
        description=f"34 tiles 128x128 (astronaut, coffee, chelsea) degraded by {steps}",
    )


def register(registry, register_suite) -> None:
    for name, (task, _degs, _recipe) in RECIPES.items():
        registry.register(name, "bench.datasets.mini:make", task=task, count=34, protocol="allinone-rgb", suite=SUITE)
    register_suite(SUITE, list(RECIPES))
