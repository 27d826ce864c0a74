"""Pad a batch to a method's size requirement and crop the result back (one place, for every method)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_to_multiple(batch: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad a float (N, C, H, W) batch on the bottom/right so H and W are multiples of ``multiple``.

    Falls back to replicate padding when the image is too small for reflection.
    """
    h, w = batch.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return batch
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(batch, (0, pw, 0, ph), mode=mode)


def restore_padded(method, batch: torch.Tensor, context) -> torch.Tensor:
    """Run ``method.restore`` on ``batch`` padded to ``method.multiple_of``; crop to the input size."""
    h, w = batch.shape[-2:]
    out = method.restore(pad_to_multiple(batch, max(1, int(getattr(method, "multiple_of", 1)))), context)
    if out.shape[:2] != batch.shape[:2] or out.shape[-2] < h or out.shape[-1] < w:
        from abair.errors import UserError

        raise UserError(
            f"method '{method.name}' returned shape {tuple(out.shape)} for input {tuple(batch.shape)}; "
            "a method must return one restored image per input, at the input size"
        )
    return out[..., :h, :w]
