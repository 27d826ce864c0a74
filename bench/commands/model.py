"""``abair-bench model info``: parameter counts of an ABAIR preset or checkpoint.

Counts are made on torch's meta device (nothing is allocated), so ``--preset paper`` answers in
about a second. Nothing heavy is imported at module level.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "model",
        help="describe the ABAIR model: parameter counts per preset, adapter type and rank",
        description="Describe the ABAIR model (backbone, adapters, estimator, segmentation head).",
    )
    actions = parser.add_subparsers(dest="model_action", metavar="ACTION", required=True)
    info = actions.add_parser(
        "info",
        help="parameter counts (total, backbone, adapters, estimator; segmentation head apart)",
        description="Parameter counts of a preset with N adapters of one type and rank, or of a checkpoint. "
        "total_params = backbone + adapters + estimator; the Phase-I segmentation head is reported apart.",
    )
    info.add_argument("--preset", default="paper", help="tiny, small or paper (default paper)")
    info.add_argument("--adapter-type", default="lora", choices=["lora", "vera", "conv-lora"],
                      help="adapter type (default lora)")
    info.add_argument("--rank", type=int, default=4, help="adapter rank (default 4)")
    info.add_argument("--adapters", type=int, default=5,
                      help="number of adapters, named after the first N degradation classes (default 5)")
    info.add_argument("--checkpoint", help="describe this checkpoint instead (its own preset and adapters)")
    info.add_argument("--json", action="store_true", help="print the counts as JSON")
    info.set_defaults(func=info_command)


def _describe_checkpoint(path: str) -> dict:
    import torch

    from abair.model.abair import ABAIR, ABAIRConfig
    from abair.model.adapters import AdapterSpec
    from abair.model.checkpoint import read_config
    from abair.model.estimator import DegradationEstimator

    config = read_config(path)
    mcfg = ABAIRConfig.from_json(config["model"])
    specs = [AdapterSpec.from_json(a) for a in config["adapters"]]
    names = config.get("estimator_names")
    with torch.device("meta"):
        model = ABAIR(ABAIRConfig(mcfg.preset, mcfg.backbone, mcfg.estimator, mcfg.class_order, seghead=True), specs)
        if names is None or mcfg.estimator is None or config.get("kind") == "adapter":
            model.estimator = None
        elif len(names) != len(specs):
            model.estimator = DegradationEstimator(mcfg.estimator, len(names))
    counts = model.param_counts()
    types = sorted({s.type for s in specs})
    ranks = sorted({s.rank for s in specs})
    return {
        "checkpoint": str(path),
        "kind": config.get("kind"),
        "preset": mcfg.preset,
        "adapter_type": ",".join(types) or None,
        "rank": ranks[0] if len(ranks) == 1 else ranks,
        **counts,
    }


def info_command(args: argparse.Namespace) -> int:
    import json

    from abair.errors import UserError

    if args.checkpoint:
        counts = _describe_checkpoint(args.checkpoint)
    else:
        from abair.model.presets import count_params

        if args.rank < 1:
            raise UserError(f"--rank must be >= 1, got {args.rank}")
        counts = count_params(args.preset, args.adapters, args.adapter_type, args.rank)
    if args.json:
        print(json.dumps(counts, indent=2))
        return 0
    head = counts.get("checkpoint") or f"preset {counts['preset']}"
    print(f"{head}: {len(counts['per_adapter_params'])} x {counts['adapter_type']} adapter(s), rank {counts['rank']}")
    rows = [
        ("total (backbone + adapters + estimator)", counts["total_params"]),
        ("backbone (incl. prompt blocks)", counts["backbone_params"]),
        ("adapters (trainable)", counts["adapter_params"]),
        *((f"  {name}", n) for name, n in counts["per_adapter_params"].items()),
        ("adapter frozen buffers (VeRA)", counts["adapter_frozen_buffers"]),
        ("estimator", counts["estimator_params"]),
        ("segmentation head (Phase I only, not in total)", counts["seghead_params"]),
    ]
    width = max(len(r[0]) for r in rows)
    for label, n in rows:
        print(f"{label:<{width}}  {n:>12,}  ({n / 1e6:.2f}M)")
    return 0
