"""What every test set looks like to the runner.

A :class:`Pair` is one degraded/clean image pair. A :class:`Dataset` is an ordered, named
collection of pairs with a task label, a default metric protocol and a description that goes into
the run manifest (layout or recipe, count, content hash).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Pair:
    """One test pair.

    ``degraded`` and ``clean`` are uint8 arrays of shape (H, W, 3), values 0..255, RGB.
    """

    dataset: str
    task: str
    image_id: str
    degraded: np.ndarray
    clean: np.ndarray

    def __post_init__(self):
        for name in ("degraded", "clean"):
            arr = getattr(self, name)
            if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
                raise ValueError(
                    f"{self.dataset}/{self.image_id}: {name} must be uint8 HxWx3, got {arr.dtype} {arr.shape}"
                )
        if self.degraded.shape != self.clean.shape:
            raise ValueError(
                f"{self.dataset}/{self.image_id}: degraded {self.degraded.shape[:2]} and clean "
                f"{self.clean.shape[:2]} differ in size"
            )


@dataclass
class Dataset:
    """Base class of a test set. Subclasses implement :meth:`image_ids` and :meth:`load`.

    ``task`` is one of the task names in :data:`bench.datasets.tasks.TASKS` (``derain``, ``denoise``,
    ``mixed``...); ``degradations`` lists the degradation classes present (the oracle adapter(s)).
    """

    name: str
    task: str
    default_protocol: str = "allinone-rgb"
    degradations: tuple[str, ...] = ()
    description: str = ""
    meta: dict = field(default_factory=dict)

    def image_ids(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def load(self, image_id: str) -> Pair:  # pragma: no cover - abstract
        raise NotImplementedError

    def prefetch(self, image_ids: list[str]) -> None:
        """Prepare these images ahead of :meth:`load` where that saves later work (sets made in
        memory keep them); files are read when loaded, so the default does nothing."""

    def load_clean(self, image_id: str) -> np.ndarray:
        """The ground truth alone (uint8 HxWx3); sets that can skip reading or making the degraded
        image override it."""
        return self.load(image_id).clean

    def __len__(self) -> int:
        return len(self.image_ids())

    def __iter__(self) -> Iterator[Pair]:
        for image_id in self.image_ids():
            yield self.load(image_id)

    def content_hash(self) -> str:
        """SHA-256 over (image_id, degraded bytes, clean bytes, shapes) of every pair, in id order."""
        h = hashlib.sha256()
        for pair in self:
            h.update(pair.image_id.encode())
            h.update(repr(pair.degraded.shape).encode())
            h.update(pair.degraded.tobytes())
            h.update(pair.clean.tobytes())
        return h.hexdigest()

    def describe(self) -> dict:
        """The manifest entry of this set: task, count, content hash and whatever ``meta`` holds."""
        return {
            "task": self.task,
            "degradations": list(self.degradations),
            "default_protocol": self.default_protocol,
            "count": len(self),
            "sha256": self.content_hash(),
            **self.meta,
        }
