"""X-Restormer: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/Andrew0613/X-Restormer (compared at commit e096da6bf5f640f8a0d1fde3eec893ded1feac6f).
Licence of the upstream code: MIT (the BasicSR-examples template's LICENSE: Xintao Wang and BasicSR-examples contributors).
Paper: A Comparative Study of Image Restoration Networks for General Backbone Network Design (Chen et al., ECCV 2024).
"""

from __future__ import annotations

from baselines.catalog import Published, Release
from baselines.ports import Port


def _signature(sd) -> bool:
    """Keys only X-Restormer's released files have."""
    return "encoder_level1.0.spatial_attn.rel_pos_emb.rel_height" in sd


#: what is known of it (methods list/info, docs/BASELINES.md): paper tables, released files and variants,
#: checkpoint format, the authors' test pipeline, parameter counts, what the port was checked against
CATALOG = Published(
    "X-Restormer", "Chen et al., ECCV 2024", ("1", "3", "4", "5"), "x-restormer",
    (Release("denoise_300k.pth", ("denoise",), "denoise"), Release("deblur_300k.pth", ("deblur",), "deblur"),
     Release("derain_155k.pth", ("derain",), "derain"), Release("dehaze_300k.pth", ("dehaze",), "dehaze"),
     Release("sr_300k.pth", ("sr",), None, "x4 super-resolution: not a 1x restorer, not run here", runs=False)),
    where="the Google Drive / Baidu links under 'Testing' in the README of Andrew0613/X-Restormer",
    checkpoint="BasicSR .pth, {'params': state_dict}",
    size="H, W multiples of 64",
    pipeline="reflect-pad bottom/right to a multiple of 64 (padding_size: 64), crop back, clip to [0, 1]; "
             "RGB in [0, 1]; no self-ensemble (xrestormer/models/xrestormer_model.py, options/test/00*.yml "
             "of Andrew0613/X-Restormer)",
    params="26,041,208 (dim 48, blocks 2-4-4-4, 4 refinement, channel heads 1-2-4-8, spatial heads 1-2-4-8, "
           "window 8, overlap 0.5)",
    checked="xrestormer/archs/xrestormer_arch.py of Andrew0613/X-Restormer (random weights)",
)

PORT = Port(
    name="x-restormer",
    display="X-Restormer",
    factory="baselines.published.x_restormer.method:make",
    summary="X-Restormer (ECCV 2024), x-restormer[:denoise|deblur|derain|dehaze], official BasicSR .pth",
    rank=60,
    signature=_signature,
    detect_rank=40,
    variants=True,
    record_name="baselines.published.x_restormer.method:record_name",
    profile="X-Restormer baseline (26.0M), input reflect-padded to a multiple of 64",
    released_as="baselines.published.x_restormer.method:method",
    arch="baselines.published.x_restormer.method:ARCH",
    upstream="Andrew0613/X-Restormer",
    licence="MIT (the BasicSR-examples template's LICENSE: Xintao Wang and BasicSR-examples contributors)",
    paper="A Comparative Study of Image Restoration Networks for General Backbone Network Design (Chen et al., ECCV 2024)",
    catalog=CATALOG,
)
