"""Named model sizes and the helpers that build or count them.

========  =====  ============  ====  ============  ==================================================
preset    width  blocks        ref.  prompt dims   meant for
========  =====  ============  ====  ============  ==================================================
tiny      12     1, 1, 1, 1    1     16, 8, 4      training on 2 CPU cores in well under an hour
small     32     2, 3, 3, 4    2     32, 16, 8     training on one GPU in hours
paper     64     4, 6, 6, 8    4     64, 32, 16    the paper's size: ~59M with 5 rank-4 LoRA adapters
========  =====  ============  ====  ============  ==================================================

The paper gives only totals (59M in all; 3.6M / 7.2M / 14.3M for five LoRA adapters of rank 4 / 8
/ 16). ``paper`` is sized to match both: LoRA on the four 1x1 projections of every transformer block
at width 64 gives ~0.70M per rank-4 adapter, and the backbone plus estimator fill the rest. The
measured counts are in docs/MODEL.md (``abair-bench model info``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from abair.errors import UserError, unknown_name

from .abair import ABAIR, DEGRADATION_CLASSES, ABAIRConfig
from .adapters import ADAPTER_TYPES, DEFAULT_TARGETS, AdapterSpec
from .backbone import BackboneConfig
from .estimator import EstimatorConfig


@dataclass(frozen=True)
class Preset:
    name: str
    backbone: BackboneConfig
    estimator: EstimatorConfig
    summary: str


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        "tiny",
        BackboneConfig(dim=12, blocks=(1, 1, 1, 1), refinement=1, heads=(1, 1, 2, 4),
                       prompt_dims=(16, 8, 4), prompt_sizes=(8, 16, 32), prompt_heads=(4, 2, 1)),
        EstimatorConfig(input_size=64, widths=(16, 32, 64), depth=1),
        "width 12, one block per level; < 1M parameters, trains on 2 CPU cores",
    ),
    "small": Preset(
        "small",
        BackboneConfig(dim=32, blocks=(2, 3, 3, 4), refinement=2, heads=(1, 2, 4, 8),
                       prompt_dims=(32, 16, 8), prompt_sizes=(16, 32, 64), prompt_heads=(8, 4, 2)),
        EstimatorConfig(input_size=128, widths=(16, 32, 64, 128), depth=2),
        "width 32, blocks 2/3/3/4; trains on one GPU in hours",
    ),
    "paper": Preset(
        "paper",
        BackboneConfig(dim=64, blocks=(4, 6, 6, 8), refinement=4, heads=(1, 2, 4, 8),
                       prompt_dims=(64, 32, 16), prompt_sizes=(16, 32, 64), prompt_heads=(8, 4, 2)),
        EstimatorConfig(input_size=128, widths=(48, 96, 192, 320), depth=2),
        "width 64, blocks 4/6/6/8; ~59M with five rank-4 LoRA adapters, as in the paper",
    ),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise unknown_name("model preset", name, PRESETS)
    return PRESETS[name]


def preset_config(name: str, seghead: bool = False) -> ABAIRConfig:
    p = get_preset(name)
    return ABAIRConfig(preset=name, backbone=p.backbone, estimator=p.estimator,
                       class_order=DEGRADATION_CLASSES, seghead=seghead)


def adapter_specs(adapters: int | Sequence[str] = 5, adapter_type: str = "lora", rank: int = 4,
                  targets: Sequence[str] = DEFAULT_TARGETS) -> list[AdapterSpec]:
    """Specs named after the degradation classes: ``adapters=5`` -> rain, haze, noise, blur, lowlight."""
    if adapter_type not in ADAPTER_TYPES:
        raise unknown_name("adapter type", adapter_type, ADAPTER_TYPES)
    if isinstance(adapters, int):
        if not 0 <= adapters <= len(DEGRADATION_CLASSES):
            raise UserError(f"adapters must be 0..{len(DEGRADATION_CLASSES)} (one per degradation class), "
                            f"got {adapters}")
        names = DEGRADATION_CLASSES[:adapters]
    else:
        names = tuple(adapters)
    return [AdapterSpec(name=n, type=adapter_type, rank=rank, targets=tuple(targets)) for n in names]


def build(preset: str = "tiny", adapters: int | Sequence[str] = 5, adapter_type: str = "lora", rank: int = 4,
          seghead: bool = False, device=None) -> ABAIR:
    """A freshly initialised ABAIR of a preset with named adapters (and an estimator over them).

    ``device="meta"`` allocates nothing (for counting parameters of large presets).
    """
    import torch

    cfg = preset_config(preset, seghead=seghead)
    specs = adapter_specs(adapters, adapter_type, rank)
    with torch.device(device or "cpu"):
        return ABAIR(cfg, specs)


def count_params(preset: str, adapters: int | Sequence[str] = 5, adapter_type: str = "lora",
                 rank: int = 4) -> dict:
    """Parameter counts of a preset (see :meth:`ABAIR.param_counts`), built on the meta device."""
    counts = build(preset, adapters, adapter_type, rank, seghead=True, device="meta").param_counts()
    counts = {"preset": preset, "adapter_type": adapter_type, "rank": rank, **counts}
    return counts
