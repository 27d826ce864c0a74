"""Assemble a report from run directories: tables, statistics, figures, audit, exports, HTML.

:func:`make_report` is what ``abair-bench report`` calls. It reads run stores and the paper's
numbers only; no model runs.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from abair.errors import UserError, unknown_name
from bench.paths import FolderOutput, check_output_file, check_output_folder, writing

from .coverage import expected_count, of_text, partial_sets
from .stats import DEFAULT_CONFIDENCE, DEFAULT_N_BOOT, DEFAULT_SEED, METHODS

# (paper figure it stands for or "", table whose datasets it shows, what)
GRID_GROUPS = (("4", "1", "known tasks"), ("5", "4", "unseen tasks"), ("", "5", "mixed degradations"))

GENERATOR = '<meta name="generator" content="abair-bench report">'
"""The tag in every report's head: a report may replace an HTML file carrying it without --force."""
_OLD_REPORT = "ABAIR (arXiv 2411.18412) tables regenerated from"  # the sub-title of reports made before the tag
EXPORTS = FolderOutput(
    "abair-bench report --exports",
    ("table-*.csv", "table-*.md", "table-*.tex", "radar-*.png", "radar-*.svg", "grid-*.jpg", "protocol-audit.csv",
     "paired-comparisons.csv", "sweep-*.svg", "sweep-*.png", "sweep-*.csv"),
    marker=".abair-bench-exports",
)
N_BOOT_RANGE = (100, 100_000)  # bootstrap resamples: fewer make a 95% interval unreliable, more exhaust memory


@dataclass
class ReportOptions:
    """Everything ``abair-bench report`` was asked to do (see ``abair-bench report --help``)."""

    runs: list[str]
    out: str
    tables: list[str] | None = None
    exports: str | None = None
    protocol: str | None = None
    grids: list[tuple[str, str]] | None = None
    compare: list[tuple[str, str]] | None = None
    audit: bool = True
    audit_protocols: list[str] | None = None
    audit_limit: int | str | None = None  # None: the audit's default sample; "all": every image
    n_boot: int = DEFAULT_N_BOOT
    confidence: float = DEFAULT_CONFIDENCE
    seed: int = DEFAULT_SEED
    ci_method: str = "bca"
    data_root: str | None = None
    profiles: list[str] | None = None  # 'abair-bench profile --out' directories to show
    force: bool = False  # overwrite an --out file / --exports files that a report did not write
    title: str = "abair-bench report"
    command: str = field(default_factory=lambda: shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]))


@dataclass
class ReportResult:
    html: Path
    tables: list  # BuiltTable
    comparisons: list  # (dataset, metric, PairedComparison)
    audit: Any  # AuditResult | None
    exported: list[Path]


def resolve_method(runs, token: str) -> tuple[str, str]:
    """``METHOD`` (in exactly one run) or ``RUN/METHOD`` -> ``(run, method)``."""
    pairs = runs.methods()
    run, sep, method = token.partition("/")
    if sep and run in runs.dirs:
        if (run, method) not in pairs:
            raise unknown_name(f"method in run '{run}'", method, [m for r, m in pairs if r == run])
        return run, method
    hits = [(r, m) for r, m in pairs if m == token]
    if not hits:
        raise unknown_name("method", token, sorted({m for _, m in pairs}))
    if len(hits) > 1:
        raise UserError(f"method '{token}' is in runs {', '.join(r for r, _ in hits)}; write RUN/{token}")
    return hits[0]


def comparisons(runs, scored, requested, *, n_boot, confidence, seed, ci_method):
    """Paired comparisons per dataset and metric; default: the best vs the second-best method by
    mean PSNR on each dataset. Returns ``(list of (dataset, metric, PairedComparison), note)``."""
    from .stats import paired_comparison

    def label(pair):
        multi = len({r for r, m in runs.methods() if m == pair[1]}) > 1
        return f"{pair[0]}/{pair[1]}" if multi else pair[1]

    def series(pair, dataset, metric):
        d = scored[(scored["run"] == pair[0]) & (scored["method"] == pair[1]) & (scored["dataset"] == dataset)
                   & (scored["metric"] == metric)]
        return d.set_index("image_id")["value"]

    jobs = []
    if requested:
        for a_tok, b_tok in requested:
            a, b = resolve_method(runs, a_tok), resolve_method(runs, b_tok)
            for dataset in dict.fromkeys(scored["dataset"]):
                if len(series(a, dataset, "psnr")) and len(series(b, dataset, "psnr")):
                    jobs.append((dataset, a, b))
    else:
        psnr = scored[scored["metric"] == "psnr"]
        for dataset, d in psnr.groupby("dataset", sort=False):
            means = d.groupby(["run", "method"], sort=False)["value"].mean().sort_values(ascending=False)
            if len(means) >= 2:
                jobs.append((dataset, means.index[0], means.index[1]))
    out = []
    for dataset, a, b in jobs:
        for metric in ("psnr", "ssim"):
            sa, sb = series(a, dataset, metric), series(b, dataset, metric)
            if len(sa.index.intersection(sb.index)) == 0:
                continue
            out.append((dataset, metric, paired_comparison(sa, sb, name_a=label(a), name_b=label(b), n_boot=n_boot,
                                                           confidence=confidence, seed=seed, method=ci_method)))
    note = "" if out else ("the runs hold one method only" if len(runs.methods()) < 2
                           else "the requested methods share no image")
    return out, note


def shown_comparisons(runs, comps) -> tuple[list, str]:
    """The comparisons of :func:`comparisons` that the report's table shows, and a note on the rest:
    every ordinary dataset's; of sweep points only those at an end of the sweep
    (:func:`.sweep_data.end_points`), since a sweep has dozens of points. The exported CSV keeps all."""
    from .sweep_data import end_points, point_info

    info = point_info(runs)
    ends = end_points(info)
    left = [dataset for dataset, _, _ in comps if dataset in info and dataset not in ends]
    if not left:
        return comps, ""
    total = sum(dataset in info for dataset, _, _ in comps)
    gone = set(left)
    note = (f"{len(left)} of the {total} sweep-point comparisons ({len(gone)} points) are not shown: for sweep "
            "points the table keeps the lowest and highest level of each axis and each composition in its written "
            "order and reversed. The sweep section plots every point; --exports writes every comparison to "
            "paired-comparisons.csv.")
    return [c for c in comps if c[0] not in gone], note


def _comparison_rows(items, confidence) -> list[dict[str, str]]:
    from .export import format_number

    rows = []
    for dataset, metric, c in items:
        m = metric.upper()
        sig = c.significant
        verdict = (f"{c.a if c.mean_delta > 0 else c.b} higher" if sig else "indistinguishable")
        rows.append({
            "dataset": dataset, "a": c.a, "b": c.b, "n": str(c.n), "metric": m,
            "mean_a": format_number(c.mean_a, m), "mean_b": format_number(c.mean_b, m),
            "delta": format_number(c.mean_delta, m, signed=True),
            "interval": f"[{format_number(c.delta_low, m, signed=True)}, {format_number(c.delta_high, m, signed=True)}]",
            "sign": "pos" if c.mean_delta > 0 else "neg" if c.mean_delta < 0 else "",
            "win_rate": f"{100 * c.win_rate:.0f}%", "wlt": f"{c.wins}/{c.losses}/{c.ties}",
            "p": "–" if c.wilcoxon_p != c.wilcoxon_p else (f"{c.wilcoxon_p:.2g}" if c.wilcoxon_p < 0.001
                                                             else f"{c.wilcoxon_p:.3f}"),
            "verdict": verdict,
        })
    return rows


def _audit_context(result) -> dict[str, Any] | None:
    from .export import format_number

    if result is None or result.summary.empty:
        return None
    s = result.summary
    recorded = [c for c in s.columns if str(c).startswith("recorded ")]
    header = ["run", "method", "dataset", "metric", "n", *result.protocols, *recorded, "spread"]
    rows = []
    for _, r in s.iterrows():
        m = str(r["metric"]).upper()
        rows.append([r["run"], r["method"], r["dataset"], m, str(int(r["n"]))]
                    + [format_number(float(r[p]), m) if p in s.columns else "–" for p in result.protocols]
                    + [format_number(float(r[c]), m) for c in recorded]
                    + [format_number(float(r["spread"]), m)])
    psnr = s[s["metric"] == "psnr"]
    largest = ""
    if len(psnr):
        top = psnr.loc[psnr["spread"].idxmax()]
        largest = f"{top['spread']:.2f} dB ({top['method']} on {top['dataset']})"
    return {"header": header, "rows": rows, "largest": largest}


def _manifest_context(runs) -> list[dict[str, Any]]:
    out = []
    for label, manifest in runs.manifests.items():
        invocations = []
        for inv in manifest.get("invocations", []):
            git = inv.get("git", {})
            dev = inv.get("device", {})
            device = ", ".join(str(dev[k]) for k in ("device", "gpu", "cpu", "platform", "python") if dev.get(k))
            versions = ", ".join(f"{k} {v}" for k, v in (inv.get("versions") or {}).items() if v)
            invocations.append({
                "command": inv.get("command", "?"),
                "commit": f"{git.get('commit', 'unknown')}{' (uncommitted changes)' if git.get('dirty') else ''}",
                "started": inv.get("started", "?"), "finished": inv.get("finished") or "not finished",
                "device": device or "?", "seeds": json.dumps(inv.get("seeds", {})), "versions": versions or "?",
            })
        datasets = []
        records = runs.records[runs.records["run"] == label]
        for name, info in (manifest.get("datasets") or {}).items():
            where = info.get("suite") or info.get("layout") or info.get("root") or ""
            scored = records.loc[records["dataset"] == name, "image_id"].nunique()
            datasets.append({"name": name, "task": info.get("task", "?"), "count": of_text(scored, expected_count(name, info)),
                             "protocol": info.get("default_protocol", "?"), "sha": str(info.get("sha256", ""))[:16],
                             "where": where})
        out.append({
            "label": label, "dir": str(runs.dirs[label]), "run_id": manifest.get("run_id", "?"),
            "created": manifest.get("created", "?"), "invocations": invocations,
            "methods": {m: json.dumps(c, sort_keys=True) for m, c in (manifest.get("methods") or {}).items()},
            "protocols": ", ".join(manifest.get("protocols", {})), "datasets": datasets,
        })
    return out


def _grids(runs, scored, built_by_id, options, inputs):
    """Figures 4-5 analogues; returns ``(figures [(title, JPEG bytes)], notes, selection text)``."""
    from .grids import build_grid, grid_figure, median_images
    from .radar import figure_bytes
    from .tables import build_table, get_spec

    if not any((d / "images").is_dir() for d in runs.dirs.values()):
        return [], ["the runs saved no restored image (run with --save-images)"], ""
    figures, notes = [], []
    if options.grids:
        rows, n = build_grid(runs, scored, options.grids, inputs=inputs)
        notes += n
        if rows:
            figures.append(("Qualitative results (chosen images)", figure_bytes(grid_figure(rows), "jpeg", tight=False)))
        return figures, notes, "Images chosen with --grid."
    for figure_no, table_id, what in GRID_GROUPS:
        built = built_by_id.get(table_id) or build_table(get_spec(table_id), scored, n_boot=10)
        datasets = [o.dataset for o in (built.origins.get(c.label) for c in built.spec.columns) if o]
        rows, n = build_grid(runs, scored, median_images(scored, datasets), inputs=inputs)
        notes += n
        if rows:
            title = f"Figure {figure_no} analogue: {what}" if figure_no else f"Qualitative results: {what}"
            figures.append((title, figure_bytes(grid_figure(rows, title), "jpeg", tight=False)))
    return figures, notes, "Each dataset shows its median image (by best-method PSNR), not a chosen one."


def _profiles_context(dirs: list[str] | None) -> list[dict[str, Any]]:
    """The throughput section: one table and plot per 'abair-bench profile' directory (none if not asked)."""
    if not dirs:
        return []
    from bench.profile.output import load_profile, report_context

    return [report_context(load_profile(d), Path(d).name) for d in dirs]


def _built_tables(options: ReportOptions, scored, variants: dict | None = None, params: dict | None = None):
    """The requested tables, and by id every table the radar and grids need (1, 4, 5) too."""
    from .tables import build_table, get_spec, select_specs

    boot = dict(n_boot=options.n_boot, confidence=options.confidence, seed=options.seed, ci_method=options.ci_method,
                variants=variants, params=params)
    built = [build_table(spec, scored, **boot) for spec in select_specs(options.tables)]
    by_id = {b.spec.id: b for b in built}
    for extra in ("1", "4", "5"):  # the radar and the grids need these even when not printed
        if extra not in by_id:
            by_id[extra] = build_table(get_spec(extra), scored, n_boot=10)
    return built, by_id


def _radars(runs, built_by_id, exports_dir: Path | None):
    """Figure 1 from the paper's numbers and from the runs: ``(template items, notes, exported files)``."""
    from . import html
    from .radar import figure_bytes, missing_axes, paper_radar_data, radar_figure, run_radar_data

    radars, notes, exported = [], [], []
    frame, groups = paper_radar_data()
    paper_fig = radar_figure(frame, groups, title="Figure 1 from the paper's numbers (PSNR)")
    radars.append(("Figure 1 regenerated from the paper's own numbers (Tables 1, 4, 5).", "radar-paper", paper_fig))
    missing = missing_axes(frame)
    if missing:
        radars[-1] = (radars[-1][0] + " Gaps: " + "; ".join(f"{m} has no value on "
                                                           f"{', '.join(x.replace(chr(10), ' ') for x in a)} (no such cell "
                                                           "in the paper)" for m, a in missing.items()) + ".",
                      *radars[-1][1:])
    run_frame, run_groups = run_radar_data(built_by_id)
    if len(run_frame) >= 1 and run_frame.shape[1] >= 3:
        suite = "mini suite" if runs.scale()["mini_only"] else "runs"
        fig = radar_figure(run_frame, run_groups, title=f"This report's {suite} (PSNR)")
        caption = (f"The same plot from our runs ({', '.join(map(str, run_frame.index))}), one axis per task any "
                   "of them was scored on.")
        gaps = _radar_gaps(runs, run_frame.attrs.get("datasets", {}), missing_axes(run_frame))
        if gaps:
            caption += " Drawn with a gap where a method has no value: " + "; ".join(gaps) + "."
        radars.append((caption, "radar-runs", fig))
    else:
        notes.append("no radar of our runs: it needs a method scored on at least 3 of the task axes "
                     f"(have {len(run_frame)} method(s) on {run_frame.shape[1] if len(run_frame) else 0} axes)")
    items = []
    for caption, stem, fig in radars:
        png = figure_bytes(fig, "png")
        items.append({"uri": html.data_uri(png), "alt": caption, "caption": caption})
        if exports_dir:
            with writing(exports_dir, "--exports"):
                EXPORTS.mark(exports_dir)
                (exports_dir / f"{stem}.png").write_bytes(png)
                (exports_dir / f"{stem}.svg").write_bytes(figure_bytes(fig, "svg"))
            exported += [exports_dir / f"{stem}.png", exports_dir / f"{stem}.svg"]
    return items, notes, exported


def ablation_variants(manifests: dict[str, dict]) -> dict[tuple[str, str], dict[str, str]]:
    """``(run, method) -> {table id: variant}`` from each method config's ``ablation`` mapping (its model
    card's), for the ablation tables 6a, 6b and 7."""
    out = {}
    for run, manifest in manifests.items():
        for method, config in (manifest.get("methods") or {}).items():
            ablation = config.get("ablation") if isinstance(config, dict) else None
            if isinstance(ablation, dict):
                out[(run, method)] = {str(k): str(v) for k, v in ablation.items()}
    return out


def _radar_gaps(runs, axis_datasets: dict[str, str], missing: dict[str, list[str]]) -> list[str]:
    """One phrase per method with gaps on the run radar: the axes and why (the reason a run recorded
    for skipping the method on that axis's set, else "not scored in these runs")."""
    reasons: dict[tuple[str, str], str] = {}
    for manifest in runs.manifests.values():
        for inv in manifest.get("invocations") or []:
            for item in (inv.get("skipped") or []) if isinstance(inv, dict) else []:
                if isinstance(item, dict):
                    reasons.setdefault((str(item.get("method")), str(item.get("dataset"))), str(item.get("reason")))
    out = []
    for method, axes in missing.items():
        name = method.split(" [", 1)[0]  # a row label "method [run]" when a method is in several runs
        parts = []
        for axis in axes:
            why = reasons.get((name, axis_datasets.get(axis, "")))
            label = axis.replace("\n", " ")
            parts.append(f"{label} ({'skipped: ' + why if why else 'not scored in these runs'})")
        out.append(f"{method} on {', '.join(parts)}")
    return out


def _start_audit(options: ReportOptions, runs):
    """The protocol audit over the saved restorations, started beside the rest of the report
    (:mod:`.background`): ``(Deferred AuditResult or None, note)``."""
    from . import background
    from .audit import audit_run_dirs

    if not options.audit:
        return None, "switched off (--no-audit)"
    if not any((d / "images").is_dir() for d in runs.dirs.values()):
        return None, "the runs saved no restored image (run with --save-images)"
    return background.start(audit_run_dirs, list(options.runs), data_root=options.data_root,
                            protocols=options.audit_protocols, limit=options.audit_limit,
                            what="protocol audit (--no-audit skips it)"), ""


def _finish_audit(job, note: str):
    """``(AuditResult or None, note)`` once the audit started by :func:`_start_audit` is done."""
    if job is None:
        return None, note
    result = job.result()
    return result, "no saved restoration could be scored" if result.summary.empty else ""


def _stats_context(options: ReportOptions) -> dict[str, Any]:
    method_text = (
        "bias-corrected and accelerated percentiles (bias from the share of resampled means below the observed "
        "one, acceleration from the jackknife)" if options.ci_method == "bca"
        else "the plain percentiles of the resampled means"
    )
    return {"confidence_pct": f"{100 * options.confidence:g}", "n_boot": options.n_boot, "seed": options.seed,
            "method_name": "BCa" if options.ci_method == "bca" else "percentile", "method_text": method_text}


def is_report(path: str | Path) -> bool:
    """Whether the file ``path`` is an HTML report written by :func:`make_report`."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16).decode("utf-8", errors="replace")
    return GENERATOR in head or _OLD_REPORT in head


def check_options(options: ReportOptions) -> None:
    """UserError (one line naming the option) for a bad value or output path, before any work.

    ``out`` must not exist unless a report wrote it, nor ``exports`` hold files of an export's names
    that a report did not write (unless ``force``); neither may touch a run store's own files.
    """
    from .audit import resolve_limit

    check_output_file(options.out, "--out", command="abair-bench report", ours=is_report, force=options.force)
    if options.exports is not None:
        check_output_folder(options.exports, "--exports", EXPORTS, force=options.force)
    resolve_limit(options.audit_limit)
    low, high = N_BOOT_RANGE
    if not isinstance(options.n_boot, int) or not low <= options.n_boot <= high:
        raise UserError(f"--n-boot {options.n_boot} is out of range; use {low} to {high} resamples (default "
                        f"{DEFAULT_N_BOOT}): fewer make a 95% interval unreliable, more exhaust memory")
    if not 0 < options.confidence < 1:
        raise UserError(f"--confidence must be between 0 and 1, got {options.confidence}")
    if not isinstance(options.seed, int) or options.seed < 0:
        raise UserError(f"--seed must be an integer >= 0 (numpy's bootstrap seed), got {options.seed}")
    if options.ci_method not in METHODS:
        raise unknown_name("--ci-method", str(options.ci_method), METHODS)
    if options.audit_protocols:
        from bench.protocols import get_protocol

        for spec in options.audit_protocols:
            try:
                get_protocol(spec)
            except UserError as exc:
                raise UserError(f"--audit-protocols: {exc}") from None


def make_report(options: ReportOptions) -> ReportResult:
    """Build everything and write ``options.out`` (and ``options.exports`` when given); the options
    are checked first (:func:`check_options`). The protocol audit runs beside the rest (:func:`_start_audit`)."""
    from .runs import load_runs

    check_options(options)
    runs = load_runs(options.runs)
    audit_job, audit_note = _start_audit(options, runs)
    try:
        return _build_report(options, runs, audit_job, audit_note)
    finally:
        if audit_job is not None:
            audit_job.cancel()


def _build_report(options: ReportOptions, runs, audit_job, audit_note: str) -> ReportResult:
    """Everything but the audit, which ``audit_job`` computes meanwhile; then the HTML file."""
    from bench.datasets import DatasetOptions

    from . import html
    from .grids import InputCache, check_selection
    from .runs import format_seconds
    from .tables import run_params

    scored = runs.scored(options.protocol)
    if options.grids:
        check_selection(options.grids, runs.records)
    built, built_by_id = _built_tables(options, scored, ablation_variants(runs.manifests), run_params(runs.manifests))
    exports_dir = Path(options.exports) if options.exports else None
    radar_ctx, radar_notes, exported = _radars(runs, built_by_id, exports_dir)
    from .sweep_figures import sweep_section

    sweep_ctx, sweep_exported = sweep_section(runs, options, exports_dir)  # None unless the runs hold sweeps
    exported += sweep_exported
    comps, comp_note = comparisons(runs, scored, options.compare, n_boot=options.n_boot,
                                   confidence=options.confidence, seed=options.seed, ci_method=options.ci_method)
    shown, shown_note = shown_comparisons(runs, comps)
    inputs = InputCache(DatasetOptions(data_root=options.data_root))
    grid_figs, grid_notes, grid_selection = _grids(runs, scored, built_by_id, options, inputs)
    grid_ctx = [{"uri": html.data_uri(jpeg, "image/jpeg"), "alt": title, "caption": title} for title, jpeg in grid_figs]
    audit_result, audit_note = _finish_audit(audit_job, audit_note)
    if exports_dir:
        with writing(exports_dir, "--exports"):
            exported += _write_exports(exports_dir, built, grid_figs, audit_result, comps)

    scale = runs.scale()
    scale["training"] = {m: format_seconds(s) for m, s in scale.pop("training_seconds").items()}
    scale["partial"] = partial_sets(runs.records, runs.manifests)
    context = {
        "title": options.title, "command": options.command,
        "runs": _manifest_context(runs), "run_notes": runs.notes, "scale": scale, "stats": _stats_context(options),
        "tables": [html.table_context(b) for b in built],
        "radars": radar_ctx, "radar_notes": radar_notes,
        "sweep": sweep_ctx,
        "comparisons": _comparison_rows(shown, options.confidence), "comparisons_note": shown_note or comp_note,
        "grids": grid_ctx, "grid_notes": grid_notes, "grid_selection": grid_selection,
        "grid_note": grid_notes[0] if grid_notes and not grid_ctx else "no image to show",
        "audit": _audit_context(audit_result), "audit_note": audit_note,
        "audit_notes": audit_result.notes if audit_result else [],
        "profiles": _profiles_context(options.profiles),
    }
    out = Path(options.out)
    with writing(out, "--out"):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html.render(context), encoding="utf-8")
    return ReportResult(out, built, comps, audit_result, exported)


def _write_exports(exports_dir: Path, built, grid_figs, audit_result, comps) -> list[Path]:
    """The tables, grids, audit and paired comparisons as files in ``exports_dir``; returns their paths."""
    from .export import export_tables

    exported = export_tables(built, exports_dir)
    for i, (_title, jpeg) in enumerate(grid_figs, 1):
        (exports_dir / f"grid-{i}.jpg").write_bytes(jpeg)
        exported.append(exports_dir / f"grid-{i}.jpg")
    if audit_result is not None and not audit_result.summary.empty:
        audit_result.summary.to_csv(exports_dir / "protocol-audit.csv", index=False)
        exported.append(exports_dir / "protocol-audit.csv")
    if comps:
        import pandas as pd

        pd.DataFrame([{"dataset": d, "metric": m, **asdict(c), "win_rate": c.win_rate} for d, m, c in comps]) \
            .to_csv(exports_dir / "paired-comparisons.csv", index=False)
        exported.append(exports_dir / "paired-comparisons.csv")
    return exported
