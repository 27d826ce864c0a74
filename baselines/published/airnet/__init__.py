"""AirNet: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/XLearning-SCU/2022-CVPR-AirNet (compared at commit bedea82f7f7a71f135bcc026fd02ea9f2feaa710).
Licence of the upstream code: none stated (the repository has no licence file).
Paper: All-In-One Image Restoration for Unknown Corruption (Li et al., CVPR 2022).
"""

from __future__ import annotations

from baselines.catalog import Published, Release
from baselines.ports import Port


def _signature(sd) -> bool:
    """Keys only AirNet's released files have."""
    return "R.head.0.weight" in sd and "E.E.encoder_q.E_pre.backbone.0.weight" in sd


#: what is known of it (methods list/info, docs/BASELINES.md): paper tables, released files and variants,
#: checkpoint format, the authors' test pipeline, parameter counts, what the port was checked against
CATALOG = Published(
    "AirNet", "Li et al., CVPR 2022", ("1", "2"), "airnet",
    (Release("All.pth", ("denoise", "derain", "dehaze")), Release("Denoise.pth", ("denoise",)),
     Release("Derain.pth", ("derain",)), Release("Dehaze.pth", ("dehaze",))),
    where="Google Drive / Baidu links in the README of XLearning-SCU/2022-CVPR-AirNet",
    checkpoint="bare state dict .pth (R.* restorer, E.E.* MoCo encoders and queue)",
    size="any H, W",
    pipeline="no padding; RGB in [0, 1]; output clipped to [0, 1] (test.py of the authors' repository)",
    params="8,930,313 (both MoCo encoders counted)",
    checked="the authors' net/model.py, net/encoder.py, net/DGRN.py (random weights)",
    options={"deform_conv": "auto|torch|torchvision"},
)

PORT = Port(
    name="airnet",
    display="AirNet",
    factory="baselines.published.airnet.method:make",
    summary="AirNet all-in-one (CVPR 2022), official All.pth",
    rank=30,
    signature=_signature,
    detect_rank=60,
    profile="AirNet baseline (8.9M with both MoCo encoders), any size, same input",
    released_as="baselines.published.airnet.method:method",
    arch="baselines.published.airnet.method:ARCH",
    build_options=(("deform_conv", "auto"),),
    upstream="XLearning-SCU/2022-CVPR-AirNet",
    licence="none stated (the repository has no licence file)",
    paper="All-In-One Image Restoration for Unknown Corruption (Li et al., CVPR 2022)",
    catalog=CATALOG,
)
