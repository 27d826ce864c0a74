"""DiffUIR: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/iSEE-Laboratory/DiffUIR (compared at commit c71437ce86ad1b098aa9be4678dc82e8b99649df).
Licence of the upstream code: MIT.
Paper: Selective Hourglass Mapping for Universal Image Restoration Based on Diffusion Model (Zheng et al., CVPR 2024).
"""

from __future__ import annotations

from baselines.catalog import Published, Release
from baselines.ports import Port


def _signature(sd) -> bool:
    """Keys only DiffUIR's released files have."""
    return any(k + "init_conv.weight" in sd for k in ("unet0.", "model.unet0.", "ema_model.model.unet0.")) or (
        "init_conv.weight" in sd and "downs.0.0.block1.norm.weight" in sd)


#: the authors' five-task training
_TASKS = ("derain", "desnow", "dehaze", "deblur", "lowlight")

#: what is known of it (methods list/info, docs/BASELINES.md): paper tables, released files and variants,
#: checkpoint format, the authors' test pipeline, parameter counts, what the port was checked against
CATALOG = Published(
    "DiffUIR", "Zheng et al., CVPR 2024", ("1", "3", "4", "5"), "diffuir",
    tuple(Release(f"model-300.pt of the {size.title()} folder", _TASKS, size,
                  f"DiffUIR-{size[0].upper()}, dim {dim}, mults {mults}, {params}; the five-task universal model")
          for size, dim, mults, params in (("tiny", 32, "1-1-1-1", "886,435"), ("small", 32, "1-2-2-4", "3,268,643"),
                                            ("base", 64, "1-2-2-4", "12,406,851"),
                                            ("large", 64, "1-2-4-8", "36,261,187"))),
    where="the Google Drive / OneDrive 'Model Zoo' links (Tiny, Small, Base, Large folders) in the README of "
          "iSEE-Laboratory/DiffUIR",
    checkpoint="torch .pth of the authors' Trainer.save, {'step', 'model', 'opt0', 'ema', 'scaler'}; the EMA "
               "network (ema_model.model.unet0.*) is read, as test.py samples with it; dim and mults from the shapes",
    size="any H, W of at least 9 (the network reflect-pads to a multiple of 16 at every call and crops back)",
    pipeline="RGB in [0, 1], 2x - 1 to the network, no resizing or padding outside it; low-light inputs "
             "histogram-equalised per channel (the authors' loader, for LOL); residual diffusion, 3 deterministic "
             "steps (eta 0) from (1 - delta_cumsum) y + 0.1 z, EMA weights; output (x0 + 1) / 2 (test.py, "
             "src/model.py, data/universal_dataset.py of iSEE-Laboratory/DiffUIR); per-image seeds",
    params="Tiny 886,435; Small 3,268,643; Base 12,406,851; Large 36,261,187 (the README's 0.89M, 3.27M, "
           "12.41M, 36.26M); test.py builds the Large one",
    checked="src/model.py of iSEE-Laboratory/DiffUIR: UnetRes and ResidualDiffusion.sample after init(), "
            "file written with ema-pytorch 0.4.5 (random weights)",
    options={"steps": "sampling steps (default 3, as test.py; 1..999)",
             "seed": "base of the per-image seeds (default 0)",
             "equalize": "lowlight (default: low-light datasets, as the authors' loader) | never | always",
             "weights": "ema (default, as test.py) | model"},
)

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
    catalog=CATALOG,
)
