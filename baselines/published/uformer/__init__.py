"""Uformer: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/ZhendongWang6/Uformer (compared at commit 65fc970a8ffc09605faca74ed016ee93c9ad8a36).
Licence of the upstream code: MIT.
Paper: Uformer: A General U-Shaped Transformer for Image Restoration (Wang et al., CVPR 2022).
"""

from __future__ import annotations

from baselines.catalog import Published, Release
from baselines.ports import Port


def _signature(sd) -> bool:
    """Keys only Uformer's released files have."""
    return "input_proj.proj.0.weight" in sd and "encoderlayer_0.blocks.0.attn.relative_position_bias_table" in sd


#: what is known of it (methods list/info, docs/BASELINES.md): paper tables, released files and variants,
#: checkpoint format, the authors' test pipeline, parameter counts, what the port was checked against
CATALOG = Published(
    "Uformer", "Wang et al., CVPR 2022", ("1",), "uformer",
    (Release("Uformer_B_SIDD.pth", ("denoise",), "denoise", "Uformer-B trained on SIDD"),
     Release("Uformer_B_GoPro.pth", ("deblur",), "deblur", "Uformer-B trained on GoPro")),
    where="the OneDrive links under 'Pretrained model' in the README of ZhendongWang6/Uformer",
    checkpoint="torch .pth {'epoch', 'state_dict', 'optimizer'} (keys may carry 'module.'); "
               "Uformer-T/-S/-B read from the shapes",
    size="any H, W (zero-padded, centred, to a square of side a multiple of 128)",
    pipeline="expand2square: zero-pad centred to a square of side ceil(max(h, w) / 128) * 128, run, "
             "cut the image back out, clip to [0, 1]; RGB in [0, 1]; network built with img_size=128 "
             "(no shift in the 8x8 bottleneck); no self-ensemble (test/test_sidd.py, test/test_gopro_hide.py "
             "of ZhendongWang6/Uformer)",
    params="Uformer-B 50,880,946 (embed 32, depths 1-2-8-8-2-8-8-2-1, modulator); Uformer-S 20,751,197 and "
           "Uformer-T 5,291,853 with the modulator (20,628,317 and 5,230,413 without, the paper's 20.63M/5.23M)",
    checked="model.py of ZhendongWang6/Uformer (random weights)",
    options={"img_size": "size the network is built for (default 128, as the test scripts)"},
)

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
    catalog=CATALOG,
)
