"""Exports of built tables: CSV (full precision), Markdown and LaTeX (the paper's precision).

Per table ``<id>`` (``1``...``5``, ``6a``, ``6b``, ``7``, ``8``) :func:`export_tables` writes

- ``table-<id>.csv``: the paper's shape: ``row``, ``source`` (paper / run / delta), one column per
  cell (``Rain100L PSNR``...), values unrounded;
- ``table-<id>-cells.csv``: one line per filled cell with the bootstrap interval (``ci_low``,
  ``ci_high``), the image count ``n``, the dataset and protocol it was scored on, and ``partial``
  (``"3 of 100"`` where a run cell covers fewer images than the set has, else empty);
- ``table-<id>.md`` and ``table-<id>.tex``: PSNR with 2 decimals, SSIM 3, best **bold** and second
  underlined (within the paper's rows and within ours, separately), our cells ``mean ± half-width``
  of the interval, Δ rows signed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from .tables import DECIMALS, DELTA, HIGHER_IS_BETTER, PAPER, RUN, BuiltTable, rank_marks

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

ARROWS = {True: "↑", False: "↓", None: ""}


def format_number(value: float, metric: str, *, signed: bool = False) -> str:
    """``35.561`` -> ``"35.56"`` (PSNR), ``0.9704`` -> ``"0.970"`` (SSIM), ``9.0`` -> ``"9"`` and
    ``1.326734`` -> ``"1.33"`` (M: 3 significant digits); ``nan`` -> ``"–"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if metric == "M":  # parameter counts as the paper prints them: 9, 3.6, 14.3
        return f"{value:.3g}"
    d = DECIMALS.get(metric, 2)
    return f"{value:+.{d}f}" if signed else f"{value:.{d}f}"


def cell_text(table: BuiltTable, label: str, key: tuple[str, str]) -> tuple[str, str]:
    """``(main text, interval text)`` of one cell: ``("21.27", "± 0.45")`` for our rows."""
    kind = table.kinds[label]
    value = float(table.values.loc[label, key])
    low, high = ((float(table.low.loc[label, key]), float(table.high.loc[label, key])) if kind == RUN
                 else (math.nan, math.nan))
    return cell_parts(table, label, key, value, low, high)


def cell_parts(table: BuiltTable, label: str, key: tuple[str, str], value: float, low: float,
               high: float) -> tuple[str, str]:
    """:func:`cell_text` given the cell's value and interval (``low``, ``high``) already looked up."""
    kind = table.kinds[label]
    main = format_number(value, key[1], signed=kind == DELTA)
    extra = ""
    if kind == RUN and not math.isnan(value):
        if math.isfinite(low) and math.isfinite(high):
            extra = "± " + format_number((high - low) / 2, key[1])
        if (label, key[0]) in table.partial:  # fewer images than the set has: say how many
            n, total = table.partial[(label, key[0])]
            extra = f"{extra} ({n} of {total})".strip()
    return main, extra


def header_label(key: tuple[str, str]) -> str:
    """``("Rain100L", "PSNR")`` -> ``"Rain100L PSNR ↑"``; ``("Param.", "M")`` -> ``"Param. (M)"``."""
    col, metric = key
    if metric == "M":
        return f"{col} (M)"
    arrow = ARROWS[HIGHER_IS_BETTER.get(metric)]
    return f"{col} {metric} {arrow}".strip()


def wide_frame(table: BuiltTable) -> pd.DataFrame:
    """The table as one flat DataFrame: ``row``, ``source``, then one column per cell (unrounded)."""
    import pandas as pd

    flat = table.values.copy()
    flat.columns = [f"{c} {m}" for c, m in flat.columns]
    flat.insert(0, "source", [table.kinds[label] for label in flat.index])
    flat.insert(0, "row", flat.index)
    return pd.DataFrame(flat.to_numpy(), columns=flat.columns)


def cells_frame(table: BuiltTable) -> pd.DataFrame:
    """One line per filled cell: row, source, column, metric, value, ci_low, ci_high, n, dataset, protocol."""
    import pandas as pd

    rows = []
    for label in table.values.index:
        for key in table.values.columns:
            value = float(table.values.loc[label, key])
            if math.isnan(value):
                continue
            origin = table.origins.get(key[0]) if table.kinds[label] != PAPER else None
            rows.append({
                "row": label, "source": table.kinds[label], "column": key[0], "metric": key[1], "value": value,
                "ci_low": float(table.low.loc[label, key]), "ci_high": float(table.high.loc[label, key]),
                "n": float(table.n.loc[label, key]),
                "dataset": origin.dataset if origin else "",
                "protocol": table.protocols.get(key[0], "") if origin else "",
                "partial": "{} of {}".format(*table.partial[(label, key[0])]) if (label, key[0]) in table.partial
                else "",
            })
    return pd.DataFrame(rows, columns=["row", "source", "column", "metric", "value", "ci_low", "ci_high", "n",
                                       "dataset", "protocol", "partial"])


def to_markdown(table: BuiltTable) -> str:
    """A GitHub-flavoured Markdown table (best **bold**, second <u>underlined</u>) with the caption."""
    marks = rank_marks(table)
    keys = list(table.values.columns)
    lines = [f"**{table.spec.caption}**", ""]
    lines.append("| " + " | ".join([table.spec.row_header, "source", *(header_label(k) for k in keys)]) + " |")
    lines.append("|" + "---|" * (len(keys) + 2))
    for label in table.values.index:
        cells = []
        for key in keys:
            main, extra = cell_text(table, label, key)
            mark = marks.loc[label, key]
            if mark == "best":
                main = f"**{main}**"
            elif mark == "second":
                main = f"<u>{main}</u>"
            cells.append(f"{main} {extra}".strip())
        lines.append("| " + " | ".join([_md_escape(label), table.kinds[label], *cells]) + " |")
    if table.notes:
        lines += [""] + [f"- {note}" for note in table.notes]
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                  "Δ": r"$\Delta$", "−": "--", "–": "--", "±": r"$\pm$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(table: BuiltTable) -> str:
    """A booktabs ``table`` environment: dataset headers over metric headers with ↑/↓, best
    ``\\textbf``, second ``\\underline``, our intervals in ``\\scriptsize``."""
    marks = rank_marks(table)
    keys = list(table.values.columns)
    groups: list[tuple[str, int]] = []
    for col, _metric in keys:
        if groups and groups[-1][0] == col:
            groups[-1] = (col, groups[-1][1] + 1)
        else:
            groups.append((col, 1))
    out = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{l" + "c" * len(keys) + "}", r"\toprule"]
    out.append(" & ".join([""] + [rf"\multicolumn{{{n}}}{{c}}{{{latex_escape(c)}}}" for c, n in groups]) + r" \\")
    pos, rules = 2, []
    for _c, n in groups:
        rules.append(rf"\cmidrule(lr){{{pos}-{pos + n - 1}}}")
        pos += n
    out.append(" ".join(rules))
    arrows = {True: r"$\uparrow$", False: r"$\downarrow$", None: ""}
    out.append(" & ".join([latex_escape(table.spec.row_header)]
                          + [f"{m} {arrows[HIGHER_IS_BETTER.get(m)]}".strip() for _c, m in keys]) + r" \\")
    out.append(r"\midrule")
    previous = None
    for label in table.values.index:
        kind = table.kinds[label]
        if previous == PAPER and kind != PAPER:
            out.append(r"\midrule")
        previous = kind
        cells = []
        for key in keys:
            main, extra = cell_text(table, label, key)
            main = latex_escape(main)
            if marks.loc[label, key] == "best":
                main = rf"\textbf{{{main}}}"
            elif marks.loc[label, key] == "second":
                main = rf"\underline{{{main}}}"
            if extra:
                main += rf"{{\scriptsize ${latex_escape(extra).replace('$', '')}$}}"
            cells.append(main)
        out.append(" & ".join([latex_escape(label)] + cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{latex_escape(table.spec.caption)}}}",
            rf"\label{{tab:abair-{table.spec.id}}}", r"\end{table}"]
    return "\n".join(out) + "\n"


def export_tables(tables: list[BuiltTable], out_dir: str | Path) -> list[Path]:
    """Write CSV, cells CSV, Markdown and LaTeX of every table to ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for table in tables:
        stem = out / f"table-{table.spec.id}"
        wide_frame(table).to_csv(f"{stem}.csv", index=False)
        cells_frame(table).to_csv(f"{stem}-cells.csv", index=False)
        Path(f"{stem}.md").write_text(to_markdown(table), encoding="utf-8")
        Path(f"{stem}.tex").write_text(to_latex(table), encoding="utf-8")
        written += [Path(f"{stem}{suffix}") for suffix in (".csv", "-cells.csv", ".md", ".tex")]
    return written
