"""``abair-bench datasets list|check|export``: what test and training sets exist, whether yours are
intact, and a Hugging Face copy of any test set. Nothing heavy is imported at module level."""

from __future__ import annotations

import sys
from pathlib import Path

from . import add_force


def _add_location(p, partial: bool = False) -> None:
    p.add_argument("--data-root", help="folder holding the real test sets (default $ABAIR_DATA)")
    p.add_argument("--dataset-path", action="append", metavar="NAME=PATH",
                   help="where one set (or family, e.g. cbsd68) lies, overriding discovery (repeatable)")
    if partial:
        p.add_argument("--allow-partial", action="store_true", help="export only the complete pairs of a broken set")
        p.add_argument("--noise-seeding", default="per-image", choices=["per-image", "promptir"],
                       help="test-time noise realisation of the CBSD68 sets (default per-image)")


def add_parser(sub) -> None:
    p = sub.add_parser("datasets", help="list, check and export test sets")
    dsub = p.add_subparsers(dest="datasets_command", metavar="SUBCOMMAND", required=True)

    ls = dsub.add_parser("list", help="every dataset (task, pairs, default protocol) and every suite")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=list_cmd)

    ck = dsub.add_parser(
        "check",
        help="find sets under --data-root, pair them and decode every image; list every problem by file",
        description="For each set: the layout detected, pairs found/expected and every problem (missing partner, "
        "extra file, size mismatch, unreadable or truncated image). Exit status 1 if a set asked for is broken "
        "or missing (without names: if any set found is broken).",
    )
    ck.add_argument("names", nargs="*", metavar="NAME",
                    help="datasets, training sets or suites (default: every real set of --split)")
    ck.add_argument("--split", choices=["test", "train", "corpus", "all"], default="test",
                    help="without names: check the test sets (default), the task training sets, the clean corpora "
                    "or all of them")
    ck.add_argument("--limit", type=int, metavar="N",
                    help="decode at most N pairs per set, an even sample (pairing by name still covers every file); "
                    "for large corpora such as lsdir-train")
    ck.add_argument("--no-progress", action="store_true", help="no progress lines on stderr while decoding")
    _add_location(ck)
    ck.set_defaults(func=check_cmd)

    ex = dsub.add_parser("export", help="write a set as a Hugging Face dataset (load it back as hf:DIR)")
    ex.add_argument("name", metavar="NAME", help="dataset name, e.g. rain100l or mini-derain")
    ex.add_argument("--to", required=True, metavar="DIR",
                    help="new or empty output folder (not in a run store); with --force, a folder with files")
    _add_location(ex, partial=True)
    add_force(ex, "--to")
    ex.set_defaults(func=export_cmd)


def _options(args):
    from bench.datasets import DATASETS, DatasetOptions
    from bench.datasets.real import validate_dataset_paths

    from .run import parse_dataset_paths

    paths = parse_dataset_paths(getattr(args, "dataset_path", None))
    validate_dataset_paths(paths, DATASETS.names())
    return DatasetOptions(
        data_root=args.data_root,
        dataset_paths=paths,
        noise_seeding=getattr(args, "noise_seeding", "per-image"),
        allow_partial=getattr(args, "allow_partial", False),
    )


def dataset_rows() -> list[dict]:
    """One row per registered dataset, with the suites it belongs to."""
    from bench.datasets import DATASETS, SUITES

    rows = []
    for name in DATASETS.names():
        meta = DATASETS.entry(name).meta
        rows.append({
            "name": name,
            "task": meta.get("task", "?"),
            "count": meta.get("count"),
            "protocol": meta.get("protocol", "?"),
            "suites": [s for s, members in SUITES.items() if name in members],
            "summary": meta.get("summary", ""),
            "split": meta.get("split", "test"),
        })
    return rows


_GROUPS = {
    "train": "training sets (abair-bench train --train-data DEGRADATION=NAME; not scored by run)",
    "corpus": "clean corpora (abair-bench train --clean-data NAME; not scored by run)",
}


def list_cmd(args) -> int:
    import json

    from bench.datasets import SUITES

    rows = dataset_rows()
    if args.json:
        print(json.dumps({"datasets": rows, "suites": SUITES}, indent=2))
        return 0
    w = max(len(r["name"]) for r in rows)
    print(f"{'dataset':<{w}}  {'task':<9} {'pairs':>6}  {'protocol':<13} suites")
    for r in rows:
        if r["split"] == "test":
            print(f"{r['name']:<{w}}  {r['task']:<9} {r['count'] if r['count'] is not None else '?':>6}  "
                  f"{r['protocol']:<13} {','.join(r['suites']) or '-'}")
    for split, title in _GROUPS.items():
        group = [r for r in rows if r["split"] == split]
        if group:
            print(f"\n{title}:")
            print(f"{'name':<{w}}  {'task':<9} {'count':>6}  summary")
            for r in group:
                print(f"{r['name']:<{w}}  {r['task']:<9} {r['count'] if r['count'] is not None else '-':>6}  "
                      f"{r['summary']}")
    print("\nsuites:")
    for suite, members in SUITES.items():
        print(f"  {suite}: {', '.join(members)}")
    print("\nany dataset may also be given as hf:<folder> (a Hugging Face export, see 'datasets export')")
    return 0


def check_cmd(args) -> int:
    from bench.datasets import SUITES
    from bench.datasets.real.check import _Decoded, check_set
    from bench.datasets.real.table import SETS

    options = _options(args)
    asked = bool(args.names)
    if args.limit is not None and args.limit < 1:
        from abair.errors import UserError

        raise UserError(f"--limit must be at least 1, got {args.limit}")
    split = getattr(args, "split", "test")
    default = [n for n, spec in SETS.items() if split == "all" or spec.split == split]
    names: list[str] = []
    for name in args.names or default:
        members = SUITES[name] if name in SUITES and name not in SETS else [name]
        names += [n for n in members if n not in names]
    decoded = _Decoded()
    counts = {"ok": 0, "broken": 0, "not-found": 0}
    failed = False
    progress = None if getattr(args, "no_progress", False) else _progress
    for name in names:
        report = check_set(name, options, decoded, limit=args.limit, progress=progress)
        for line in report.lines():
            print(line)
        sys.stdout.flush()
        status = "ok" if report.ok else report.status
        counts[status] += 1
        if report.status == "broken" or (asked and report.status == "not-found"):
            failed = True
    print(f"checked {len(names)} sets: {counts['ok']} ok, {counts['broken']} broken, {counts['not-found']} not found")
    return 1 if failed else 0


def _progress(name: str, done: int, total: int, every: int = 1000) -> None:
    """A line on stderr every ``every`` decoded pairs of a set with more than that many."""
    if total > every and (done % every == 0 or done == total):
        print(f"{name}: decoded {done}/{total}", file=sys.stderr, flush=True)


def export_cmd(args) -> int:
    from abair.errors import UserError
    from bench.datasets import get_dataset
    from bench.datasets.real.hf import export
    from bench.paths import check_output_dir, check_outside_store, writing

    to = check_output_dir(args.to, "--to")
    check_outside_store(to, "--to", folder=True, example=args.name)
    filled = to.is_dir() and any(to.iterdir())
    if filled and not args.force:
        raise UserError(f"--to {to} is not empty; give a new or empty folder, or add --force to write the export "
                        "into it (its files of the export's names are replaced, the others kept)")
    dataset = get_dataset(args.name, _options(args))
    if not filled:
        n = export(dataset, to)
    else:  # export beside it, then move the files in (replacing those of the same names)
        import os
        import shutil
        import tempfile

        with writing(to, "--to"):
            staging = Path(tempfile.mkdtemp(prefix=".abair-export-", dir=to))
            try:
                n = export(dataset, staging / "dataset")
                for item in (staging / "dataset").iterdir():
                    os.replace(item, to / item.name)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    print(f"{args.name}: {n} pairs -> {args.to} (load it back as hf:{args.to})")
    return 0
