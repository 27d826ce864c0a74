"""The degradation estimator: a small CNN that scores each adapter from native-scale windows of the input.

Input: float (N, 3, H, W) in [0, 1], any size. Output: logits (N, K), one per adapter, in the model's
adapter order.

What it sees at test time is what Phase III trained it on: ``window x window`` crops at the image's own
scale (``window`` is Phase III's crop, 128 px in every shipped recipe), each resized to ``input_size``
when the two differ. An image of exactly one window is scored as it is. A larger image is scored on a
deterministic grid of windows (``view="crops"``: at most ``max_crops``, spread evenly from corner to
corner, covering the image when ``max_crops`` allows) whose probabilities are averaged; the returned
logits are those of the averaged probabilities (log of the mean for softmax, its logit for sigmoid),
so :meth:`DegradationEstimator.probabilities` gives the mean. An image smaller than a window is
reflect-padded to one. ``view="resize"`` is the older behaviour (the whole image resized to
``input_size``): a 2.5-10x downscale of the paper's test images, in which noise and rain streaks
vanish (docs/MODEL.md has the measurement). The cost of ``crops`` is at most ``max_crops`` windows
per image, whatever its size.

Softmax or sigmoid (``activation``):

- ``softmax`` (default) turns the logits into blending weights that are non-negative and *sum to
  one*. The blended update ``sum_k w_k dW_k`` then stays on the scale of a single adapter, which is
  what the adapters were trained for; the paper's Table 8 shows that plain summing of the adapters
  (weights summing to K) is worse than the estimator's weighting. A mixture (say blur + noise) is
  represented by splitting the mass between the classes present; Phase III trains it with soft
  targets (the area fraction of each degradation). Arg-max of the same vector gives OH.
- ``sigmoid`` scores each degradation independently (a multi-label view: "is there rain?", "is
  there haze?"). It models co-occurrence directly but lets the total weight exceed 1 (two confident
  classes give weight ~2), i.e. the over-shoot of the ``sum`` blending; use it when the adapters
  were trained to compose additively.

The paper says only that the estimator predicts "the probability of each degradation"; softmax is
our documented choice, configurable per checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = ("softmax", "sigmoid")
VIEWS = ("crops", "resize")


@dataclass(frozen=True)
class EstimatorConfig:
    """``widths``: channels of the stride-2 stages; ``depth``: 3x3 convs per stage (the first strided).

    ``view``: how an image larger than one window is seen (``crops`` or ``resize``, see the module
    doc); ``window``: the side in pixels of a native-scale window (Phase III's crop; ``None``: the
    same as ``input_size``); ``max_crops``: the most windows scored per image (``crops``).
    A checkpoint written before these fields existed loads with these defaults.
    """

    input_size: int = 128
    widths: tuple[int, ...] = (32, 64, 128, 256)
    depth: int = 2
    activation: str = "softmax"
    view: str = "crops"
    window: int | None = None
    max_crops: int = 16

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown estimator activation '{self.activation}'; valid: softmax, sigmoid")
        if self.view not in VIEWS:
            raise ValueError(f"unknown estimator view '{self.view}'; valid: {', '.join(VIEWS)}")
        if isinstance(self.max_crops, bool) or not isinstance(self.max_crops, int) or self.max_crops < 1:
            raise ValueError(f"estimator max_crops must be a positive number of windows, got {self.max_crops!r}")
        if self.window is not None and (isinstance(self.window, bool) or not isinstance(self.window, int)
                                        or self.window < 8):
            raise ValueError(f"estimator window must be a size in pixels >= 8, got {self.window!r}")

    @property
    def window_size(self) -> int:
        """The side of a native-scale window in pixels."""
        return self.window or self.input_size

    def to_json(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict) -> EstimatorConfig:
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})


class DegradationEstimator(nn.Module):
    """Resize -> per stage: 3x3 conv stride 2, then ``depth - 1`` 3x3 convs, each followed by GELU ->
    global average pool -> linear to K logits. No normalisation layers (batch-size independent)."""

    def __init__(self, cfg: EstimatorConfig, num_outputs: int):
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        c_in = 3
        for width in cfg.widths:
            layers += [nn.Conv2d(c_in, width, 3, stride=2, padding=1), nn.GELU()]
            for _ in range(cfg.depth - 1):
                layers += [nn.Conv2d(width, width, 3, padding=1), nn.GELU()]
            c_in = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, num_outputs)

    @property
    def num_outputs(self) -> int:
        return self.head.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float (N, 3, H, W) in [0, 1] -> logits (N, K) (of the windows' mean probabilities)."""
        w = self.cfg.window_size
        if self.cfg.view == "resize" or x.shape[-2:] == (w, w):
            return self._score(x)
        boxes = window_boxes(x.shape[-2], x.shape[-1], w, self.cfg.max_crops)
        x = _pad_to(x, w)
        crops = torch.stack([x[..., top:top + w, left:left + w] for top, left in boxes], dim=1)  # (N, V, 3, w, w)
        logits = self._score(crops.flatten(0, 1)).unflatten(0, crops.shape[:2])  # (N, V, K)
        mean = self.probabilities(logits.flatten(0, 1)).unflatten(0, crops.shape[:2]).mean(dim=1)
        mean = mean.clamp_min(torch.finfo(mean.dtype).tiny)
        return mean.log() if self.cfg.activation == "softmax" else torch.logit(mean.clamp_max(1 - 1e-7))

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        """Windows (N, 3, h, w) -> logits (N, K): resized to ``input_size`` when they are not that size."""
        s = self.cfg.input_size
        if x.shape[-2:] != (s, s):
            # antialiased resizing has no CPU kernel in half types: resize in float32, cast back
            x = F.interpolate(x.float(), size=(s, s), mode="bilinear", align_corners=False, antialias=True).to(x.dtype)
        return self.head(self.features(x * 2.0 - 1.0).mean(dim=(2, 3)))

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits (N, K) -> weights (N, K): softmax over K, or independent sigmoids (see module doc)."""
        if self.cfg.activation == "softmax":
            return torch.softmax(logits, dim=1)
        return torch.sigmoid(logits)


def window_boxes(height: int, width: int, window: int, max_crops: int) -> list[tuple[int, int]]:
    """Top-left corners ``(top, left)`` of the windows scored on a ``height x width`` image (after
    reflect-padding a side shorter than ``window`` up to it), in row-major order.

    A full-coverage grid has ``ceil(H / window) x ceil(W / window)`` windows; when that exceeds
    ``max_crops`` both counts shrink by the same factor (at least one each). Rows and columns are spread
    evenly from one edge to the other (the first window touches the top/left edge, the last the
    bottom/right one; a single row or column is centred). Deterministic: a function of the sizes only.
    """
    import math

    height, width = max(height, window), max(width, window)
    rows, cols = math.ceil(height / window), math.ceil(width / window)
    if rows * cols > max_crops:
        scale = math.sqrt(max_crops / (rows * cols))
        rows, cols = max(1, math.floor(rows * scale)), max(1, math.floor(cols * scale))
        while rows * cols > max_crops:  # flooring both at least one: only when one side is 1
            rows, cols = (rows - 1, cols) if rows > cols else (rows, cols - 1)

    def spread(size: int, n: int) -> list[int]:
        if n == 1:
            return [(size - window) // 2]
        return [round(i * (size - window) / (n - 1)) for i in range(n)]

    return [(top, left) for top in spread(height, rows) for left in spread(width, cols)]


def _pad_to(x: torch.Tensor, window: int) -> torch.Tensor:
    """Reflect-pad (replicate where the image is too small to reflect) so both sides are >= ``window``."""
    dh, dw = max(0, window - x.shape[-2]), max(0, window - x.shape[-1])
    if not dh and not dw:
        return x
    pad = (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)
    mode = "reflect" if dh < x.shape[-2] and dw < x.shape[-1] else "replicate"
    return F.pad(x, pad, mode=mode)
