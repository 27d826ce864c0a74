"""Motion and defocus blur: each channel convolved with one kernel (sum 1), reflect padding.

- ``motion``: :func:`motion_kernel`, a camera-shake trajectory (a random walk whose turning rate
  has inertia) scaled so its bounding box's longer side spans ``size - 1`` px, rasterised with
  sub-pixel bilinear splatting into a ``size`` x ``size`` kernel, normalised to sum 1.
- ``defocus``: :func:`defocus_kernel`, a disk of ``radius`` px, anti-aliased by 16x16 supersampling
  of each tap's area, normalised to sum 1.

Parameters (default range when left ``None``, drawn in this order; all three are always drawn):

- ``kind``: ``"motion"`` or ``"defocus"``, each with probability 1/2. If ``kind`` is None and only
  ``size`` (or only ``radius``) is given, the kind follows from it.
- ``size``: motion kernel side in px, an odd integer drawn uniformly from 7, 9, ..., 21. Allowed
  odd 3..99.
- ``radius``: defocus disk radius in px, U(1, 4). Allowed 0..50.

Random draws per image after the parameters (motion only): the trajectory (1 uniform + 2 x 32
normals).
"""

from __future__ import annotations

import math

import torch

from abair.errors import UserError

from ._common import (
    check_int,
    check_number,
    convolve_reflect,
    draw_int,
    draw_uniform,
    make_generator,
    per_image,
    resolve,
)

NAME = "blur"
KINDS = ("motion", "defocus")
RANGES = {"size": (7, 21), "radius": (1.0, 4.0)}
SUPERSAMPLE = 16


def _draw_all(generator: torch.Generator) -> dict:
    kind = KINDS[0] if draw_uniform(generator, 0.0, 1.0) < 0.5 else KINDS[1]
    low, high = RANGES["size"]
    size = 2 * draw_int(generator, low // 2, high // 2) + 1
    radius = draw_uniform(generator, *RANGES["radius"])
    return {"kind": kind, "size": size, "radius": radius}


def sample_params(generator: torch.Generator) -> dict:
    """Draw a full parameter dict: ``{"kind": "motion", "size": s}`` or ``{"kind": "defocus", "radius": r}``."""
    p = _draw_all(generator)
    return (
        {"kind": p["kind"], "size": p["size"]}
        if p["kind"] == "motion"
        else {"kind": p["kind"], "radius": p["radius"]}
    )


def motion_kernel(
    size: int,
    generator: torch.Generator | int | None = None,
    *,
    steps: int = 32,
    inertia: float = 0.7,
    turn: float = 0.04,
    subsamples: int = 8,
) -> torch.Tensor:
    """A random camera-shake kernel: float64 ``(size, size)``, non-negative, sum 1.

    The trajectory starts at heading ``U(0, 2 pi)``; at each of ``steps`` steps the turning rate
    follows ``omega <- inertia * omega + turn * e`` (radians, ``e`` standard normal), the heading
    turns by ``omega`` and the point advances ``max(0.2, 1 + 0.3 e')`` (arbitrary units). The path
    is then centred on its exposure centroid (so the blurred image is not shifted against the sharp
    one) and scaled so its farthest point from the centroid lies on the kernel's border, each segment
    split into ``subsamples`` points, and each point splats equal weight bilinearly onto its four
    neighbouring taps (uniform exposure along the path). The trajectory recursion runs on Python
    floats, so the kernel is the same on every machine for a given generator state.
    """
    size = check_int(NAME, "size", size, 3, 99)
    if size % 2 == 0:
        raise UserError(f"{NAME}: size must be an odd integer in 3..99, got {size}")
    gen = make_generator(generator)
    heading = draw_uniform(gen, 0.0, 2.0 * math.pi)
    e = torch.randn((2, steps), generator=gen, dtype=torch.float64).tolist()
    omega, x, y = 0.0, 0.0, 0.0
    points = [(0.0, 0.0)]
    for t in range(steps):
        omega = inertia * omega + turn * e[0][t]
        heading += omega
        speed = max(0.2, 1.0 + 0.3 * e[1][t])
        x += speed * math.cos(heading)
        y += speed * math.sin(heading)
        points.append((x, y))
    path = torch.tensor(points, dtype=torch.float64)
    # centre on the exposure-weighted centroid (every time step weighs the same), as a sharp frame
    # taken mid-exposure sits at the blur's centre of mass (GoPro's sharp frame is the middle one):
    # the blurred image is then not shifted against the clean one
    centroid = ((path[:-1] + path[1:]) / 2.0).mean(0)
    extent = float((path - centroid).abs().max())
    scale = (size - 1) / 2.0 / extent if extent > 0 else 0.0
    centre = (size - 1) / 2.0
    path = (path - centroid) * scale + centre
    frac = torch.arange(subsamples, dtype=torch.float64).view(1, subsamples, 1) / subsamples
    dense = path[:-1].unsqueeze(1) + frac * (path[1:] - path[:-1]).unsqueeze(1)
    dense = torch.cat([dense.reshape(-1, 2), path[-1:]]).clamp(0.0, size - 1)
    x0 = dense[:, 0].floor().clamp(max=size - 2)
    y0 = dense[:, 1].floor().clamp(max=size - 2)
    fx, fy = dense[:, 0] - x0, dense[:, 1] - y0
    x0, y0 = x0.long(), y0.long()
    index = torch.cat([y0 * size + x0, y0 * size + x0 + 1, (y0 + 1) * size + x0, (y0 + 1) * size + x0 + 1])
    weight = torch.cat([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
    kernel = torch.bincount(index, weights=weight, minlength=size * size).view(size, size)
    return kernel / kernel.sum()


def defocus_kernel(radius: float) -> torch.Tensor:
    """Anti-aliased disk of ``radius`` px: float64 ``(k, k)``, ``k = 2 max(0, ceil(radius - 0.5)) + 1``
    (the taps whose unit square meets the disk), sum 1.

    Each tap is the fraction of its unit square inside the disk (16 x 16 supersampling); a radius
    up to 0.5 fits inside one pixel and gives the identity ``[[1]]``.
    """
    radius = check_number(NAME, "radius", radius, 0.0, 50.0)
    r = max(0, math.ceil(radius - 0.5))
    if r == 0:
        return torch.ones((1, 1), dtype=torch.float64)
    sub = (torch.arange(SUPERSAMPLE, dtype=torch.float64) + 0.5) / SUPERSAMPLE - 0.5
    centres = torch.arange(-r, r + 1, dtype=torch.float64)
    pos = (centres.view(-1, 1) + sub.view(1, -1)).flatten()  # (k * S,) sample coordinates
    inside = (pos.view(-1, 1) ** 2 + pos.view(1, -1) ** 2) <= radius * radius
    k = 2 * r + 1
    coverage = inside.view(k, SUPERSAMPLE, k, SUPERSAMPLE).to(torch.float64).sum((1, 3))
    if float(coverage.sum()) == 0.0:  # radius below the supersampling resolution
        coverage[r, r] = 1.0
    return coverage / coverage.sum()


def blur(
    image: torch.Tensor,
    generator: torch.Generator | int | None = None,
    *,
    kind: str | None = None,
    size: int | None = None,
    radius: float | None = None,
) -> torch.Tensor:
    """Blur ``image`` (3,H,W) or (N,3,H,W) float in [0,1]; same shape/dtype/device out."""
    if kind is not None and kind not in KINDS:
        raise UserError(f"{NAME}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind is None and size is not None and radius is not None:
        raise UserError(f"{NAME}: give size (motion) or radius (defocus), not both, unless kind is set")
    if kind == "motion" and radius is not None:
        raise UserError(f"{NAME}: radius applies to kind='defocus' only; motion blur takes size")
    if kind == "defocus" and size is not None:
        raise UserError(f"{NAME}: size applies to kind='motion' only; defocus blur takes radius")
    if kind is None and size is not None:
        kind = "motion"
    if kind is None and radius is not None:
        kind = "defocus"
    given = {"kind": kind, "size": size, "radius": radius}

    def one(img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        p = resolve(NAME, _draw_all(gen), given)
        if p["kind"] == "motion":
            kernel = motion_kernel(p["size"], gen)
        else:
            kernel = defocus_kernel(p["radius"])
        return convolve_reflect(img, kernel)

    return per_image(image, generator, one)
