"""``abair-bench profile``: throughput, latency, FLOPs and memory per adapter configuration.

Nothing heavy is imported at module level (``abair-bench --help`` must stay fast).
"""

from __future__ import annotations

from . import add_force, csv_list


def add_parser(sub) -> None:
    p = sub.add_parser(
        "profile",
        help="time ABAIR per adapter configuration (backbone, merged/unmerged adapters, OH, SW, estimator) "
        "and the Restormer/PromptIR baselines -> JSON, CSV, plot",
        description="Measure images/s, latency median and p90, peak memory, FLOPs and achieved FLOP/s per "
        "configuration: warm-up, a minimum measured duration per repeat, several repeats interleaved across "
        "configurations, CUDA events on GPU. Writes profile.json, profile.csv and profile.png to --out.",
    )
    p.add_argument("--preset", default="tiny", help="ABAIR preset: tiny, small or paper (default tiny)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--sizes", default="256", help="comma-separated square input sizes in pixels, multiples of 8 "
                   "(default 256)")
    p.add_argument("--batch", default="1", help="comma-separated batch sizes (default 1)")
    p.add_argument("--configs", help="comma-separated configurations (default all 23, eight large baselines "
                   "included: about 19 minutes and 5.6 GB on 2 CPU cores; see --list)")
    p.add_argument("--dtype", default="fp32", help="comma-separated dtypes: fp32, bf16, fp16 (default fp32)")
    p.add_argument("--compile", action="store_true", help="time torch.compile'd calls (FLOPs from the eager call)")
    p.add_argument("--min-seconds", type=float, default=1.0,
                   help="minimum measured time per configuration and repeat (default 1.0)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per configuration (default 5)")
    p.add_argument("--warmup-seconds", type=float, default=1.0,
                   help="minimum warm-up time per configuration, at least one call (default 1.0)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input batch (default 0)")
    p.add_argument("--out", help="directory for profile.json, profile.csv and profile.png")
    p.add_argument("--checkpoint", help="time a trained ABAIR model (e.g. abair/weights/abair-tiny.safetensors): the "
                   "LoRA rank-4 configurations (none, fixed, oh, oh-merged, sw, sw-merged, estimator, ...) run it "
                   "with its own adapters and estimator; its preset replaces --preset. Without it every ABAIR "
                   "configuration runs seeded random adapters and estimator (the cost does not depend on them)")
    p.add_argument("--list", action="store_true", help="list the configurations and exit")
    add_force(p, "--out")
    p.set_defaults(func=main)


def _ints(text: str, flag: str) -> list[int]:
    from abair.errors import UserError

    try:
        return [int(v) for v in csv_list(text) or []]
    except ValueError:
        raise UserError(f"{flag} '{text}' must be comma-separated integers, e.g. 256,512") from None


def _is_profile(folder) -> bool:
    """``folder`` holds a profile.json that ``abair-bench profile`` wrote."""
    from abair.errors import UserError
    from bench.profile.output import load_profile

    try:
        load_profile(folder)
    except UserError:
        return False
    return True


def _output():
    """What ``profile --out`` writes; an earlier profile (its profile.json) may be overwritten."""
    from bench.paths import FolderOutput
    from bench.profile.output import CSV_NAME, JSON_NAME, PLOT_NAME

    return FolderOutput("abair-bench profile", (JSON_NAME, CSV_NAME, PLOT_NAME), recognise=_is_profile,
                        example="profile")


def main(args) -> int:
    from abair.errors import UserError
    from bench.paths import check_output_folder
    from bench.profile.configs import CONFIGS

    if args.list:
        width = max(map(len, CONFIGS))
        for name, cfg in CONFIGS.items():
            print(f"{name:<{width}}  {cfg.summary}")
        return 0
    if not args.out:
        raise UserError("profile needs --out DIR (where profile.json, profile.csv and profile.png go)")
    from bench.profile.output import write_profile
    from bench.profile.run import ProfileSettings, profile

    check_output_folder(args.out, "--out", _output(), force=args.force)  # before minutes of timing
    preset = args.preset
    if args.checkpoint:
        from abair.model.checkpoint import read_config

        preset = read_config(args.checkpoint).get("model", {}).get("preset", preset)
    settings = ProfileSettings(
        preset=preset, checkpoint=args.checkpoint, device=args.device, sizes=_ints(args.sizes, "--sizes"),
        batches=_ints(args.batch, "--batch"), configs=csv_list(args.configs),
        dtypes=csv_list(args.dtype) or ["fp32"], compile=args.compile, min_seconds=args.min_seconds,
        repeats=args.repeats, warmup_seconds=args.warmup_seconds, seed=args.seed, threads=args.threads,
    )
    settings.validate()  # before any model is built: bad names fail in well under a second
    paths = write_profile(profile(settings), args.out)
    print("profile: " + ", ".join(str(p) for p in paths))
    return 0
