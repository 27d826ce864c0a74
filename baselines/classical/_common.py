"""What every classical restorer shares: per-image numpy processing and option checking.

A :class:`ClassicalMethod` receives the harness batch (float tensor (N, 3, H, W) in [0, 1], in
practice the 8-bit degraded image divided by 255), converts each image with
:func:`abair.imageops.tensor_to_float_array` to a float64 HxWx3 array in [0, 1], calls
:meth:`ClassicalMethod.restore_array` and stacks the results back into a tensor of the input's
shape, dtype and device. Subclasses only implement ``restore_array`` on float64 HxWx3 arrays in
[0, 1] and list their parameters in ``self.params`` (stored in the run manifest by ``config()``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from abair.errors import UserError
from baselines.base import Method, RestoreContext

if TYPE_CHECKING:  # pragma: no cover
    import torch


class ClassicalMethod(Method):
    """Base class of the weight-free restorers (one image at a time, numpy float64)."""

    max_batch = 1
    task = "any"

    def __init__(self, **params: Any):
        self.params = dict(params)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.task, **self.params}

    def restore_array(self, image: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Restore one float64 HxWx3 image in [0, 1]; return float HxWx3 (clipped to [0, 1] by the caller)."""
        raise NotImplementedError

    def restore(self, batch: torch.Tensor, context: RestoreContext) -> torch.Tensor:
        import torch

        from abair.imageops import float_array_to_tensor, tensor_to_float_array

        if batch.ndim != 4 or batch.shape[1] != 3:
            raise ValueError(f"{self.name}: expected a float (N, 3, H, W) batch, got shape {tuple(batch.shape)}")
        out = []
        for image in batch:
            restored = self.restore_array(tensor_to_float_array(image))
            if restored.shape != (batch.shape[2], batch.shape[3], 3):
                raise AssertionError(f"{self.name} changed the image size: {restored.shape}")
            out.append(float_array_to_tensor(np.clip(restored, 0.0, 1.0)))
        return torch.stack(out).to(dtype=batch.dtype, device=batch.device)


def check_option(method: str, option: str, value: Any, low: float | None = None, high: float | None = None,
                 kind: type = float) -> Any:
    """Coerce ``value`` to ``kind`` and check ``low <= value <= high``; a one-line UserError otherwise."""
    try:
        coerced = kind(value)
        if kind is int and coerced != value:
            raise ValueError
    except (TypeError, ValueError):
        raise UserError(f"method '{method}': option {option}={value!r} must be {kind.__name__}") from None
    if (low is not None and coerced < low) or (high is not None and coerced > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise UserError(f"method '{method}': option {option}={value!r} is outside [{lo}, {hi}]")
    return coerced


def check_choice(method: str, option: str, value: Any, choices: tuple[str, ...]) -> str:
    """Check that ``value`` is one of ``choices``; a one-line UserError naming them otherwise."""
    if value not in choices:
        raise UserError(f"method '{method}': option {option}={value!r} must be one of {', '.join(choices)}")
    return value


# JPEG/JFIF full-range YCbCr (ITU-R BT.601 coefficients), on float images in [0, 1]: Y in [0, 1],
# Cb and Cr centred on 0.5. Used by the methods that treat luma and chroma differently.
_RGB_TO_YCBCR = np.array(
    [
        [0.299, 0.587, 0.114],
        [-0.168735892, -0.331264108, 0.5],
        [0.5, -0.418687589, -0.081312411],
    ]
)
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)


def rgb_to_ycbcr(image: np.ndarray) -> np.ndarray:
    """Float HxWx3 RGB in [0, 1] -> full-range YCbCr (JFIF), float, Y in [0, 1], Cb/Cr in [0, 1] around 0.5."""
    out = image @ _RGB_TO_YCBCR.T
    out[..., 1:] += 0.5
    return out


def ycbcr_to_rgb(image: np.ndarray) -> np.ndarray:
    """The exact inverse of :func:`rgb_to_ycbcr` (not clipped)."""
    shifted = image.copy()
    shifted[..., 1:] -= 0.5
    return shifted @ _YCBCR_TO_RGB.T


def luminance(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of a float HxWx3 RGB image in [0, 1] -> float HxW in [0, 1]."""
    return image @ _RGB_TO_YCBCR[0]
