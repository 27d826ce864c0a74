"""X-Restormer: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/Andrew0613/X-Restormer (compared at commit e096da6bf5f640f8a0d1fde3eec893ded1feac6f).
Licence of the upstream code: MIT (the BasicSR-examples template's LICENSE: Xintao Wang and BasicSR-examples contributors).
Paper: A Comparative Study of Image Restoration Networks for General Backbone Network Design (Chen et al., ECCV 2024).
"""

from __future__ import annotations

from baselines.ports import Port


def _signature(sd) -> bool:
    """Keys only X-Restormer's released files have."""
    return "encoder_level1.0.spatial_attn.rel_pos_emb.rel_height" in sd


PORT = Port(
    name="x-restormer",
    display="X-Restormer",
    factory="baselines.published.x_restormer.method:make",
    summary="X-Restormer (ECCV 2024), x-restormer[:denoise|deblur|derain|dehaze], official BasicSR .pth",
    rank=60,
    signature=_signature,
    detect_rank=40,
    variants=True,
    record_name="baselines.published.x_restormer.method:record_name",
    profile="X-Restormer baseline (26.0M), input reflect-padded to a multiple of 64",
    released_as="baselines.published.x_restormer.method:method",
    arch="baselines.published.x_restormer.method:ARCH",
    upstream="Andrew0613/X-Restormer",
    licence="MIT (the BasicSR-examples template's LICENSE: Xintao Wang and BasicSR-examples contributors)",
    paper="A Comparative Study of Image Restoration Networks for General Backbone Network Design (Chen et al., ECCV 2024)",
)
