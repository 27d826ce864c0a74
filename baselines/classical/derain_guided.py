"""``derain-guided``: rain-streak removal by oriented morphology and the guided filter.

Assumes rain is a layer of thin (a few px wide), long, near-white streaks that share one direction,
composited over the scene by the screen blend ``I = 1 - (1 - J)(1 - a)`` (a white layer of opacity
``a``); see :mod:`.layers`. Steps, on float images in [0, 1]:

1. streak direction: the achromatic white top-hat ``min_c (I_c - opening_5x5(I_c))`` holds the thin
   bright structures; the angle in [-45, 45] degrees from vertical (5 degree steps) whose line
   opening (``length`` px) keeps most of it is the rain direction;
2. background ``B``: each channel opened with a line of ``width`` px *across* the streaks, which
   removes anything narrower than that across the rain direction;
3. opacity ``a = min_c (I_c - B_c) / (1 - B_c)`` (achromatic: coloured highlights stay), then
   opened with a line of ``length`` px *along* the rain direction so that only long streak-shaped
   parts remain;
4. guided-filter refinement of ``a`` (guide: the raw opacity, radius 2), which restores the soft
   cross-profile and tapered ends of the streaks that the line opening squares off;
5. ``J = 1 - (1 - I) / (1 - strength * a)``.
"""

from __future__ import annotations

import numpy as np

from ._common import ClassicalMethod, check_option
from .filters import guided_filter
from .layers import layer_opacity, line_footprint, opening, remove_layer

ANGLES = tuple(range(-45, 50, 5))


def streak_angle(image: np.ndarray, length: int) -> float:
    """Dominant bright-streak direction in degrees from vertical (the best of -45..45 in 5 degree steps)."""
    tophat = (image - opening(image, np.ones((5, 5), dtype=bool))).min(axis=2)
    scores = [opening(tophat, line_footprint(length, angle)).sum() for angle in ANGLES]
    return float(ANGLES[int(np.argmax(scores))])


class DerainGuided(ClassicalMethod):
    name = "derain-guided"
    task = "derain"

    def restore_array(self, image: np.ndarray) -> np.ndarray:
        p = self.params
        angle = streak_angle(image, p["length"]) if p["angle"] is None else p["angle"]
        background = opening(image, line_footprint(p["width"], angle + 90.0))
        raw = layer_opacity(image, background, 1.0)
        streaks = opening(raw, line_footprint(p["length"], angle))
        refined = np.clip(guided_filter(raw, streaks, 2, p["eps"]), 0.0, 0.98)
        return remove_layer(image, p["strength"] * refined, 1.0)


def make(angle: float | None = None, width: int = 7, length: int = 11, strength: float = 1.0,
         eps: float = 1e-3) -> DerainGuided:
    """Options: ``angle`` rain direction in degrees from vertical (None: estimated), ``width`` (px) of the
    across-streak opening, ``length`` (px) of the along-streak opening, ``strength`` of the removal (0..1),
    ``eps`` of the guided filter."""
    m = "derain-guided"
    return DerainGuided(
        angle=None if angle is None else check_option(m, "angle", angle, -90, 90),
        width=check_option(m, "width", width, 3, 31, int),
        length=check_option(m, "length", length, 3, 61, int),
        strength=check_option(m, "strength", strength, 0.0, 1.0),
        eps=check_option(m, "eps", eps, 1e-6, 1.0),
    )
