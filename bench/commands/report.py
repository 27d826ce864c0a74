"""``abair-bench report``: one self-contained HTML report (and exports) from run directories."""

from __future__ import annotations

from . import add_force, csv_list


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="the paper's tables, Figure 1, statistics, grids and a protocol audit from runs -> one HTML file",
        description="Regenerate the ABAIR paper's Tables 1-8 and Figure 1 from run directories, beside the "
        "paper's own numbers, with bootstrap intervals, paired comparisons, qualitative grids and a protocol "
        "audit, as one self-contained HTML file. Reads run stores only; runs no model.",
    )
    p.add_argument("--runs", nargs="+", required=True, metavar="DIR", help="run directories ('abair-bench run --out')")
    p.add_argument("--out", required=True, help="the HTML file to write, e.g. report.html or RUN/report.html "
                   "(not a run store's own file)")
    p.add_argument("--tables", help="comma-separated tables to show: 1,2,3,4,5,6 (=6a,6b),6a,6b,7,8 (default all)")
    p.add_argument("--exports", metavar="DIR", help="also write CSV, Markdown and LaTeX of every table, the "
                   "figures (PNG, SVG) and the audit and comparisons (CSV) to DIR")
    p.add_argument("--protocol", help="use this protocol's records for the tables (default: each dataset's own)")
    p.add_argument("--grid", action="append", metavar="DATASET:IMAGE_ID",
                   help="an image for the qualitative grid (repeatable; default: each dataset's median image)")
    p.add_argument("--compare", nargs=2, action="append", metavar=("A", "B"),
                   help="paired comparison of methods A and B (METHOD or RUN/METHOD; repeatable; default: "
                   "the best vs the second-best method on each dataset)")
    p.add_argument("--no-audit", action="store_true", help="skip the protocol audit")
    p.add_argument("--audit-protocols", help="comma-separated protocol specs for the audit (default: all available)")
    p.add_argument("--audit-limit", metavar="N|all",
                   help="audit N images of each method and dataset, spread evenly over the set (default 4: a "
                   "sample; 'all': every saved image, the slow full audit)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples, 100 to 100000 (default 2000)")
    p.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--ci-method", choices=["bca", "percentile"], default="bca",
                   help="bootstrap interval: bias-corrected and accelerated (default) or plain percentile")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed, an integer >= 0 (default 0)")
    p.add_argument("--data-root", help="folder holding the real test sets (for grids and audit; default $ABAIR_DATA)")
    p.add_argument("--profiles", nargs="+", metavar="DIR",
                   help="add a throughput section from 'abair-bench profile --out' directories")
    add_force(p, "--out and --exports")
    p.set_defaults(func=main)


def parse_grid(items: list[str] | None) -> list[tuple[str, str]] | None:
    """``["mini-derain:astronaut-r0c0"]`` -> ``[("mini-derain", "astronaut-r0c0")]``."""
    from abair.errors import UserError

    if not items:
        return None
    out = []
    for item in items:
        dataset, sep, image_id = item.partition(":")
        if not sep or not dataset or not image_id:
            raise UserError(f"--grid '{item}' must look like DATASET:IMAGE_ID")
        out.append((dataset, image_id))
    return out


def main(args) -> int:
    from bench.report.build import ReportOptions, make_report

    options = ReportOptions(
        runs=args.runs, out=args.out, tables=csv_list(args.tables, "--tables"), exports=args.exports,
        protocol=args.protocol, grids=parse_grid(args.grid),
        compare=[tuple(c) for c in args.compare] if args.compare else None, audit=not args.no_audit,
        audit_protocols=csv_list(args.audit_protocols, "--audit-protocols"), audit_limit=args.audit_limit,
        n_boot=args.n_boot, confidence=args.confidence, seed=args.seed, ci_method=args.ci_method,
        data_root=args.data_root, profiles=args.profiles, force=args.force,
    )  # make_report checks every option and output path before it reads a run
    result = make_report(options)
    size = result.html.stat().st_size
    print(f"report: {result.html} ({size / 1e6:.1f} MB, {len(result.tables)} tables)")
    if result.exported:
        print(f"exports: {len(result.exported)} files in {args.exports}")
    return 0
