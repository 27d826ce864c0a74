"""MPRNet: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/swz30/MPRNet (compared at commit 43feb2aed45f5e0b9082c78c8c455160e30a3a82).
Licence of the upstream code: Academic Public License (LICENSE.md: non-commercial use, modification and distribution; modified copies under the same licence; commercial use by arrangement with the authors); the network itself comes from the spandrel-extra-arches package.
Paper: Multi-Stage Progressive Image Restoration (Zamir et al., CVPR 2021).
"""

from __future__ import annotations

from baselines.ports import Port


def _signature(sd) -> bool:
    """Keys only MPRNet's released files have."""
    return "shallow_feat1.0.weight" in sd and "stage3_orsnet.orb1.body.0.body.0.weight" in sd


PORT = Port(
    name="mprnet",
    display="MPRNet",
    factory="baselines.published.mprnet.method:make",
    summary="MPRNet (CVPR 2021), mprnet[:deblur|derain|denoise], official model_*.pth",
    rank=40,
    signature=_signature,
    detect_rank=70,
    variants=True,
    record_name="baselines.published.mprnet.method:record_name",
    profile="MPRNet baseline, deblurring size (20.1M), same input",
    released_as="baselines.published.mprnet.method:method",
    arch="baselines.published.mprnet.method:ARCH",
    upstream="swz30/MPRNet",
    licence="Academic Public License (LICENSE.md: non-commercial use, modification and distribution; modified copies under the same licence; commercial use by arrangement with the authors); the network itself comes from the spandrel-extra-arches package",
    paper="Multi-Stage Progressive Image Restoration (Zamir et al., CVPR 2021)",
)
