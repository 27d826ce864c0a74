"""The degradation estimator: a small CNN that reads a downscaled copy of the input and scores
each adapter.

Input: float (N, 3, H, W) in [0, 1], any size. It is resized bilinearly (with antialiasing) to
``input_size x input_size`` first, so its cost does not depend on the image size. Output: logits
(N, K), one per adapter, in the model's adapter order.

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


@dataclass(frozen=True)
class EstimatorConfig:
    """``widths``: channels of the stride-2 stages; ``depth``: 3x3 convs per stage (the first strided)."""

    input_size: int = 128
    widths: tuple[int, ...] = (32, 64, 128, 256)
    depth: int = 2
    activation: str = "softmax"

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown estimator activation '{self.activation}'; valid: softmax, sigmoid")

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
        """x: float (N, 3, H, W) in [0, 1] -> logits (N, K)."""
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
