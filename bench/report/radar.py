"""Figure 1: a radar plot of PSNR per task, grouped by task group (known, unseen, mixed).

One axis per task (the columns of Tables 1, 4 and 5: 5 known tasks, 3 unseen, 3 mixed), the axes
of a group side by side on a shaded sector. Each axis is normalised on its own, as the paper's
caption says: with ``circles`` concentric circles at radii ``k / circles`` (k = 1..circles), the
lowest value on an axis sits on the second circle (radius ``2 / circles``) and the highest on the
outermost (radius 1); values in between are placed linearly. An axis on which every method scores
the same puts them all on the outermost circle.

Every task axis that any plotted method was scored on is kept. A method without a value on an axis
(not scored there, or skipped because it has no adapter or weights for that task) is drawn with a gap
at that corner (its line stops, its points stay, its polygon is not filled), and :func:`missing_axes`
lists what is missing so the caption can name it and why.

Drawn with matplotlib's Agg canvas (no display, no pyplot state); saved as PNG and SVG.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

DEFAULT_CIRCLES = 5
GROUP_COLOURS = {"known": "#dbe9f6", "unseen": "#fde3cf", "mixed": "#e2f0d9"}


def normalise_axis(values, circles: int = DEFAULT_CIRCLES) -> np.ndarray:
    """Radii in ``[2/circles, 1]`` for one axis: min -> second circle, max -> outermost; nan kept."""
    import numpy as np

    if circles < 2:
        raise ValueError("a radar plot needs at least 2 circles")
    v = np.asarray(values, dtype=np.float64)
    inner = 2.0 / circles
    finite = np.isfinite(v)
    out = np.full(v.shape, np.nan)
    if not finite.any():
        return out
    lo, hi = v[finite].min(), v[finite].max()
    if hi == lo:
        out[finite] = 1.0
        return out
    out[finite] = inner + (v[finite] - lo) / (hi - lo) * (1.0 - inner)
    return out


def normalise(frame: pd.DataFrame, circles: int = DEFAULT_CIRCLES) -> pd.DataFrame:
    """Every column (axis) of a methods x axes frame normalised with :func:`normalise_axis`."""
    import pandas as pd

    return pd.DataFrame({c: normalise_axis(frame[c].to_numpy(), circles) for c in frame.columns},
                        index=frame.index)


def _axis_label(header: str, dataset: str) -> str:
    return header if header.replace(" ", "").lower() == dataset.replace(" ", "").lower() else f"{header}\n{dataset}"


def paper_radar_data() -> tuple[pd.DataFrame, dict[str, str]]:
    """The paper's Figure 1 data: PSNR of its four plotted methods on the 11 task axes.

    Returns ``(frame, groups)``: frame rows = method labels, columns = axis labels
    (``"Deraining\\nRain100L"``), groups = axis label -> task group.
    """
    import pandas as pd

    from .paper import paper_tables_meta, paper_value
    from .tables import get_spec

    meta = paper_tables_meta()["radar"]
    metric = meta["metric"]
    frame: dict[str, dict[str, float]] = {}
    groups: dict[str, str] = {}
    for m in meta["paper_methods"]:
        for g in meta["groups"]:
            spec = get_spec(g["table"])
            row = next(r for r in spec.rows if (r.method, r.variant) == (m["method"], m.get("variant") or ""))
            for c in spec.columns:
                axis = _axis_label(c.header, c.label)
                groups[axis] = g["name"]
                frame.setdefault(row.printed, {})[axis] = paper_value(spec.number, row.method, row.variant, c.label, metric)
    return pd.DataFrame.from_dict(frame, orient="index")[list(groups)], groups


def run_radar_data(tables: dict) -> tuple[pd.DataFrame, dict[str, str]]:
    """Our runs' PSNR means on the task axes present, from built Tables 1, 4 and 5.

    ``tables``: table id -> :class:`bench.report.tables.BuiltTable`. Every axis that at least one run
    row was scored on is kept (a method without a value there is drawn with a gap); methods = the run
    rows with at least one value. The axis labels name the dataset on their second line.
    """
    import pandas as pd

    from .paper import paper_tables_meta
    from .tables import RUN

    meta = paper_tables_meta()["radar"]
    metric = meta["metric"]
    columns: dict[str, pd.Series] = {}
    groups: dict[str, str] = {}
    datasets: dict[str, str] = {}
    for g in meta["groups"]:
        built = tables.get(g["table"])
        if built is None:
            continue
        labels = built.rows(RUN)
        for c in built.spec.columns:
            origin = built.origins.get(c.label)
            if not origin or not labels:
                continue
            axis = _axis_label(c.header, origin.dataset)
            columns[axis] = built.values.loc[labels, (c.label, metric)].astype(float)
            groups[axis], datasets[axis] = g["name"], origin.dataset
    if not columns:
        return pd.DataFrame(), {}
    frame = pd.DataFrame(columns)
    frame = frame.dropna(axis=1, how="all").dropna(axis=0, how="all")
    frame.attrs["datasets"] = {a: datasets[a] for a in frame.columns}  # axis label -> the set it was scored on
    return frame, {a: groups[a] for a in frame.columns}


def missing_axes(frame: pd.DataFrame) -> dict[str, list[str]]:
    """``{method: [axis, ...]}`` for every row of ``frame`` without a value on some axis (the axis
    labels as in ``frame``'s columns)."""
    import numpy as np

    out = {}
    for method, row in frame.iterrows():
        gaps = [str(a) for a, v in row.items() if not np.isfinite(float(v))]
        if gaps:
            out[str(method)] = gaps
    return out


def radar_figure(frame: pd.DataFrame, groups: dict[str, str], *, title: str = "",
                 circles: int = DEFAULT_CIRCLES) -> Figure:
    """A polar figure: one polygon per row of ``frame`` (methods x axes of raw values)."""
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    axes_labels = list(frame.columns)
    k = len(axes_labels)
    radii = normalise(frame, circles)
    theta = np.linspace(0, 2 * np.pi, k, endpoint=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(10, 7.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(projection="polar")
    ax.set_theta_offset(np.pi / 2)  # first axis at the top, then clockwise
    ax.set_theta_direction(-1)
    ax.set_yticks([i / circles for i in range(1, circles + 1)])
    ax.set_yticklabels([])
    ax.grid(True, color="#bbbbbb", linewidth=0.7)
    ax.spines["polar"].set_visible(False)
    width = 2 * np.pi / k
    for i, axis in enumerate(axes_labels):
        colour = GROUP_COLOURS.get(groups.get(axis, ""), "#eeeeee")
        ax.bar(theta[i], 1.0, width=width, bottom=0, color=colour, alpha=0.6, linewidth=0, zorder=0)
    ax.set_xticks(theta)
    ranges = [f"{frame[a].astype(float).min():.2f}–{frame[a].astype(float).max():.2f}"
              if frame[a].notna().any() else "no value" for a in axes_labels]
    ax.set_xticklabels([f"{a}\n{r}" for a, r in zip(axes_labels, ranges, strict=True)], fontsize=8)  # the axis's range
    ax.tick_params(axis="x", pad=14)
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    closed = np.append(theta, theta[0])
    styles = ["-", "--", ":", "-."]
    for j, (method, row) in enumerate(radii.iterrows()):
        r = np.append(row.to_numpy(dtype=float), row.to_numpy(dtype=float)[0])
        colour, style = palette[j % len(palette)], styles[(j // len(palette)) % len(styles)]
        # a missing value (nan) breaks the line there: the gap shows the axis the method has no value on
        ax.plot(closed, r, color=colour, linewidth=2, linestyle=style, marker="o", markersize=3,
                label=str(method), zorder=3)
        if np.isfinite(r).all():
            ax.fill(closed, r, color=colour, alpha=0.08, zorder=2)
    handles = [Patch(color=GROUP_COLOURS[g], label=g) for g in dict.fromkeys(groups.values()) if g in GROUP_COLOURS]
    fig.legend(*ax.get_legend_handles_labels(), loc="upper right", fontsize=8, frameon=False, title="method")
    if handles:
        fig.legend(handles=handles, loc="lower right", fontsize=8, frameon=False, title="task group")
    fig.subplots_adjust(left=0.08, right=0.72, top=0.88, bottom=0.08)
    ax.set_thetalim(0, 2 * np.pi)
    ax.set_ylim(0, 1.0)
    if title:
        ax.set_title(title, fontsize=10, pad=24)
    return fig


#: JPEG quality of image grids: restored pictures, where exact pixels are not the point (the exact
#: restored PNGs are in the run's images/ folder)
GRID_JPEG_QUALITY = 85


def figure_bytes(fig: Figure, fmt: str, *, tight: bool = True) -> bytes:
    """Render a figure to ``png``, ``svg`` or ``jpeg`` bytes (Agg canvas; no timestamp or software
    version in the file, so the same figure gives the same bytes). ``tight``: crop to what is drawn
    (False for a figure laid out in pixels, whose images the crop would not count)."""
    import io

    buf = io.BytesIO()
    if fmt in ("jpg", "jpeg"):
        fig.savefig(buf, format="jpeg", bbox_inches="tight" if tight else None,
                    pil_kwargs={"quality": GRID_JPEG_QUALITY, "optimize": True, "progressive": False})
        return buf.getvalue()
    import matplotlib

    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    with matplotlib.rc_context({"svg.hashsalt": "abair-bench"}):  # fixed SVG element ids
        fig.savefig(buf, format=fmt, bbox_inches="tight" if tight else None, metadata=metadata)
    return buf.getvalue()


def save_radar(frame: pd.DataFrame, groups: dict[str, str], stem: str | Path, *, title: str = "",
               circles: int = DEFAULT_CIRCLES) -> tuple[Path, Path]:
    """Write ``stem.png`` and ``stem.svg``; returns both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig = radar_figure(frame, groups, title=title, circles=circles)
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    png.write_bytes(figure_bytes(fig, "png"))
    svg.write_bytes(figure_bytes(fig, "svg"))
    return png, svg
