"""Phase-I auxiliary segmentation head: per-pixel degradation logits from decoder features.

Input: the backbone's full-resolution decoder features (N, 2C, H, W). Output: logits
(N, num_classes, H, W) over the model's ``seg_labels``: by default ``("clean",) + class_order``, so
index 0 is an undegraded pixel and index ``1 + k`` the k-th degradation class. Trained with
cross-entropy against the CutMix label map; it is used only in Phase I, it is not part of the
inference graph, and checkpoints leave it out unless asked (``include_seghead=True``).
"""

from __future__ import annotations

import torch
from torch import nn


class SegmentationHead(nn.Module):
    """3x3 conv -> GELU -> 1x1 conv to class logits, at full resolution."""

    def __init__(self, in_dim: int, num_classes: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or max(in_dim // 2, 16)
        self.num_classes = num_classes
        self.net = nn.Sequential(
            nn.Conv2d(in_dim, hidden, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(hidden, num_classes, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features (N, in_dim, H, W) -> logits (N, num_classes, H, W)."""
        return self.net(features)
