"""IDR: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/JingHao99/IDR-Ingredients-oriented-Degradation-Reformulation (compared at commit 0fbeb88fbc625ba82f811f207b4a973197914aad).
Licence of the upstream code: MIT.
Paper: Ingredient-oriented Multi-Degradation Learning for Image Restoration (Zhang et al., CVPR 2023).
"""

from __future__ import annotations

from baselines.catalog import Published
from baselines.ports import Port


def _signature(sd) -> bool:
    """Keys only IDR's released files have."""
    return "degra_key" in sd and "dmixer.convU.weight" in sd


#: what is known of it (methods list/info, docs/BASELINES.md): paper tables, released files and variants,
#: checkpoint format, the authors' test pipeline, parameter counts, what the port was checked against
CATALOG = Published(
    "IDR", "Zhang et al., CVPR 2023", ("1", "3", "4", "5"), "idr",
    where="no trained weights were released (the README's evaluation points to a local results/models/model.ckpt, "
          "and an open request for the weights is unanswered): train with the authors' code at "
          "JingHao99/IDR-Ingredients-oriented-Degradation-Reformulation (main.py), or score their rows from "
          "restored images through folder:IDR=/path",
    checkpoint="bare state dict .pth, as the authors' training code saves it (<epoch>_G.pth; keys may carry "
               "'module.'); widths, blocks, heads, key sets and the SAM read from the shapes",
    size="H, W multiples of 8",
    pipeline="the authors' test data is cropped, centred, to a multiple of 32 (crop_HWC_img); here the harness "
             "reflect-pads to a multiple of 8 and crops back; second-stage forward (no degradation label), "
             "SVD of the degradation keys on the run's device; output clipped to [0, 1]; RGB in [0, 1]; no "
             "self-ensemble (inference.py of the authors' repository)",
    params="12,262,448 (the training configuration config/IDR-restormer.yml: dim 30, blocks 2-3-3-4, "
           "2 refinement, 5 x 24 keys); 7,887,130 at dim 24, the network inference.py builds; the paper's "
           "table prints 15M",
    checked="models/archs/IDR_restormer_arch.py and models/utils/module.py of the authors' repository "
            "(random weights)",
    options={"svd_device": "auto (the run's device, as the authors) | cpu",
             "antialias": "false (torchvision 0.12, pinned by the authors) | true"},
    settings={"5-task": ("denoise", "derain", "dehaze", "deblur", "lowlight"),
              "3-task": ("denoise", "derain", "dehaze")},
)

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
    catalog=CATALOG,
)
