"""Low light: darken in linear light and add sensor noise.

``L = I ** gamma`` (display -> linear), ``S = factor * L``, ``S' = S + sqrt(shot * S + read^2) * n``
with ``n`` standard normal (the Gaussian approximation of Poisson-Gaussian noise: variance
``shot * S`` from photon counts plus ``read^2`` from the read-out), ``out = clip(S', 0, 1) ** (1/gamma)``.
In linear light the mean falls by ``factor`` (up to the noise clipped at 0).

Parameters (default range when left ``None``, drawn in this order):

- ``factor``: exposure scale in linear light, U(0.05, 0.3). Allowed 0..1.
- ``shot``: shot-noise variance per unit of linear signal, log-uniform on [1e-4, 2e-3] (1 / the
  full-well photon count). Allowed 0..1.
- ``read``: read-noise standard deviation in linear [0, 1] units, log-uniform on [2e-4, 4e-3].
  Allowed 0..1.

``gamma`` (default 2.2, allowed 1..3) is a fixed display gamma, not drawn.

Random draws per image after the parameters: one standard normal field of shape (3, H, W).
"""

from __future__ import annotations

import torch

from ._common import check_number, draw_log_uniform, draw_uniform, per_image, randn_field, resolve

NAME = "lowlight"
RANGES = {"factor": (0.05, 0.3), "shot": (1e-4, 2e-3), "read": (2e-4, 4e-3)}
GAMMA = 2.2


def sample_params(generator: torch.Generator) -> dict:
    """Draw ``factor`` (uniform), ``shot`` and ``read`` (log-uniform) from :data:`RANGES`, in this order."""
    return {
        "factor": draw_uniform(generator, *RANGES["factor"]),
        "shot": draw_log_uniform(generator, *RANGES["shot"]),
        "read": draw_log_uniform(generator, *RANGES["read"]),
    }


def lowlight(
    image: torch.Tensor,
    generator: torch.Generator | int | None = None,
    *,
    factor: float | None = None,
    shot: float | None = None,
    read: float | None = None,
    gamma: float = GAMMA,
) -> torch.Tensor:
    """Darken ``image`` (3,H,W) or (N,3,H,W) float in [0,1] and add noise; same shape/dtype/device out."""
    given = {"factor": factor, "shot": shot, "read": read}
    g = check_number(NAME, "gamma", gamma, 1.0, 3.0)

    def one(img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        p = resolve(NAME, sample_params(gen), given)
        f = check_number(NAME, "factor", p["factor"], 0.0, 1.0)
        s = check_number(NAME, "shot", p["shot"], 0.0, 1.0)
        r = check_number(NAME, "read", p["read"], 0.0, 1.0)
        signal = f * img.pow(g)
        std = (s * signal + r * r).sqrt()
        noisy = (signal + std * randn_field(gen, tuple(img.shape), img)).clamp_(0.0, 1.0)
        return noisy.pow(1.0 / g)

    return per_image(image, generator, one)
