"""``abair-bench run``: score methods on datasets under named protocols into a run directory."""

from __future__ import annotations

from . import csv_list, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="restore and score: methods x datasets x protocols -> DIR/records.csv + DIR/manifest.json",
        description="Restore every image of the chosen datasets with every method and score it under "
        "each protocol. Records are appended as they are made; rerunning into the same --out resumes.",
    )
    p.add_argument("--suite", help="a named suite, e.g. 'mini' (the embedded default: no downloads)")
    p.add_argument("--datasets", help="comma-separated dataset names (all of the suite if omitted)")
    p.add_argument("--methods", required=True, help="comma-separated method names (see 'abair-bench methods list')")
    p.add_argument("--protocols", help="comma-separated protocol specs, e.g. allinone-rgb,y-bt601@pyiqa "
                   "(default: each dataset's own; a bare name is scored by the exact torch backend, "
                   "name@skimage by the scikit-image reference)")
    p.add_argument("--metric-weights", metavar="DIR",
                   help="local weights for learned metrics (the lpips protocol), laid out like torch's hub "
                   "cache: DIR/pyiqa/..., DIR/checkpoints/...; nothing is downloaded")
    p.add_argument("--out", required=True, help="run directory (created; an existing one is resumed)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="score only the first N images of each dataset (N >= 1)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--save-images", action="store_true", help="write restored PNGs to DIR/images/METHOD/DATASET/")
    p.add_argument("--checkpoint", help="checkpoint for every method that takes one (the abair-* methods)")
    p.add_argument("--method-arg", action="append", metavar="METHOD.KEY=VALUE",
                   help="an option for one method, e.g. restormer.checkpoint=/w/deraining.pth; METHOD as in "
                   "--methods or as recorded (folder:theirs=/x -> theirs.strict=false) (repeatable)")
    p.add_argument("--data-root", help="folder holding the real test sets (default $ABAIR_DATA)")
    p.add_argument("--dataset-path", action="append", metavar="NAME=PATH",
                   help="where one dataset of the run (or its family: cbsd68) lies, overriding discovery "
                   "(repeatable; a NAME the run does not score is refused)")
    p.add_argument("--allow-partial", action="store_true",
                   help="score a real set with missing pairs (the missing ids are recorded in the manifest)")
    p.add_argument("--noise-seeding", default="per-image", choices=["per-image", "promptir"],
                   help="test-time noise realisation for the CBSD68 sets (default per-image)")
    p.add_argument("--tile", type=positive_int, metavar="N",
                   help="tiled inference with tiles of N pixels (large images); part of each method's config")
    p.add_argument("--tile-overlap", type=int, default=32, help="overlap between tiles in pixels (default 32)")
    p.add_argument("--tile-blend", default="linear", choices=["linear", "gaussian", "none"],
                   help="how overlapping tiles are blended (default linear)")
    p.add_argument("--batch", type=positive_int, default=1, metavar="N",
                   help="restore up to N images of one size per call (capped by each method's max_batch; "
                   "pays off on GPUs); records are one per image, seconds = batch time / batch size")
    p.add_argument("--jobs", type=positive_int, default=1, metavar="N",
                   help="run as N processes on this machine, each restoring a share of every dataset's images "
                   "(like torchrun --nproc-per-node N; on CPU each gets cores/N threads); default 1")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


def parse_dataset_paths(items: list[str] | None) -> dict[str, str]:
    from abair.errors import UserError, shorten

    out = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UserError(f"--dataset-path '{shorten(item)}' must look like NAME=PATH")
        out[name] = path
    return out


def main(args) -> int:
    from abair.errors import UserError
    from bench.datasets import DATASETS, DatasetOptions, resolve_names
    from bench.datasets.real import validate_dataset_paths
    from bench.local_jobs import is_child, run_jobs
    from bench.method_args import parse_method_args
    from bench.paths import check_output_dir
    from bench.run_args import check_dataset_paths_used, check_protocols
    from bench.runner import RunSpec, run

    check_output_dir(args.out, "--out")
    if args.jobs > 1 and not is_child():
        if args.device.startswith("cuda"):
            raise UserError("--jobs is for CPU runs; on GPUs start one process per device with torchrun")
        return run_jobs(args.argv, args.jobs)
    if args.metric_weights is not None:
        from bench.protocols.learned import set_weights_dir

        set_weights_dir(args.metric_weights)
    methods = csv_list(args.methods, "--methods", required=True)
    dataset_paths = parse_dataset_paths(args.dataset_path)
    validate_dataset_paths(dataset_paths, DATASETS.names())
    datasets = resolve_names(args.suite, csv_list(args.datasets, "--datasets"))
    check_dataset_paths_used(dataset_paths, datasets)
    protocols = csv_list(args.protocols, "--protocols")
    check_protocols(protocols)
    spec = RunSpec(
        out=args.out,
        methods=methods,
        datasets=datasets,
        protocols=protocols,
        method_args=parse_method_args(args.method_arg, methods),
        checkpoint=args.checkpoint,
        dataset_options=DatasetOptions(
            data_root=args.data_root,
            dataset_paths=dataset_paths,
            noise_seeding=args.noise_seeding,
            allow_partial=args.allow_partial,
        ),
        limit=args.limit,
        device=args.device,
        save_images=args.save_images,
        tile=args.tile,
        tile_overlap=args.tile_overlap,
        tile_blend=args.tile_blend,
        batch=args.batch,
        progress=not args.no_progress,
    )
    summary = run(spec)
    if summary is not None:
        print(format_summary(summary))
        print(f"records: {args.out}/records.csv  manifest: {args.out}/manifest.json")
    return 0


#: the unit of each metric in the run summary's headers (the others are unitless)
UNITS = {"psnr": "dB"}


def format_summary(summary) -> str:
    """Mean per method x dataset, one column per protocol:metric (PSNR in dB, SSIM and LPIPS unitless,
    0..1), the mean restoration seconds per image (``s/image``), and the images each mean is over:
    one ``n`` column when every mean of a row counts the same images, else ``n:PROTOCOL:METRIC`` per
    mean. A last line states the units."""
    cols = summary.assign(col=summary["protocol"] + ":" + summary["metric"])
    table = cols.pivot_table(index=["method", "dataset"], columns="col", values="mean", sort=False)
    counts = cols.pivot_table(index=["method", "dataset"], columns="col", values="n", sort=False)
    headers = {c: f"{c} [{UNITS[c.rsplit(':', 1)[1]]}]" if c.rsplit(":", 1)[1] in UNITS else c for c in table.columns}
    fmt = {headers[c]: ("{:.4f}".format if c.endswith(":ssim") else "{:.2f}".format) for c in table.columns}
    table = table.rename(columns=headers).rename_axis(columns=None)  # no pivot-axis name above the index
    if "seconds" in cols:
        table["s/image"] = cols.groupby(["method", "dataset"], sort=False)["seconds"].mean()
        fmt["s/image"] = "{:.4f}".format
    if counts.nunique(axis=1, dropna=True).le(1).all():
        table["n"] = counts.max(axis=1).astype(int)
    else:
        for c in counts.columns:
            table[f"n:{c}"] = counts[c].astype("Int64")
    units = ("PSNR in dB; SSIM (and LPIPS) unitless, 0..1; s/image: wall seconds of restoration per image "
             "(mean); n: images")
    return table.to_string(formatters=fmt) + "\n" + units
