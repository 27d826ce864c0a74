"""The report's sweep section: severity plots, the composition heat map, the estimator's blend.

- **Severity** (one figure per axis, e.g. ``noise sigma``): PSNR and SSIM against the level, mild to
  severe, one line per method with its bootstrap band, ``identity`` (the input) as a dashed black
  floor, and the operator's documented default range (what an ABAIR adapter is trained on unless its
  recipe fixes the parameter) shaded when an ABAIR method of the runs has an adapter for it.
  Classical methods of another task (a denoiser on a haze axis) are left out of the lines and named.
- **Estimator**: per estimating ABAIR method (``abair-sw``/``abair-oh``; one per checkpoint), the
  mean probability of each adapter against the level, one panel per axis.
- **Compositions**: a method x composition heat map of the mean PSNR gain over the input, the orders
  of each composition side by side.

Each figure gets a short summary computed from the data (:mod:`bench.report.sweep_data`). Figures
are embedded as SVG ``data:`` URIs and exported as SVG and PNG with ``--exports``, with the tidy
tables as CSV (``sweep-points.csv``, ``sweep-estimator.csv``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

IDENTITY_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1.6}


def _figure(ncols: int, nrows: int = 1, width: float = 5.2, height: float = 3.6):
    from matplotlib.figure import Figure

    return Figure(figsize=(width * ncols, height * nrows))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _training_range(operator: str, param: str) -> tuple[float, float] | None:
    """The operator's documented default range of ``param`` (``abair.degradations.<op>.RANGES``)."""
    import importlib

    try:
        ranges = importlib.import_module(f"abair.degradations.{operator}").RANGES
    except (ImportError, AttributeError):
        return None
    value = ranges.get(param)
    return (float(value[0]), float(value[1])) if value else None


def _adapters(runs) -> set[str]:
    """Degradations some ABAIR method of the runs has an adapter for (from the manifests' configs)."""
    out: set[str] = set()
    for manifest in runs.manifests.values():
        for config in (manifest.get("methods") or {}).values():
            if isinstance(config, dict) and isinstance(config.get("adapters"), dict):
                out |= set(config["adapters"])
    return out


def _method_tasks(runs) -> dict[str, str]:
    out = {}
    for manifest in runs.manifests.values():
        for name, config in (manifest.get("methods") or {}).items():
            if isinstance(config, dict) and isinstance(config.get("task"), str):
                out[name] = config["task"]
    return out


def _shown(labels: list[str], methods: dict[str, str], tasks: dict[str, str], operators: list[str]) -> list[str]:
    """The labels drawn on an axis of ``operators``: all but classical methods of another task."""
    from bench.datasets.tasks import TASK_DEGRADATIONS

    def relevant(label):
        task = tasks.get(methods[label])
        return task is None or not TASK_DEGRADATIONS.get(task) or bool(set(TASK_DEGRADATIONS[task]) & set(operators))

    return [lb for lb in labels if relevant(lb)]


def severity_figure(table, axis: str, labels: list[str], shade: tuple[float, float] | None):
    from .sweep_data import IDENTITY, severity_order

    part = table[table["axis"] == axis]
    param = part["param"].iloc[0]
    order = severity_order(table, axis)
    fig = _figure(2)
    colours = _colours(labels)
    for i, metric in enumerate(("psnr", "ssim")):
        ax = fig.add_subplot(1, 2, i + 1)
        if shade:
            ax.axvspan(*shade, color="#e2f0d9", zorder=0, label="adapter training range")
        for label in labels:
            d = part[(part["label"] == label) & (part["metric"] == metric)].sort_values("level")
            if d.empty:
                continue
            is_floor = d["method"].iloc[0] == IDENTITY
            style = IDENTITY_STYLE if is_floor else {"color": colours[label], "linewidth": 1.3}
            ax.plot(d["level"], d["mean"], marker="o", markersize=3,
                    label=f"{label} (input)" if is_floor else label, **style)
            ax.fill_between(d["level"], d["low"], d["high"], color=style["color"], alpha=0.12, linewidth=0)
        ax.set_xlabel(f"{param} (mild → severe)")
        ax.set_ylabel("PSNR (dB)" if metric == "psnr" else "SSIM")
        if order and order[0] > order[-1]:
            ax.invert_xaxis()
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{axis}: PSNR and SSIM against severity")
    fig.tight_layout()
    return fig


def _colours(labels: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab20"] if len(labels) > 10 else colormaps["tab10"]
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


def estimator_figure(table, label: str, axes: list[str], ranges: dict[str, tuple[float, float] | None]):
    import math

    from .sweep_data import severity_order

    part = table[table["label"] == label]
    ncols = min(3, len(axes))
    nrows = math.ceil(len(axes) / ncols)
    fig = _figure(ncols, nrows, width=4.2, height=3.0)
    adapters = list(dict.fromkeys(part["adapter"]))
    colours = _colours(adapters)
    for i, axis in enumerate(axes):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        d = part[part["axis"] == axis]
        if ranges.get(axis):
            ax.axvspan(*ranges[axis], color="#e2f0d9", zorder=0)
        for adapter in adapters:
            a = d[d["adapter"] == adapter].sort_values("level")
            ax.plot(a["level"], a["mean"], marker="o", markersize=3, color=colours[adapter], label=adapter)
        order = [lv for lv in severity_order(_as_point_rows(d), axis)] if len(d) else []
        if order and order[0] > order[-1]:
            ax.invert_xaxis()
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(axis, fontsize=9)
        ax.set_xlabel(d["param"].iloc[0] if len(d) else "")
        ax.set_ylabel("mean probability")
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{label}: the estimator's mean probability per adapter against severity")
    fig.tight_layout()
    return fig


def _as_point_rows(d):
    """Estimator rows with the ``operators`` column :func:`severity_order` reads."""
    return d.assign(operators=d["axis"].str.split(" ").str[0])


def heatmap_figure(table, labels: list[str]):
    import numpy as np

    comp = table[table["composition"].notna() & (table["metric"] == "psnr") & table["label"].isin(labels)]
    columns = []
    for _family, part in comp.groupby("family", sort=False):
        columns += list(dict.fromkeys(part["dataset"]))
    grid = comp.pivot_table(index="label", columns="dataset", values="gain").reindex(index=labels, columns=columns)
    values = grid.to_numpy(dtype=float)
    fig = _figure(1, width=max(6.0, 0.9 * len(columns) + 3), height=max(3.0, 0.38 * len(labels) + 2.4))
    ax = fig.add_subplot(1, 1, 1)
    finite = values[np.isfinite(values)]
    limit = float(np.abs(finite).max()) if finite.size else 1.0
    image = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for (r, c), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(c, r, f"{v:+.1f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(v) > 0.6 * limit else "black")
    floor = table[(table["method"] == "identity") & (table["metric"] == "psnr")].groupby("dataset")["mean"].first()
    ax.set_xticks(range(len(columns)), [_short(d) + (f"\ninput {floor[d]:.1f} dB" if d in floor.index else "")
                                        for d in columns], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    families = [comp.loc[comp["dataset"] == d, "family"].iloc[0] for d in columns]
    for c in range(1, len(columns)):
        if families[c] != families[c - 1]:
            ax.axvline(c - 0.5, color="black", linewidth=1.5)
    fig.colorbar(image, ax=ax, label="PSNR gain over the input (dB)")
    ax.set_title("PSNR gain over the input per composition (orders side by side)", fontsize=10)
    fig.tight_layout()
    return fig


def _short(dataset: str) -> str:
    """``blur(15) → noise(25)``: a composition point's steps, parameter values only (no blur kind)."""
    from bench.sweeps.spec import parse_point_name

    steps = parse_point_name(dataset)
    return " → ".join(f"{s.operator}({','.join(str(v) for k, v in s.params if k != 'kind')})" for s in steps)


def sweep_section(runs, options, exports_dir: Path | None):
    """``(context or None, exported files)``: the template's ``sweep`` section, None when the runs hold
    no sweep record."""
    from bench.paths import writing

    from . import html
    from .radar import figure_bytes
    from .sweep_data import (
        IDENTITY,
        beats_input_summary,
        estimator_summary,
        estimator_table,
        order_gap_summary,
        point_table,
    )

    table = point_table(runs, n_boot=options.n_boot, confidence=options.confidence, seed=options.seed,
                        ci_method=options.ci_method)
    if table.empty:
        return None, []
    labels = list(dict.fromkeys(table["label"]))
    methods = dict(zip(table["label"], table["method"], strict=True))
    tasks, adapters = _method_tasks(runs), _adapters(runs)
    has_identity = IDENTITY in set(table["method"])
    figures, notes, exported = [], [], []
    if not has_identity:
        notes.append("no identity records: the input's floor and every gain over the input need 'identity' in "
                     "--methods")
    axes = [a for a in dict.fromkeys(table["axis"]) if isinstance(a, str)]
    ranges = {}
    for axis in axes:
        part = table[table["axis"] == axis]
        operators = part["operators"].iloc[0].split("+")
        shade = _training_range(operators[0], part["param"].iloc[0]) if operators[0] in adapters else None
        ranges[axis] = shade
        shown = _shown(labels, methods, tasks, operators)
        left_out = [lb for lb in labels if lb not in shown]
        caption = f"{axis}: mean over {int(part['n'].max())} images per level, {options.confidence:.0%} bootstrap bands."
        if shade:
            caption += f" Shaded: {axis.split(' (')[0]} {shade[0]:g}–{shade[1]:g}, the range ABAIR's adapter is trained on."
        if left_out:
            caption += f" Not drawn (classical methods of other tasks; in the exported table): {', '.join(left_out)}."
        summary = [s for s in (beats_input_summary(table, axis, lb) for lb in shown if methods[lb] != IDENTITY) if s]
        figures.append((f"sweep-{_slug(axis)}", severity_figure(table, axis, shown, shade), caption, summary, "severity"))
    estimates = estimator_table(runs)
    if not estimates.empty:
        shared = _shared_estimators(runs, list(dict.fromkeys(estimates["label"])))
        for label, same in shared.items():
            est_axes = [a for a in axes if a in set(estimates.loc[estimates["label"] == label, "axis"])]
            if not est_axes:
                continue
            caption = (f"{label}: the estimator's mean probability of each adapter per level (shaded: the adapter's "
                       "training range).")
            if same:
                caption += f" {', '.join(same)} use{'s' if len(same) == 1 else ''} the same estimator (same probabilities)."
            summary = [s for s in (estimator_summary(estimates, a, label) for a in est_axes) if s]
            figures.append((f"sweep-estimator-{_slug(label)}", estimator_figure(estimates, label, est_axes, ranges),
                            caption, summary, "estimator"))
    if table["composition"].notna().any():
        heat_labels = [lb for lb in labels if methods[lb] != IDENTITY]
        if has_identity and heat_labels:
            caption = ("Gain over the input (method − identity, mean PSNR over the same images) per composition; "
                       "the orders of one composition side by side, separated by black lines.")
            figures.append(("sweep-compositions", heatmap_figure(table, heat_labels), caption,
                            order_gap_summary(table), "composition"))
        else:
            notes.append("no composition heat map: it needs identity and at least one other method")
    items = []
    for stem, fig, caption, summary, kind in figures:
        svg = figure_bytes(fig, "svg")
        items.append({"uri": html.data_uri(svg, "image/svg+xml"), "alt": caption, "caption": caption,
                      "summary": summary, "kind": kind, "id": stem})
        if exports_dir:
            with writing(exports_dir, "--exports"):
                exports_dir.mkdir(parents=True, exist_ok=True)
                (exports_dir / f"{stem}.svg").write_bytes(svg)
                (exports_dir / f"{stem}.png").write_bytes(figure_bytes(fig, "png"))
            exported += [exports_dir / f"{stem}.svg", exports_dir / f"{stem}.png"]
    if exports_dir:
        with writing(exports_dir, "--exports"):
            table.to_csv(exports_dir / "sweep-points.csv", index=False)
            exported.append(exports_dir / "sweep-points.csv")
            if not estimates.empty:
                estimates.to_csv(exports_dir / "sweep-estimator.csv", index=False)
                exported.append(exports_dir / "sweep-estimator.csv")
    n_points = table["dataset"].nunique()
    intro = (f"{n_points} sweep points ({len(axes)} severity axes, {table['composition'].dropna().nunique()} "
             f"composition orders) × {len(labels)} methods, each point over {int(table['n'].max())} images.")
    return {"figures": items, "notes": notes, "intro": intro}, exported


def _shared_estimators(runs, labels: list[str]) -> dict[str, list[str]]:
    """``{label drawn: [other labels with the same checkpoint]}``: abair-oh and abair-sw of one
    checkpoint share one estimator, so only the first is drawn."""
    first: dict[Any, str] = {}
    out: dict[str, list[str]] = {}
    configs = {}
    for run, manifest in runs.manifests.items():
        for name, config in (manifest.get("methods") or {}).items():
            configs.setdefault(name, (run, config))
    for label in labels:
        method = label.split(" [", 1)[0]
        _run, config = configs.get(method, (None, {}))
        key = config.get("checkpoint_sha256") if isinstance(config, dict) else None
        if key is None or key not in first:
            first[key if key is not None else label] = label
            out[label] = []
        else:
            out[first[key]].append(label)
    return out
