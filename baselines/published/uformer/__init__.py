"""Uformer: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/ZhendongWang6/Uformer (compared at commit 65fc970a8ffc09605faca74ed016ee93c9ad8a36).
Licence of the upstream code: MIT.
Paper: Uformer: A General U-Shaped Transformer for Image Restoration (Wang et al., CVPR 2022).
"""

from __future__ import annotations

from baselines.ports import Port


def _signature(sd) -> bool:
    """Keys only Uformer's released files have."""
    return "input_proj.proj.0.weight" in sd and "encoderlayer_0.blocks.0.attn.relative_position_bias_table" in sd


PORT = Port(
    name="uformer",
    display="Uformer",
    factory="baselines.published.uformer.method:make",
    summary="Uformer (CVPR 2022), uformer[:denoise|deblur], official .pth",
    rank=50,
    signature=_signature,
    detect_rank=80,
    variants=True,
    record_name="baselines.published.uformer.method:record_name",
    profile="Uformer-B baseline (50.9M), input zero-padded to a square multiple of 128 as the authors test",
    released_as="baselines.published.uformer.method:method",
    arch="baselines.published.uformer.method:ARCH",
    upstream="ZhendongWang6/Uformer",
    licence="MIT",
    paper="Uformer: A General U-Shaped Transformer for Image Restoration (Wang et al., CVPR 2022)",
)
