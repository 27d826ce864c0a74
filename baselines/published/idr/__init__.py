"""IDR: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/JingHao99/IDR-Ingredients-oriented-Degradation-Reformulation (compared at commit 0fbeb88fbc625ba82f811f207b4a973197914aad).
Licence of the upstream code: MIT.
Paper: Ingredient-oriented Multi-Degradation Learning for Image Restoration (Zhang et al., CVPR 2023).
"""

from __future__ import annotations

from baselines.ports import Port


def _signature(sd) -> bool:
    """Keys only IDR's released files have."""
    return "degra_key" in sd and "dmixer.convU.weight" in sd


PORT = Port(
    name="idr",
    display="IDR",
    factory="baselines.published.idr.method:make",
    summary="IDR all-in-one (CVPR 2023), from self-trained weights (none released)",
    rank=70,
    signature=_signature,
    detect_rank=30,
    profile="IDR baseline, the authors' training configuration (12.3M; SVD of the keys in every call)",
    released_as="baselines.published.idr.method:method",
    arch="baselines.published.idr.method:ARCH",
    build_options=(("svd_device", None), ("antialias", False)),
    upstream="JingHao99/IDR-Ingredients-oriented-Degradation-Reformulation",
    licence="MIT",
    paper="Ingredient-oriented Multi-Degradation Learning for Image Restoration (Zhang et al., CVPR 2023)",
)
