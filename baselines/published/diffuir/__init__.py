"""DiffUIR: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/iSEE-Laboratory/DiffUIR (compared at commit c71437ce86ad1b098aa9be4678dc82e8b99649df).
Licence of the upstream code: MIT.
Paper: Selective Hourglass Mapping for Universal Image Restoration Based on Diffusion Model (Zheng et al., CVPR 2024).
"""

from __future__ import annotations

from baselines.ports import Port


def _signature(sd) -> bool:
    """Keys only DiffUIR's released files have."""
    return any(k + "init_conv.weight" in sd for k in ("unet0.", "model.unet0.", "ema_model.model.unet0.")) or (
        "init_conv.weight" in sd and "downs.0.0.block1.norm.weight" in sd)


PORT = Port(
    name="diffuir",
    display="DiffUIR",
    factory="baselines.published.diffuir.method:make",
    summary="DiffUIR (CVPR 2024), diffuir[:tiny|small|base|large], the authors' model-300.pt",
    rank=80,
    signature=_signature,
    detect_rank=10,
    variants=True,
    record_name="baselines.published.diffuir.method:record_name",
    profile="DiffUIR-L baseline (36.3M), the whole sampling: 3 network calls on 6-channel input, reflect-padded to a multiple of 16 inside",
    profile_builder="baselines.published.diffuir.method:profile_method",
    upstream="iSEE-Laboratory/DiffUIR",
    licence="MIT",
    paper="Selective Hourglass Mapping for Universal Image Restoration Based on Diffusion Model (Zheng et al., CVPR 2024)",
)
