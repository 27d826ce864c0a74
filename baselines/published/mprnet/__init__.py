"""MPRNet: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/swz30/MPRNet (compared at commit 43feb2aed45f5e0b9082c78c8c455160e30a3a82).
Licence of the upstream code: Academic Public License (LICENSE.md: non-commercial use, modification and distribution; modified copies under the same licence; commercial use by arrangement with the authors); the network itself comes from the spandrel-extra-arches package.
Paper: Multi-Stage Progressive Image Restoration (Zamir et al., CVPR 2021).
"""

from __future__ import annotations

from baselines.catalog import Published, Release
from baselines.ports import Port


def _signature(sd) -> bool:
    """Keys only MPRNet's released files have."""
    return "shallow_feat1.0.weight" in sd and "stage3_orsnet.orb1.body.0.body.0.weight" in sd


#: what is known of it (methods list/info, docs/BASELINES.md): paper tables, released files and variants,
#: checkpoint format, the authors' test pipeline, parameter counts, what the port was checked against
CATALOG = Published(
    "MPRNet", "Zamir et al., CVPR 2021", ("2",), "mprnet",
    (Release("model_deblurring.pth", ("deblur",), "deblur", "GoPro"),
     Release("model_deraining.pth", ("derain",), "derain", "Rain13K"),
     Release("model_denoising.pth", ("denoise",), "denoise", "SIDD")),
    where="the Google Drive links in Deblurring/, Deraining/, Denoising/pretrained_models/README.md of swz30/MPRNet",
    checkpoint="torch .pth {'epoch', 'state_dict', 'optimizer'} (keys may carry 'module.'); "
               "network from spandrel-extra-arches (pip install 'abair-bench[spandrel]')",
    size="H, W multiples of 8",
    pipeline="reflect-pad bottom/right to a multiple of 8, stage-3 output, crop back, clip to [0, 1]; "
             "RGB in [0, 1]; no self-ensemble (demo.py and Deblurring/test.py of swz30/MPRNet)",
    params="deblur 20,127,073 (n_feat 96, unet +48, orsnet +32); derain 3,637,249 (40/20/16); "
           "denoise 15,741,025 (80/48/32)",
    checked="Deblurring/, Deraining/, Denoising/MPRNet.py of swz30/MPRNet (random weights)",
)

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
    catalog=CATALOG,
)
