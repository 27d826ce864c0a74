"""Haze by the atmospheric scattering model ``I = J t + A (1 - t)``, ``t = exp(-beta d)``.

``J`` is the clean image, ``A`` the airlight (scalar or one value per RGB channel) and ``d`` a
relative depth map in [0, 1] (0 = nearest, 1 = farthest). Unless a ``depth`` is passed, each image
gets a synthetic one from :func:`synthetic_depth`: a vertical gradient (far at the top, near at the
bottom) blended with a smooth random field of a few low-frequency cosines, rescaled to [0, 1].

Parameters (default range when left ``None``, drawn in this order):

- ``beta``: scattering coefficient per unit of relative depth, U(0.6, 2.0) (transmission at the far
  end from 0.55 down to 0.14). Allowed 0..10.
- ``airlight``: U(0.7, 1.0), one grey value; a 3-sequence/tensor gives one value per channel.
  Allowed 0..1 (the documented realistic range is 0.6..1.0).
- ``depth``: optional tensor ``(H, W)``, ``(N, H, W)`` or ``(N, 1, H, W)`` in [0, 1]; when given no
  depth is drawn and ``I = J t + A (1 - t)`` holds exactly (up to float rounding) for it.

Random draws per image after the parameters (only when ``depth`` is None): the depth map's blend
weight and 6 cosine components (frequency, direction, phase).
"""

from __future__ import annotations

import math

import torch

from abair.errors import UserError

from ._common import as_batch, check_number, draw_uniform, per_image, resolve

NAME = "haze"
RANGES = {"beta": (0.6, 2.0), "airlight": (0.7, 1.0)}
N_COSINES = 6


def sample_params(generator: torch.Generator) -> dict:
    """Draw ``beta, airlight`` from :data:`RANGES` (uniform, in this order)."""
    return {key: draw_uniform(generator, low, high) for key, (low, high) in RANGES.items()}


def synthetic_depth(
    height: int, width: int, generator: torch.Generator, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """A smooth relative depth map ``(H, W)`` in [0, 1] (0 near, 1 far), drawn from ``generator``.

    ``d = rescale(w * (1 - y) + (1 - w) * field)`` with ``y`` the row position in [0, 1] (top 0),
    ``w ~ U(0.3, 0.7)`` and ``field`` a sum of 6 cosines with 0.5..2.5 cycles per image side,
    random directions and phases, amplitudes 1/frequency; ``rescale`` maps min..max to 0..1.
    Computed in float64 and cast to ``dtype``.
    """
    weight = draw_uniform(generator, 0.3, 0.7)
    draws = torch.rand((N_COSINES, 3), generator=generator, dtype=torch.float64)
    freq = 0.5 + 2.0 * draws[:, 0]
    direction = 2.0 * math.pi * draws[:, 1]
    phase = 2.0 * math.pi * draws[:, 2]
    y = torch.linspace(0.0, 1.0, height, dtype=torch.float64).view(height, 1, 1)
    x = torch.linspace(0.0, 1.0, width, dtype=torch.float64).view(1, width, 1)
    arg = 2.0 * math.pi * freq * (x * torch.cos(direction) + y * torch.sin(direction)) + phase
    field = (torch.cos(arg) / freq).sum(-1)
    field = (field - field.min()) / (field.max() - field.min()).clamp(min=1e-12)
    depth = weight * (1.0 - y[..., 0]) + (1.0 - weight) * field
    depth = (depth - depth.min()) / (depth.max() - depth.min()).clamp(min=1e-12)
    return depth.to(dtype)


def _airlight(value, like: torch.Tensor) -> torch.Tensor:
    """Airlight as a (3, 1, 1) tensor in ``like``'s dtype/device; UserError outside [0, 1]."""
    if isinstance(value, torch.Tensor):
        values = value.detach().to("cpu", torch.float64).flatten().tolist()
    elif isinstance(value, (list, tuple)):
        values = list(value)
    else:
        values = [value]
    if len(values) not in (1, 3):
        raise UserError(
            f"{NAME}: airlight must be one number or one per RGB channel, got {len(values)} values"
        )
    values = [check_number(NAME, "airlight", v, 0.0, 1.0) for v in values]
    values = values * 3 if len(values) == 1 else values
    return torch.tensor(values, dtype=torch.float64).view(3, 1, 1).to(device=like.device, dtype=like.dtype)


def _depth_for(depth, index: int, n: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """The ``(H, W)`` depth of image ``index`` from a user-given depth tensor."""
    if not isinstance(depth, torch.Tensor):
        raise UserError(
            f"{NAME}: depth must be a tensor (H,W), (N,H,W) or (N,1,H,W), got {type(depth).__name__}"
        )
    d = depth
    if d.ndim == 4 and d.shape[1] == 1:
        d = d[:, 0]
    if d.ndim == 2:
        d = d.unsqueeze(0)
    if d.ndim != 3 or d.shape[-2:] != (height, width) or d.shape[0] not in (1, n):
        raise UserError(
            f"{NAME}: depth of shape {tuple(depth.shape)} does not match {n} image(s) of {height}x{width}"
        )
    d = d[index if d.shape[0] == n else 0]
    return d.to(device=like.device, dtype=like.dtype).clamp(0.0, 1.0)


def transmission(depth: torch.Tensor, beta: float) -> torch.Tensor:
    """``t = exp(-beta * depth)``, elementwise, in ``depth``'s dtype."""
    return torch.exp(-beta * depth)


def haze(
    image: torch.Tensor,
    generator: torch.Generator | int | None = None,
    *,
    beta: float | None = None,
    airlight=None,
    depth: torch.Tensor | None = None,
) -> torch.Tensor:
    """Add haze to ``image`` (3,H,W) or (N,3,H,W) float in [0,1]; same shape/dtype/device out."""
    given = {"beta": beta, "airlight": airlight}
    n = as_batch(image)[0].shape[0]
    counter = iter(range(n))

    def one(img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        index = next(counter)
        p = resolve(NAME, sample_params(gen), given)
        b = check_number(NAME, "beta", p["beta"], 0.0, 10.0)
        a = _airlight(p["airlight"], img)
        h, w = img.shape[-2:]
        if depth is None:
            d = synthetic_depth(h, w, gen).to(device=img.device, dtype=img.dtype)
        else:
            d = _depth_for(depth, index, n, h, w, img)
        t = transmission(d, b)
        return img * t + a * (1.0 - t)

    return per_image(image, generator, one)
