"""``abair-bench sweep``: every method over degradations of growing severity and their compositions."""

from __future__ import annotations

from . import csv_list, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="severity and composition sweeps: methods x (degradation, level) points -> a run directory",
        description="Degrade clean images at explicit severities (and compositions of 2-3 degradations in "
        "every order), restore them with every method and score them into a run directory (records.csv, "
        "manifest.json; a rerun resumes). 'abair-bench report --runs DIR' then draws PSNR/SSIM against "
        "severity and a composition heat map. See docs/SWEEPS.md.",
    )
    p.add_argument("--methods", required=True, help="comma-separated method names (see 'abair-bench methods list'); "
                   "include identity: it is the input's floor in the plots")
    p.add_argument("--out", required=True, help="run directory (created; an existing one is resumed)")
    p.add_argument("--spec", default="default",
                   help="a shipped sweep spec (default, smoke) or a YAML file (default: default)")
    p.add_argument("--source", default="test-pool",
                   help="clean images: test-pool (the mini suite's 34 clean tiles; default), a registered test "
                   "set's ground truth (e.g. cbsd68-s25 with --data-root), or folder:PATH")
    p.add_argument("--images", type=positive_int, metavar="N",
                   help="N clean images, evenly spaced over the source (default: the spec's 'images')")
    p.add_argument("--limit", type=positive_int, metavar="N", help="score only the first N images of each point")
    p.add_argument("--checkpoint", help="checkpoint for every method that takes one (the abair-* methods)")
    p.add_argument("--method-arg", action="append", metavar="METHOD.KEY=VALUE",
                   help="an option for one method, e.g. nlm.h_factor=0.8 (repeatable)")
    p.add_argument("--data-root", help="folder holding the real test sets (for --source NAME)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--batch", type=positive_int, default=1, metavar="N",
                   help="restore up to N images of one size per call (capped by each method's max_batch)")
    p.add_argument("--save-images", action="store_true", help="write restored PNGs to DIR/images/METHOD/POINT/")
    p.add_argument("--jobs", type=positive_int, default=1, metavar="N",
                   help="run as N processes on this machine, each restoring a share of every point's images")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


def main(args) -> int:
    from abair.errors import UserError
    from bench.datasets import DatasetOptions
    from bench.local_jobs import is_child, run_jobs
    from bench.method_args import parse_method_args
    from bench.paths import check_output_dir
    from bench.sweeps.run import SweepRequest, build, run_sweep

    check_output_dir(args.out, "--out")
    methods = csv_list(args.methods, "--methods", required=True)
    request = SweepRequest(
        out=args.out, methods=methods, spec=args.spec, source=args.source, images=args.images, limit=args.limit,
        method_args=parse_method_args(args.method_arg, methods), checkpoint=args.checkpoint,
        dataset_options=DatasetOptions(data_root=args.data_root), device=args.device, batch=args.batch,
        save_images=args.save_images, progress=not args.no_progress,
    )
    if args.jobs > 1 and not is_child():
        if args.device.startswith("cuda"):
            raise UserError("--jobs is for CPU runs; on GPUs start one process per device with torchrun")
        build(request)  # a bad spec or source is one line here, not one per rank
        return run_jobs(args.argv, args.jobs)
    summary = run_sweep(request)
    if summary is not None:
        print(format_summary(summary))
        print(f"records: {args.out}/records.csv  manifest: {args.out}/manifest.json  "
              f"(plots: abair-bench report --runs {args.out} --out {args.out}/report.html)")
    return 0


def format_summary(summary) -> str:
    """Mean PSNR per point (rows) and method (columns), and the images each mean is over."""
    psnr = summary[summary["metric"] == "psnr"]
    table = psnr.pivot_table(index="dataset", columns="method", values="mean", sort=False)
    table.index = [name.removeprefix("sweep:") for name in table.index]
    table.index.name = "point (PSNR dB)"
    n = int(psnr["n"].max()) if len(psnr) else 0
    return table.to_string(float_format="{:.2f}".format) + f"\n(means over up to {n} images per point)"
