"""The HTML report: one self-contained file rendered from ``bench/templates/report.html.j2``.

Everything is inline: CSS in the page, figures as ``data:`` URIs (plots PNG, image grids JPEG), no script, no
external request, so the file can be mailed, committed or opened offline. This module only turns
already computed pieces (built tables, comparisons, figures, audit, manifests) into the template's
context; :mod:`bench.report.build` computes them.
"""

from __future__ import annotations

import base64
import math
from typing import Any

from .export import cell_parts, format_number
from .tables import DELTA, HIGHER_IS_BETTER, PAPER, BuiltTable, rank_marks

TEMPLATE = "report.html.j2"


def data_uri(data: bytes, mime: str = "image/png") -> str:
    """``bytes`` -> ``data:<mime>;base64,...`` (for ``<img src>``)."""
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def table_context(table: BuiltTable) -> dict[str, Any]:
    """What the template needs to draw one table: two header rows and the body cells with marks."""
    keys = list(table.values.columns)
    groups: list[dict[str, Any]] = []
    for col, _metric in keys:
        if groups and groups[-1]["label"] == col:
            groups[-1]["span"] += 1
        else:
            origin = table.origins.get(col)
            groups.append({"label": col, "span": 1, "dataset": origin.dataset if origin else "",
                           "protocol": table.protocols.get(col, "")})
    metrics = []
    for _col, metric in keys:
        better = HIGHER_IS_BETTER.get(metric)
        metrics.append({"label": "M" if metric == "M" else metric,
                        "arrow": {True: "↑", False: "↓", None: ""}[better]})
    # every frame as a plain array aligned on the values' rows and columns (one lookup per cell, not a .loc)
    aligned = {name: frame.reindex(index=table.values.index, columns=table.values.columns).to_numpy()
               for name, frame in (("value", table.values), ("low", table.low), ("high", table.high),
                                   ("n", table.n), ("mark", rank_marks(table)))}
    rows = []
    for i, label in enumerate(table.values.index):
        kind = table.kinds[label]
        cells = []
        for j, key in enumerate(keys):
            value, low, high = (float(aligned[name][i, j]) for name in ("value", "low", "high"))
            main, extra = cell_parts(table, label, key, value, low, high)
            title = ""
            if extra:
                title = (f"95% bootstrap interval [{format_number(low, key[1])}, {format_number(high, key[1])}], "
                         f"{int(aligned['n'][i, j])} images")
            sign = "" if kind != DELTA or math.isnan(value) else ("pos" if value > 0 else "neg" if value < 0 else "")
            cells.append({"text": main, "extra": extra, "mark": aligned["mark"][i, j], "title": title, "sign": sign})
        rows.append({"label": label, "kind": kind, "cells": cells})
    first_run = next((i for i, r in enumerate(rows) if r["kind"] != PAPER), None)
    return {
        "id": table.spec.id, "number": table.spec.number, "title": table.spec.title, "caption": table.spec.caption,
        "setting": table.spec.setting, "row_header": table.spec.row_header, "groups": groups, "metrics": metrics,
        "rows": rows, "first_run": first_run, "notes": table.notes, "suite": table.suite,
        "average_rule": table.spec.average.rule if table.spec.average else "",
    }


def render(context: dict[str, Any]) -> str:
    """Render the report template with ``context`` (see :func:`bench.report.build.make_report`)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("bench", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(TEMPLATE).render(**context)
