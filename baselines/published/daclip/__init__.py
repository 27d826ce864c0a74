"""DA-CLIP: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/Algolzw/daclip-uir (compared at commit c2cc14146faac85680b4cb39ece4ef9e2a7c7c24).
Licence of the upstream code: MIT (LICENSE; its da-clip/ folder keeps open_clip's own licence).
Paper: Controlling Vision-Language Models for Multi-Task Image Restoration (Luo et al., ICLR 2024).
"""

from __future__ import annotations

from baselines.ports import Port
from baselines.published.daclip.method import PROFILE_STEPS


def _signature(sd) -> bool:
    """Keys only DA-CLIP's released files have."""
    return "visual_control.transformer.zero_modules.0.weight" in sd or (
        "init_conv.weight" in sd and "downs.0.0.block1.proj.weight" in sd and "time_mlp.1.weight" in sd)


PORT = Port(
    name="daclip",
    display="DA-CLIP",
    factory="baselines.published.daclip.method:make",
    summary="DA-CLIP universal IR (ICLR 2024): DA-CLIP encoder + IR-SDE, 100 posterior steps, per-image seeds",
    rank=90,
    signature=_signature,
    detect_rank=90,
    needs="weights (--method-arg daclip.checkpoint=universal-ir.pth --method-arg daclip.clip=daclip_ViT-B-32.pt)",
    profile=f"DA-CLIP baseline: encoder (182.8M) + IR-SDE network (49.0M), {PROFILE_STEPS} of the authors' 100 "
            "reverse steps (one restoration costs about 10x)",
    profile_builder="baselines.published.daclip.method:profile_method",
    upstream="Algolzw/daclip-uir",
    licence="MIT (LICENSE; its da-clip/ folder keeps open_clip's own licence)",
    paper="Controlling Vision-Language Models for Multi-Task Image Restoration (Luo et al., ICLR 2024)",
)
