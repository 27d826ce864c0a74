"""Real test sets as :class:`bench.datasets.base.Dataset` objects.

``make(name, options)`` (the registry factory) finds the set (:mod:`.scan`), refuses a broken or
partial one with one readable line unless ``options.allow_partial``, and returns a
:class:`RealDataset` whose pairs are read lazily, one image at a time. Pairs are uint8 HxWx3 RGB.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from abair.errors import UserError
from bench.datasets.base import Dataset, Pair

from .scan import FilePair, Scan, broken_set_error, scan_set
from .table import SETS, SetSpec

NOISE_SEEDINGS = ("per-image", "promptir")


@dataclass
class RealDataset(Dataset):
    """A set read from files; ``scan`` holds the pairing and ``spec`` the table row."""

    scan: Scan | None = field(default=None, repr=False)
    spec: SetSpec | None = field(default=None, repr=False)
    noise_seeding: str = "per-image"

    def __post_init__(self):
        self._by_id: dict[str, FilePair] = {p.image_id: p for p in self.scan.pairs}

    # --- the Dataset interface ----------------------------------------------------------------
    def image_ids(self) -> list[str]:
        """Ids in natural order of the file names (``rain-2`` before ``rain-10``)."""
        return [p.image_id for p in self.scan.pairs]

    def load(self, image_id: str) -> Pair:
        try:
            fp = self._by_id[image_id]
        except KeyError:
            raise UserError(f"{self.name}: no image '{image_id}'") from None
        clean = self._read(fp.clean)
        if fp.degraded is not None:
            degraded = self._read(fp.degraded)
            if degraded.shape != clean.shape:
                raise UserError(
                    f"{self.name}: {self.scan.rel(fp.degraded)} is {degraded.shape[1]}x{degraded.shape[0]} but its "
                    f"clean partner {self.scan.rel(fp.clean)} is {clean.shape[1]}x{clean.shape[0]}; fix the files "
                    f"(see 'abair-bench datasets check {self.name}')"
                )
            if self.spec.recipe:
                from .testtime import apply_operators

                degraded = apply_operators(degraded, self.name, image_id, self.spec.recipe)
        else:
            clean, degraded = self._testtime(fp, image_id, clean)
        return Pair(self.name, self.task, image_id, degraded, clean)

    def _read(self, path) -> np.ndarray:
        from .images import read_image

        return read_image(path, self.name, self.scan.rel(path))

    def _testtime(self, fp: FilePair, image_id: str, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from . import testtime

        kind, params = self.spec.testtime
        if kind == "noise":
            if self._promptir is not None:
                clean = testtime.crop_multiple(clean)
                return clean, self._promptir.noisy(image_id, clean)
            return clean, testtime.per_image_noise(clean, self.name, image_id, params["sigma"])
        if kind == "jpeg":
            from .images import is_grey

            return clean, testtime.jpeg_roundtrip(clean, params["quality"], grey=is_grey(fp.clean))
        if kind == "bitdepth":
            return clean, testtime.apply_operators(clean, self.name, image_id, [("bitdepth", params)])
        raise AssertionError(f"unknown test-time degradation {kind}")

    @cached_property
    def _promptir(self):
        if self.spec.testtime is None or self.spec.testtime[0] != "noise" or self.noise_seeding != "promptir":
            return None
        from .testtime import PromptIRNoise, listdir_images

        by_path = {p.clean: p.image_id for p in self.scan.pairs}
        files = [(by_path[self.scan.folder / n], self.scan.folder / n)
                 for n in listdir_images(self.scan.folder) if self.scan.folder / n in by_path]
        return PromptIRNoise(files, int(self.spec.testtime[1]["sigma"]))

    # --- the manifest entry -------------------------------------------------------------------
    @cached_property
    def files_sha256(self) -> str:
        """SHA-256 over (image id, relative path, file SHA-256) of every file scored, in id order."""
        h = hashlib.sha256()
        for image_id in self.image_ids():
            fp = self._by_id[image_id]
            for path in (fp.degraded, fp.clean):
                if path is None:
                    continue
                h.update(f"{image_id}\0{self.scan.rel(path)}\0{_file_sha256(path)}\n".encode())
        return h.hexdigest()

    def recipe(self) -> dict:
        """How the degraded images are made (empty for sets stored as pairs)."""
        spec = self.spec
        if spec.testtime:
            kind, params = spec.testtime
            if kind == "noise":
                out = {"operator": "gaussian-noise", "sigma": params["sigma"], "noise_seeding": self.noise_seeding,
                       "quantisation": "np.clip(clean + noise * sigma, 0, 255).astype(np.uint8) (truncating)"}
                if self.noise_seeding == "promptir":
                    out.update(seed="np.random.seed(0); sigma 15, 25, 50 in turn; randn(*crop.shape) per file",
                               order=[image_id for image_id, _ in self._promptir.files],
                               crop="centre crop to a multiple of 16 (PromptIR crop_img) before the noise")
                else:
                    out["seed"] = (f"np.random.default_rng(seed_from_string('{self.name}', image_id, "
                                   f"'noise-s{params['sigma']:g}')).standard_normal(clean.shape)")
                return out
            if kind == "jpeg":
                from .testtime import jpeg_codec

                return {"operator": "jpeg", "quality": params["quality"], "jpeg_codec": jpeg_codec(params["quality"])}
            return {"operator": kind, "params": params,
                    "seed": f"seed_from_string('{self.name}', image_id, '{kind}')", "arithmetic": "float64"}
        if spec.recipe:
            return {
                "source": spec.family,
                "steps": [{"operator": op, "params": p, "seed": f"seed_from_string('{self.name}', image_id, '{op}')"}
                          for op, p in spec.recipe],
                "arithmetic": "float64, clip, round half to even to uint8 at the end",
            }
        return {}

    def describe(self) -> dict:
        recipe = self.recipe()
        info = {
            "task": self.task,
            "degradations": list(self.degradations),
            "default_protocol": self.default_protocol,
            "layout": self.scan.layout.name,
            "rule": self.scan.layout.rule.describe,
            "root": str(self.scan.folder),
            "count": len(self.image_ids()),
            "expected": self.spec.count,
            "missing": self.scan.missing,
            "files_sha256": self.files_sha256,
        }
        first = self.scan.pairs[0]
        info["example_pair"] = {
            "image_id": first.image_id,
            "degraded": self.scan.rel(first.degraded) if first.degraded else None,
            "clean": self.scan.rel(first.clean),
        }
        if self.scan.problems:
            info["problems"] = [p.line() for p in self.scan.problems]
        if recipe:
            info["recipe"] = recipe
            if "jpeg_codec" in recipe:
                info["jpeg_codec"] = recipe["jpeg_codec"]
            if self.spec.testtime and self.spec.testtime[0] == "noise":
                info["noise_seeding"] = self.noise_seeding
            if any(op == "jpeg" for op, _ in self.spec.recipe):
                from abair.degradations import JPEG_CODEC

                info["jpeg_codec"] = JPEG_CODEC
        # the data scored: the files plus how the degraded images are made from them
        blob = json.dumps({"files": self.files_sha256, "recipe": recipe}, sort_keys=True, default=str)
        info["sha256"] = hashlib.sha256(blob.encode()).hexdigest()
        return info


def _file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make(name: str, options=None) -> RealDataset:
    """Registry factory: find, pair and validate the set ``name`` (see :mod:`.table`)."""
    from bench.datasets import DatasetOptions

    options = options or DatasetOptions()
    spec = SETS[name]
    if not spec.is_test:
        from . import not_a_test_set

        raise UserError(not_a_test_set(name))
    seeding = getattr(options, "noise_seeding", "per-image") or "per-image"
    if seeding not in NOISE_SEEDINGS:
        raise UserError(f"unknown noise seeding '{seeding}'; choose {' or '.join(NOISE_SEEDINGS)}")
    scan = scan_set(spec, options)
    if scan.problems and not options.allow_partial:
        raise broken_set_error(scan)
    if not scan.pairs:
        raise UserError(f"{name}: no pairs found under {scan.folder} (layout {scan.layout.name}, "
                        f"rule '{scan.layout.rule.describe}')")
    return RealDataset(
        name=name,
        task=spec.task,
        default_protocol=spec.protocol,
        degradations=spec.degradations,
        description=spec.summary,
        scan=scan,
        spec=spec,
        noise_seeding=seeding,
    )
