"""The method interface every restorer implements (ABAIR variants, baselines, plug-ins).

A method receives a batch as a float tensor ``(N, 3, H, W)`` in [0, 1] on the run's device and
returns a float tensor of the same shape (values up to 0.5 outside [0, 1] are clipped by the harness;
further out, an integer tensor or anything but a tensor stops the run with one line). The harness
pads the input (reflect, at the bottom and right) to a multiple of ``multiple_of`` and crops the output back, so no method
does that itself. ``context`` tells the method which dataset/task/images it sees; only methods that
are allowed to know the task (e.g. ``abair-oracle``) may use ``context.task``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass(frozen=True)
class RestoreContext:
    """What the harness knows about the batch being restored."""

    dataset: str
    task: str
    image_ids: tuple[str, ...]
    degradations: tuple[str, ...] = ()


@dataclass
class MethodInfo:
    """Registry metadata shown by ``abair-bench methods list``."""

    name: str
    task: str  # "all-in-one", "denoise", ..., or "any"
    needs: str  # "none", "weights", "checkpoint (default shipped)", ...
    summary: str
    extra: dict[str, Any] = field(default_factory=dict)


class Method:
    """Base class. Subclasses set ``name`` and implement :meth:`restore`.

    Attributes:
        name: the registry name (recorded with every result).
        multiple_of: the harness pads H and W up to a multiple of this before :meth:`restore`.
        max_batch: the largest batch the method accepts (1 for size-varying classical methods).
        tileable: whether ``--tile`` may cut images into tiles for it (False for precomputed outputs).
    """

    name: str = "method"
    multiple_of: int = 1
    max_batch: int = 1
    tileable: bool = True

    def config(self) -> dict[str, Any]:
        """A JSON-serialisable description of everything that changes the output (stored per run)."""
        return {"name": self.name}

    def to(self, device: str) -> Method:
        """Move weights to ``device`` ("cpu", "cuda", "cuda:1"); no-op for weight-free methods."""
        return self

    def check(self, dataset: str, image_ids: list[str] | tuple[str, ...]) -> None:
        """Called by the harness once per dataset, before any image is restored or scored.

        Raise :class:`abair.errors.UserError` if the method cannot serve these images (e.g. a folder
        of precomputed outputs with missing or extra files). The default accepts everything.
        """
        return None

    def skip_reason(self, dataset) -> str | None:
        """Why this method cannot score ``dataset`` at all (e.g. an oracle without that task's adapter).

        ``dataset`` is a :class:`bench.datasets.base.Dataset` (``name``, ``task``, ``degradations``).
        The runner skips the pair (method, dataset), says so on stderr and records the reason in the
        manifest; None (the default) means the method runs.
        """
        return None

    def restore(self, batch: torch.Tensor, context: RestoreContext) -> torch.Tensor:  # pragma: no cover
        """Restore a float (N, 3, H, W) batch in [0, 1]; return the same shape."""
        raise NotImplementedError
