"""``abair-bench suite export``: write a suite's pairs as PNG files (the exact bytes the runner scores)."""

from __future__ import annotations

import json

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
    from bench.store import file_stem

    options = DatasetOptions(data_root=args.data_root)
    total = 0
    for name in names:
        dataset = get_dataset(name, options)
        folder = out / file_stem(name)
        renamed = {}
        with writing(out, "--out"):
            output.mark(out)
            for pair in dataset:
                relative = export_name(pair.image_id)
                if relative != pair.image_id:
                    renamed[pair.image_id] = relative
                for kind, image in zip(KINDS, (pair.degraded, pair.clean), strict=True):
                    path = folder / kind / f"{relative}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(image).save(path)
                total += 1
            if renamed:
                (folder / RENAMED).write_text(json.dumps(renamed, indent=1, sort_keys=True) + "\n")
        note = f" ({len(renamed)} ids renamed to safe file names: {folder / RENAMED})" if renamed else ""
        print(f"{name}: {len(dataset)} pairs -> {folder}{note}")
    print(f"exported {total} pairs to {out}")
    return 0


#: written beside a dataset's exported pairs when some image ids could not be file names as they are
RENAMED = "image_files.json"


def export_name(image_id: str) -> str:
    """The file name (without ``.png``, relative to ``<dataset>/<kind>/``) of an exported pair: the id
    itself when it is a relative path of safe names (``0001``, ``train/0001``), else one safe file name
    derived from it (:func:`bench.store.file_stem`): a path never comes from data (``../x``, ``/abs/x``,
    a 300-character id)."""
    from bench.store import file_stem

    parts = image_id.split("/")
    if len(image_id) <= 200 and all(part and file_stem(part) == part for part in parts):
        return image_id
    return file_stem(image_id)
