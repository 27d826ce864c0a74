"""``abair-bench suite export``: write a suite's pairs as PNG files (the exact bytes the runner scores)."""

from __future__ import annotations

from . import add_force, csv_list

KINDS = ("degraded", "clean")  # DIR/<dataset>/<kind>/<image_id>.png
MARKER = ".abair-bench-suite-export"  # left in --out: a later export may overwrite the folder's PNGs


def add_parser(sub) -> None:
    p = sub.add_parser("suite", help="work with whole suites (export)")
    ssub = p.add_subparsers(dest="suite_command", metavar="SUBCOMMAND", required=True)
    e = ssub.add_parser(
        "export",
        help="write DIR/<dataset>/{degraded,clean}/<image_id>.png for every pair of a suite",
    )
    e.add_argument("--suite", required=True, help="suite name, e.g. mini")
    e.add_argument("--datasets", help="comma-separated subset of the suite's datasets")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--data-root", help="folder holding real test sets (for suites of real sets)")
    add_force(e, "--out")
    e.set_defaults(func=export)


def export(args) -> int:
    from PIL import Image

    from bench.datasets import DatasetOptions, get_dataset, resolve_names
    from bench.paths import FolderOutput, check_output_folder, writing

    names = resolve_names(args.suite, csv_list(args.datasets, "--datasets"))
    output = FolderOutput("abair-bench suite export", tuple(f"{n}/{k}/*.png" for n in names for k in KINDS), MARKER,
                          example="pairs")
    out = check_output_folder(args.out, "--out", output, force=getattr(args, "force", False))
    options = DatasetOptions(data_root=args.data_root)
    total = 0
    for name in names:
        dataset = get_dataset(name, options)
        with writing(out, "--out"):
            output.mark(out)
            for pair in dataset:
                for kind, image in zip(KINDS, (pair.degraded, pair.clean), strict=True):
                    path = out / name / kind / f"{pair.image_id}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(image).save(path)
                total += 1
        print(f"{name}: {len(dataset)} pairs -> {out / name}")
    print(f"exported {total} pairs to {out}")
    return 0
