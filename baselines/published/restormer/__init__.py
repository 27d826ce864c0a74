"""Restormer: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/swz30/Restormer (compared at commit df766d5521afd21cce56e24159f300b30ebf3fb0).
Licence of the upstream code: Academic Public License (LICENSE.md: non-commercial use, modification and distribution; modified copies under the same licence; commercial use by arrangement with the authors).
Paper: Restormer: Efficient Transformer for High-Resolution Image Restoration (Zamir et al., CVPR 2022).
"""

from __future__ import annotations

from baselines.ports import Port


def _signature(sd) -> bool:
    """Keys only Restormer's released files have."""
    return "patch_embed.proj.weight" in sd and "encoder_level1.0.attn.temperature" in sd


PORT = Port(
    name="restormer",
    display="Restormer",
    factory="baselines.published.restormer.method:make",
    summary="Restormer (CVPR 2022), official .pth ('params')",
    rank=10,
    signature=_signature,
    detect_rank=50,
    profile="Restormer baseline, official size (26.1M), same input",
    released_as="baselines.published.restormer.method:method",
    arch="baselines.published.restormer.method:ARCH",
    upstream="swz30/Restormer",
    licence="Academic Public License (LICENSE.md: non-commercial use, modification and distribution; modified copies under the same licence; commercial use by arrangement with the authors)",
    paper="Restormer: Efficient Transformer for High-Resolution Image Restoration (Zamir et al., CVPR 2022)",
)
