"""What a training run reads: the clean images and the per-degradation training sets.

:class:`TrainData` is handed to the phases (:mod:`abair.train.phases`). It holds *sources*
(:mod:`abair.train.sources`), never decoded images, so it is cheap to build, to pickle into worker
processes and to keep for a whole run:

- ``clean``: the clean images of Phase I, of the synthetic Phase-II adapters and of Phase III
  (None: the embedded train pool);
- ``tasks``: per degradation, a :class:`~abair.train.sources.PairSource` of real (degraded, clean)
  training pairs (that adapter, and Phase I ``task-only``, train on crops of them) or an
  :class:`~abair.train.sources.ImageSource` of clean images that the degradation is synthesised on
  (e.g. BSD400 + WED for noise).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .sources import ImageSource, PairSource


@dataclass
class TrainData:
    clean: ImageSource | None = None
    tasks: dict[str, PairSource | ImageSource] = field(default_factory=dict)

    def pairs(self) -> dict[str, PairSource]:
        """The degradations trained on real pairs, with their pairs."""
        return {k: v for k, v in self.tasks.items() if isinstance(v, PairSource)}

    def adapter_inputs(self, name: str) -> tuple[ImageSource | None, PairSource | None]:
        """``(clean source, pairs)`` of adapter ``name``: its real pairs, or the clean images its
        degradation is synthesised on (its own clean-only set, else the run's clean images)."""
        task = self.tasks.get(name)
        if isinstance(task, PairSource):
            return None, task
        return (task if task is not None else self.clean), None
