"""Seeded degradation operators and the CutMix compositor.

One operator per degradation class, in the class order used everywhere::

    rain, haze, noise, blur, lowlight, jpeg, bitdepth, snow

Each lives in its own module (``abair.degradations.<name>``) as
``op(image, generator=None, **params) -> image`` where ``image`` is a float tensor ``(3,H,W)`` or
``(N,3,H,W)`` in [0, 1] (float32 or float64, any device) and the result has the same shape, dtype
and device, clipped to [0, 1]. Severity parameters left ``None`` are drawn from the range
documented in the operator's module; for a batch each image gets its own draws, one after the other
from the generator. Randomness is drawn on the CPU in float64 and arithmetic runs in the input's
dtype, so a float64 input and a fixed seed give the same output bytes on every run and machine.

:func:`abair.degradations.cutmix.cutmix` (import it from that module) paints degraded boxes of an
image onto it and returns the per-pixel class map (Phase I pre-training). Importing this package is cheap: torch, Pillow and the
operator modules load on first use.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from abair.errors import unknown_name

if TYPE_CHECKING:  # pragma: no cover
    import torch

DEGRADATIONS: tuple[str, ...] = ("rain", "haze", "noise", "blur", "lowlight", "jpeg", "bitdepth", "snow")

__all__ = [
    "DEGRADATIONS",
    "JPEG_CODEC",
    "apply",
    "get_operator",
    "make_generator",
    "sample_severity",
    "seed_from_string",
]


def _module(name: str):
    if name not in DEGRADATIONS:
        raise unknown_name("degradation", name, DEGRADATIONS)
    return importlib.import_module(f"{__name__}.{name}")


def get_operator(name: str) -> Callable:
    """The operator function for degradation ``name``; UserError with a suggestion if unknown."""
    return getattr(_module(name), name)


def apply(name: str, image, generator=None, **params) -> torch.Tensor:
    """``get_operator(name)(image, generator, **params)``."""
    return get_operator(name)(image, generator, **params)


def make_generator(seed_or_generator) -> torch.Generator:
    """A CPU ``torch.Generator``: an int seeds a new one, a generator is returned as is, None -> seed 0."""
    from ._common import make_generator as _make

    return _make(seed_or_generator)


def seed_from_string(*parts: object) -> int:
    """A seed derived from ``parts``, stable across processes, machines and Python versions.

    The first 8 bytes (big-endian) of ``sha256("|".join(map(str, parts)))`` masked to 63 bits, so it
    is a valid non-negative ``torch.Generator.manual_seed`` argument.
    """
    digest = hashlib.sha256("|".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def sample_severity(name: str, generator) -> dict:
    """A full parameter dict for ``name`` drawn from its documented default ranges.

    ``apply(name, image, g, **sample_severity(name, g0))`` is then a fully specified degradation.
    """
    return _module(name).sample_params(make_generator(generator))


def __getattr__(attr: str):
    if attr == "JPEG_CODEC":
        from .jpeg import codec_name

        return codec_name()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
