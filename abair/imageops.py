"""The one place where images change representation.

Conventions used across the project:

- *array image*: ``numpy.ndarray`` of shape ``(H, W, 3)``, dtype ``uint8`` in 0..255 (files, pairs,
  exported PNGs) or float in [0, 1] (metrics).
- *tensor image*: ``torch.Tensor`` of shape ``(N, 3, H, W)`` (batch) or ``(3, H, W)`` (single),
  float in [0, 1] (models, degradation operators).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch


def uint8_to_tensor(image: np.ndarray, dtype=None) -> torch.Tensor:
    """uint8 HxWx3 (0..255) -> float tensor 3xHxW in [0, 1] (float32 unless ``dtype`` is given)."""
    import torch

    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 array, got dtype={image.dtype} shape={image.shape}")
    t = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    return t.to(dtype or torch.float32) / 255.0


def tensor_to_uint8(image: torch.Tensor) -> np.ndarray:
    """Float tensor 3xHxW (or 1x3xHxW) in [0, 1] -> uint8 HxWx3, clipped and rounded half-to-even."""
    if image.ndim == 4:
        if image.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {image.shape[0]}")
        image = image[0]
    arr = image.detach().to("cpu").double().clamp(0.0, 1.0).numpy().transpose(1, 2, 0)
    return np.round(arr * 255.0).astype(np.uint8)


def tensor_to_float_array(image: torch.Tensor) -> np.ndarray:
    """Float tensor 3xHxW (or 1x3xHxW) -> float64 HxWx3 in [0, 1], clipped, not rounded."""
    if image.ndim == 4:
        image = image[0]
    return image.detach().to("cpu").double().clamp(0.0, 1.0).numpy().transpose(1, 2, 0)


def float_array_to_tensor(image: np.ndarray) -> torch.Tensor:
    """Float HxWx3 array in [0, 1] -> float tensor 3xHxW (same dtype), the inverse of
    :func:`tensor_to_float_array`; not clipped."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


def centre_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop an HxWxC array to ``height`` x ``width`` (offsets rounded down)."""
    h, w = image.shape[:2]
    if height > h or width > w:
        raise ValueError(f"cannot crop {h}x{w} to {height}x{width}")
    top, left = (h - height) // 2, (w - width) // 2
    return image[top : top + height, left : left + width]


def crop_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """Centre-crop an HxWxC array so both sides are multiples of ``multiple``."""
    h, w = image.shape[:2]
    return centre_crop(image, h - h % multiple, w - w % multiple)
