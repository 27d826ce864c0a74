"""Restormer: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/swz30/Restormer (compared at commit df766d5521afd21cce56e24159f300b30ebf3fb0).
Licence of the upstream code: Academic Public License (LICENSE.md: non-commercial use, modification and distribution; modified copies under the same licence; commercial use by arrangement with the authors).
Paper: Restormer: Efficient Transformer for High-Resolution Image Restoration (Zamir et al., CVPR 2022).
"""

from __future__ import annotations

from baselines.catalog import Published, Release
from baselines.ports import Port


def _signature(sd) -> bool:
    """Keys only Restormer's released files have."""
    return "patch_embed.proj.weight" in sd and "encoder_level1.0.attn.temperature" in sd


#: what is known of it (methods list/info, docs/BASELINES.md): paper tables, released files and variants,
#: checkpoint format, the authors' test pipeline, parameter counts, what the port was checked against
CATALOG = Published(
    "Restormer", "Zamir et al., CVPR 2022", ("1", "2", "3", "4", "5"), "restormer",
    (Release("motion_deblurring.pth", ("deblur",)), Release("single_image_defocus_deblurring.pth", ("deblur",)),
     Release("deraining.pth", ("derain",)), Release("real_denoising.pth", ("denoise",)),
     Release("gaussian_color_denoising_blind.pth", ("denoise",)),
     Release("gaussian_color_denoising_sigma15.pth / _sigma25.pth / _sigma50.pth", ("denoise",))),
    where="release v1.0 of swz30/Restormer",
    checkpoint="BasicSR .pth, {'params': state_dict}",
    size="H, W multiples of 8",
    pipeline="reflect-pad bottom/right to a multiple of 8, crop back, clip to [0, 1]; RGB in [0, 1] "
             "(Motion_Deblurring/test.py and the other task scripts of swz30/Restormer)",
    params="26,126,644 (dim 48, blocks 4-6-6-8, 4 refinement)",
    checked="basicsr/models/archs/restormer_arch.py of swz30/Restormer (random weights)",
)

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
    catalog=CATALOG,
)
