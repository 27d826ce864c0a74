"""Table specs for the paper's Tables 1-8 and the builder that fills them from run records.

A :class:`TableSpec` (read from ``bench/data/paper_tables.yaml``) gives a table's caption, its
columns (the paper's dataset name, the real test set standing for it and its mini-suite
analogue), its metrics, how its Average is taken, and its rows in the paper's order. Table 6 is
two small tables in the paper, here ``6a`` (pre-training) and ``6b`` (LoRA rank).

:func:`build_table` turns run records (long format, see :mod:`bench.store`) and the paper's numbers
into a :class:`BuiltTable` in the paper's shape: the paper's reference rows first, then one row per
(run, method) with the mean of its per-image values and a bootstrap interval, each followed by a
``Δ`` row (ours minus the paper) where the method reproduces a paper row and the column was scored
on the complete real test set (never on the mini suite, whose images are not the paper's, nor on a
partial set: such cells show "n of N" instead, :mod:`bench.report.coverage`). The Average's Δ
is taken against the paper's rule applied to the paper's own cells, so a run equal to the paper
cell for cell shows 0; where the printed Average disagrees with its cells a note gives both.

Cells are keyed by ``(column label, metric)``: ``("Rain100L", "PSNR")``, ``("Average", "SSIM")``,
``("Param.", "M")``. PSNR is in dB, SSIM in 0..1, parameters in millions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from abair.errors import UserError, unknown_name
from bench.protocols import METRIC_DIRECTIONS

from .paper import paper_tables_meta, paper_value

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: direction of each column metric, from the protocols' table (True = higher is better); the
#: parameter count ``M`` is not ranked
HIGHER_IS_BETTER: dict[str, bool | None] = {**{m.upper(): up for m, up in METRIC_DIRECTIONS.items()}, "M": None}
#: decimals the paper prints
DECIMALS: dict[str, int] = {"PSNR": 2, "SSIM": 3, "M": 1}
PAPER, RUN, DELTA = "paper", "run", "delta"


@dataclass(frozen=True)
class Column:
    """One dataset column: ``label`` as in the paper's data, ``real``/``mini`` the run dataset keys."""

    label: str
    header: str
    task: str
    real: str | None
    mini: str | None


@dataclass(frozen=True)
class RowSpec:
    """One printed row of the paper (``method``/``variant`` as in ``paper_results.csv``)."""

    label: str
    method: str
    variant: str = ""
    cite: int | None = None
    group: str | None = None
    rank: int | None = None

    @property
    def printed(self) -> str:
        """The label as the paper prints it, e.g. ``AirNet [27]`` or ``LoRA [19] r8``."""
        if self.group is not None:
            return f"{self.group} [{self.cite}] r{self.rank}"
        return f"{self.label} [{self.cite}]" if self.cite else self.label


@dataclass(frozen=True)
class AverageSpec:
    """The Average column: the mean of the ``over`` columns' means, for ``metrics``."""

    label: str
    metrics: tuple[str, ...]
    over: tuple[str, ...]
    rule: str
    from_table: str | None = None


@dataclass(frozen=True)
class TableSpec:
    id: str
    number: int
    setting: str
    title: str
    caption: str
    metrics: tuple[str, ...]
    columns: tuple[Column, ...]
    rows: tuple[RowSpec, ...]
    average: AverageSpec | None = None
    params: tuple[str, str] | None = None  # (label, unit)
    ssim_leading_zero: bool = True
    row_header: str = "Method"
    run_methods_only: tuple[str, ...] | None = None
    #: ablation tables: a run row appears only for a method whose config declares its variant of this
    #: table (the model card's ``ablation: {"6b": "rank=8"}``), compared with that variant's paper row
    run_variants: bool = False
    known_mismatches: tuple[dict, ...] = ()
    printed_duplicates: tuple[dict, ...] = ()
    truncated: str | None = None

    def cell_keys(self) -> list[tuple[str, str]]:
        """Every cell column in the paper's order: datasets x metrics, Average, parameters."""
        keys = [(c.label, m) for c in self.columns for m in self.metrics]
        if self.average:
            keys += [(self.average.label, m) for m in self.average.metrics]
        if self.params:
            keys.append(self.params)
        return keys

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cell columns) of the paper's table as transcribed."""
        return len(self.rows), len(self.cell_keys())

    def average_columns(self) -> tuple[Column, ...]:
        """The columns the Average is taken over (another table's for Table 6)."""
        if self.average is None:
            return ()
        source = get_spec(self.average.from_table) if self.average.from_table else self
        by_label = {c.label: c for c in source.columns}
        return tuple(by_label[label] for label in self.average.over)


def _spec_from_dict(d: dict) -> TableSpec:
    avg = d.get("average")
    params = d.get("params")
    return TableSpec(
        id=str(d["id"]), number=int(d["number"]), setting=d["setting"], title=d["title"], caption=d["caption"],
        metrics=tuple(d["metrics"]),
        columns=tuple(Column(c["label"], c["header"], c["task"], c.get("real"), c.get("mini")) for c in d["columns"]),
        rows=tuple(RowSpec(r["label"], r["method"], r.get("variant", "") or "", r.get("cite"), r.get("group"),
                           r.get("rank")) for r in d["rows"]),
        average=AverageSpec(avg["label"], tuple(avg["metrics"]), tuple(avg["over"]), avg["rule"],
                            avg.get("from_table")) if avg else None,
        params=(params["label"], params["unit"]) if params else None,
        ssim_leading_zero=bool(d.get("ssim_leading_zero", True)),
        row_header=d.get("row_header", "Method"),
        run_methods_only=tuple(d["run_methods_only"]) if d.get("run_methods_only") else None,
        run_variants=bool(d.get("run_variants", False)),
        known_mismatches=tuple(d.get("known_mismatches", ())),
        printed_duplicates=tuple(d.get("printed_duplicates", ())),
        truncated=d.get("truncated"),
    )


@lru_cache(maxsize=1)
def table_specs() -> dict[str, TableSpec]:
    """All table specs by id (``"1"``...``"5"``, ``"6a"``, ``"6b"``, ``"7"``, ``"8"``), in paper order."""
    return {str(d["id"]): _spec_from_dict(d) for d in paper_tables_meta()["tables"]}


def get_spec(table_id: str) -> TableSpec:
    specs = table_specs()
    if table_id not in specs:
        raise unknown_name("table", table_id, specs)
    return specs[table_id]


def select_specs(selection: list[str] | None) -> list[TableSpec]:
    """``["1", "6"]`` -> the specs of Table 1, 6a and 6b; None -> every table."""
    specs = table_specs()
    if not selection:
        return list(specs.values())
    out: list[TableSpec] = []
    for item in selection:
        hits = [s for s in specs.values() if s.id == item or str(s.number) == item]
        if not hits:
            raise UserError(f"unknown table '{item}'; the tables are {', '.join(specs)} (6 = 6a and 6b)")
        out += [s for s in hits if s not in out]
    return out


def run_method_info(method: str) -> dict[str, Any]:
    """``{"method", "variant", "name"}`` of the paper row a run method reproduces (empty if none).

    From ``run_methods`` in paper_tables.yaml, else from the catalog of published baselines
    (:mod:`baselines.catalog`): a method it runs (``idr``, ``mprnet``, ``mprnet:deblur``) or a record
    named as a table row (``folder:IDR=...`` records as ``IDR``). For a baseline the info also has
    ``tables`` (the paper tables it has a row in: its run rows appear in those only) and, for a
    released per-task file (``mprnet:deblur``), ``tasks`` (the only columns its run rows fill).
    """
    from baselines.catalog import published

    info = dict(paper_tables_meta().get("run_methods", {}).get(method) or {})
    entry = published(method)
    variant = method.partition(":")[2]
    if entry is None or (variant and variant not in entry.variants):
        return info
    if not info:
        info = {"method": entry.display, "variant": "", "name": entry.display}
    info["tables"] = tuple(entry.tables)
    if variant:
        info["tasks"] = tuple(entry.variants[variant].tasks)
    return info


def paper_average(values, weights=None) -> float:
    """The Average as the paper takes it: the (weighted) mean of the column means given."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    w = np.full(v.size, 1.0 / v.size) if weights is None else np.asarray(weights, dtype=np.float64)
    return float(w @ v)


# ------------------------------------------------------------------------------- built tables
@dataclass(frozen=True)
class ColumnOrigin:
    """Where a table column's run values come from: a ``real`` test set or its ``mini`` analogue."""

    suite: str  # "real" | "mini"
    dataset: str

    def __str__(self) -> str:
        return f"{self.suite}:{self.dataset}"


@dataclass
class BuiltTable:
    """A table in the paper's shape. ``values``/``low``/``high``/``n``: DataFrames with one row per
    label (``kinds`` says ``paper``, ``run`` or ``delta``) and one column per cell key."""

    spec: TableSpec
    values: pd.DataFrame
    low: pd.DataFrame
    high: pd.DataFrame
    n: pd.DataFrame
    kinds: dict[str, str]
    origins: dict[str, ColumnOrigin | None]  # column label -> where its run values come from
    protocols: dict[str, str] = field(default_factory=dict)  # column label -> protocol spec used
    notes: list[str] = field(default_factory=list)
    #: (row label, column label) -> (n, N) for run cells over fewer images than the set's documented
    #: size (an Average: the sums over its columns); they get no Δ (bench/report/coverage.py)
    partial: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)

    def rows(self, kind: str) -> list[str]:
        return [label for label in self.values.index if self.kinds[label] == kind]

    def paper_part(self) -> pd.DataFrame:
        """The paper's reference rows only (its printed shape)."""
        return self.values.loc[self.rows(PAPER)]

    @property
    def suite(self) -> str | None:
        """``"real"``, ``"mini"``, ``"real+mini"`` or None (no run data in this table)."""
        if not self.rows(RUN):
            return None
        kinds = sorted({o.suite for o in self.origins.values() if o})
        return "+".join(reversed(kinds)) if kinds else None


def _column_origin(column: Column, datasets: set[str]) -> ColumnOrigin | None:
    if column.real and column.real in datasets:
        return ColumnOrigin("real", column.real)
    if column.mini and column.mini in datasets:
        return ColumnOrigin("mini", column.mini)
    return None


def _row_key(run: str, method: str, duplicated: set[str]) -> str:
    return f"{method} [{run}]" if method in duplicated else method


class _Rows:
    """The rows of a table being built: values, interval bounds and counts per cell key, row kinds."""

    def __init__(self, keys: list[tuple[str, str]]):
        self.keys = keys
        self.data: dict[str, dict] = {"values": {}, "low": {}, "high": {}, "n": {}}
        self.kinds: dict[str, str] = {}

    def put(self, label: str, kind: str, cells: dict, low=None, high=None, n=None) -> None:
        import numpy as np

        self.kinds[label] = kind
        for name, part in (("values", cells), ("low", low), ("high", high), ("n", n)):
            self.data[name][label] = [(part or {}).get(k, np.nan) for k in self.keys]

    def has_value(self, label: str, key: tuple[str, str]) -> bool:
        import numpy as np

        return not np.isnan(self.data["values"][label][self.keys.index(key)])

    def frames(self) -> dict:
        import pandas as pd

        cols = pd.MultiIndex.from_tuples(self.keys, names=["column", "metric"])
        return {k: pd.DataFrame.from_dict(v, orient="index", columns=cols) for k, v in self.data.items()}


def _paper_rows(spec: TableSpec, rows: _Rows) -> dict[tuple[str, str], dict]:
    """Put the paper's rows; returns their cells by (method, variant)."""
    paper_cells: dict[tuple[str, str], dict] = {}
    for row in spec.rows:
        cells = {}
        for col, metric in rows.keys:
            if spec.params and (col, metric) == spec.params:
                cells[(col, metric)] = paper_value(spec.number, row.method, row.variant, "", "Params")
            else:
                cells[(col, metric)] = paper_value(spec.number, row.method, row.variant, col, metric)
        paper_cells[(row.method, row.variant)] = cells
        rows.put(row.printed, PAPER, cells)
    return paper_cells


def _run_cells(spec: TableSpec, keys, per_col: dict, avg_cols, boot: dict):
    """One run row's cells from per-image values per (column, metric): means with intervals, and the
    Average where every averaged column is present. Returns ``(cells, low, high, n)``."""
    from .stats import weighted_means_interval

    cells, low, high, n = {}, {}, {}, {}
    for col, metric in keys:
        if (col, metric) in per_col:
            iv = weighted_means_interval([per_col[(col, metric)]], [1.0], **boot)
        elif spec.average and col == spec.average.label and all((c.label, metric) in per_col for c in avg_cols):
            iv = weighted_means_interval([per_col[(c.label, metric)] for c in avg_cols], None, **boot)
        else:
            continue
        cells[(col, metric)], low[(col, metric)], high[(col, metric)] = iv.mean, iv.low, iv.high
        n[(col, metric)] = iv.n
    return cells, low, high, n


def _delta_cells(spec: TableSpec, cells: dict, ref: dict, ref_label: str, origins: dict, avg_cols,
                 notes: list[str], partial_cols: set[str] = frozenset()) -> dict:
    """Run minus paper, cell by cell, on complete real-set columns only (the Average: against the
    paper's rule applied to the paper's own cells; see :func:`_paper_average_target`). A column in
    ``partial_cols`` (fewer images than the set's size) gets no Δ, nor does an Average over it."""
    import numpy as np

    deltas = {}
    for (col, metric), value in cells.items():
        is_avg = bool(spec.average) and col == spec.average.label
        over = [c.label for c in avg_cols] if is_avg else [col]
        if not all(origins.get(x) is not None and origins[x].suite == "real" for x in over):
            continue
        if any(x in partial_cols for x in over):
            continue
        target = ref.get((col, metric), np.nan)
        if is_avg:
            target, note = _paper_average_target(spec, ref_label, metric, target,
                                                 [ref.get((c, metric), np.nan) for c in over])
            if note and note not in notes:
                notes.append(note)
        deltas[(col, metric)] = value - target
    return deltas


def _column_protocols(records: pd.DataFrame, origins: dict) -> dict[str, str]:
    return {label: ",".join(sorted(records.loc[records["dataset"] == o.dataset, "protocol"].unique()))
            for label, o in origins.items() if o}


def _run_rows(spec: TableSpec, records: pd.DataFrame, rows: _Rows, paper_cells: dict, origins: dict,
              notes: list[str], boot: dict, partial: dict, variants: dict | None = None,
              params: dict | None = None) -> None:
    """Put one row per (run, method) with data in this table, and its Δ row where the paper has one
    and the columns are complete; ``partial`` receives ``(row, column) -> (n, N)`` of partial cells."""
    import numpy as np

    from .coverage import expected_count

    avg_cols = spec.average_columns()
    recs = records if not spec.run_methods_only else records[records["method"].isin(spec.run_methods_only)]
    recs = recs[recs["dataset"].isin({o.dataset for o in origins.values() if o})]
    pairs = list(dict.fromkeys(zip(recs["run"], recs["method"], strict=True)))
    # a method in several runs is labelled "method [run]" in every table, also where only one of its runs
    # has a column (the radar joins rows across Tables 1, 4 and 5 by label)
    runs_per_method: dict[str, set] = {}
    for run, method in dict.fromkeys(zip(records["run"], records["method"], strict=True)):
        runs_per_method.setdefault(method, set()).add(run)
    duplicated = {m for m, rs in runs_per_method.items() if len(rs) > 1}
    grouped = {k: g for k, g in recs.groupby(["run", "method", "dataset", "metric"], sort=False)}
    column_task = {c.label: c.task for c in [*spec.columns, *avg_cols]}
    for run, method in pairs:
        info = run_method_info(method)
        if info.get("tables") and spec.id not in info["tables"]:
            continue  # a published baseline shows in the paper tables it has a row in
        if spec.run_variants:
            variant = ((variants or {}).get((run, method)) or {}).get(spec.id)
            if variant is None:
                continue  # an ablation table shows only checkpoints that declare their variant of it
            info = {**info, "method": "ABAIR", "variant": str(variant)}
        per_col, coverage = {}, {}
        for label, origin in origins.items():
            if info.get("tasks") and column_task[label] not in info["tasks"]:
                continue  # a per-task release fills its task's columns only
            for metric in ("PSNR", "SSIM") if origin else ():
                g = grouped.get((run, method, origin.dataset, metric.lower()))
                if g is not None and len(g):
                    per_col[(label, metric)] = g["value"].to_numpy(dtype=float)
                    total = expected_count(origin.dataset)
                    if total is not None and g["image_id"].nunique() < total:
                        coverage[label] = (int(g["image_id"].nunique()), total)
        cells, low, high, n = _run_cells(spec, rows.keys, per_col, avg_cols, boot)
        if not cells:
            continue
        count = ((params or {}).get((run, method)) or {}).get("adapter_params" if spec.run_variants else "params")
        if spec.params and isinstance(count, int | float):
            cells[spec.params] = count / 1e6  # the ablation tables count the adapters, Table 1 the whole model
        label = _row_key(run, method, duplicated)
        if spec.run_variants:
            label = f"{label} ({info['variant']})"
        rows.put(label, RUN, cells, low, high, n)
        for col, n_of in coverage.items():
            partial[(label, col)] = n_of
        if spec.average and coverage and any(c.label in coverage for c in avg_cols):
            full = {c.label: coverage.get(c.label) or (len(per_col.get((c.label, "PSNR"), ())),) * 2
                    for c in avg_cols}
            partial[(label, spec.average.label)] = (sum(v[0] for v in full.values()),
                                                    sum(v[1] for v in full.values()))
        ref = paper_cells.get((info.get("method"), info.get("variant") or ""))
        if ref is None:
            continue
        ref_label = next(r.printed for r in spec.rows if (r.method, r.variant) == (info["method"], info.get("variant") or ""))
        deltas = _delta_cells(spec, cells, ref, ref_label, origins, avg_cols, notes, set(coverage))
        if any(np.isfinite(v) for v in deltas.values()):
            rows.put(f"Δ {label} − {ref_label}", DELTA, deltas)
        real_partial = [c for c in coverage if origins[c].suite == "real"]
        if real_partial:
            notes.append(f"{label}: partial on " + ", ".join(f"{c} ({coverage[c][0]} of {coverage[c][1]} images)"
                                                          for c in real_partial)
                         + "; no Δ to the paper is computed from a partial set")


def _table_notes(spec: TableSpec, records, rows: _Rows, origins: dict) -> list[str]:
    """The notes under a table: what could not be computed, mini-suite columns, the paper's quirks."""
    notes = []
    avg_cols = spec.average_columns()
    run_labels = [label for label, k in rows.kinds.items() if k == RUN]
    if records is not None and spec.average and any(origins.get(c.label) for c in avg_cols):
        missing_avg = [lab for lab in run_labels
                       if not any(rows.has_value(lab, (spec.average.label, m)) for m in spec.average.metrics)]
        if missing_avg:
            notes.append(f"no Average for {', '.join(missing_avg)}: it needs all of "
                         f"{', '.join(c.label for c in avg_cols)}")
    if spec.columns and not any(origins.get(c.label) for c in spec.columns) and records is not None:
        missing = [c.mini if c.mini else c.real for c in spec.columns]
        notes.append("no run covers these columns (" + ", ".join(str(m) for m in missing) + ")")
    if records is not None and spec.run_methods_only and not run_labels:
        notes.append(f"none of {', '.join(spec.run_methods_only)} is in the runs")
    if records is not None and len(records) and spec.run_variants and not run_labels:
        notes.append(f"no run row: an ablation checkpoint shows here when its model card (the .json beside it) "
                     f"declares its variant of this table, e.g. \"ablation\": {{\"{spec.id}\": "
                     f"\"{spec.rows[-1].variant}\"}} (variants: {', '.join(r.variant for r in spec.rows)})")
    if run_labels and any(o is not None and o.suite == "mini" for o in origins.values()):
        notes.append("mini-suite columns: 128x128 tiles degraded by this project's operators, not the "
                     "paper's test sets; no Δ to the paper is computed on them")
    if spec.truncated:
        notes.append(spec.truncated)
    notes += [f"{dup['row']}: {dup['note']}" for dup in spec.printed_duplicates]
    notes += [f"{mm['row']} {mm['metric']} Average as printed: {mm['note']}" for mm in spec.known_mismatches]
    return notes


def build_table(
    spec: TableSpec, records: pd.DataFrame | None = None, *, n_boot: int = 2000, confidence: float = 0.95,
    seed: int = 0, ci_method: str = "bca", variants: dict | None = None, params: dict | None = None,
) -> BuiltTable:
    """Fill ``spec`` from the paper's numbers and (optionally) run records.

    ``records``: the long records of one or more runs (columns of :data:`bench.store.COLUMNS` plus
    ``run``, a label per run directory), already reduced to one protocol per dataset (see
    :meth:`bench.report.runs.Runs.scored`). Our cells are means of per-image values with a
    bootstrap interval (:mod:`bench.report.stats`); our Average is the paper's rule applied to our
    column means, present only when every averaged column is. ``variants``: ``(run, method) ->
    {table id: variant}`` from the method configs (the model card's ``ablation``), for the ablation
    tables (``run_variants``). ``params``: ``(run, method) -> {"params": N, "adapter_params": N}``
    (:func:`run_params`), the parameter counts a method config records: a run row's Param. cell, in
    millions (the whole model in Table 1, the adapters in the ablation tables, as the paper counts).
    """
    rows = _Rows(spec.cell_keys())
    paper_cells = _paper_rows(spec, rows)
    all_cols = list(spec.columns) + [c for c in spec.average_columns() if c not in spec.columns]
    has_records = records is not None and len(records) > 0
    datasets = set(records["dataset"].unique()) if has_records else set()
    origins = {c.label: _column_origin(c, datasets) for c in all_cols}
    protocols = _column_protocols(records, origins) if has_records else {}
    delta_notes: list[str] = []
    partial: dict[tuple[str, str], tuple[int, int]] = {}
    if has_records:
        boot = dict(n_boot=n_boot, confidence=confidence, seed=seed, method=ci_method)
        _run_rows(spec, records, rows, paper_cells, origins, delta_notes, boot, partial, variants, params)
    notes = delta_notes + _table_notes(spec, records, rows, origins)
    f = rows.frames()
    return BuiltTable(spec, f["values"], f["low"], f["high"], f["n"], rows.kinds, origins, protocols, notes,
                      partial)


def run_params(manifests: dict[str, dict]) -> dict[tuple[str, str], dict[str, int]]:
    """``(run, method) -> {"params": N, "adapter_params": N}``: the parameter counts each method config
    records (the ABAIR methods: ``param_counts()``'s total and adapters, read from the checkpoint)."""
    out = {}
    for run, manifest in manifests.items():
        for method, config in (manifest.get("methods") or {}).items():
            if isinstance(config, dict):
                counts = {k: config[k] for k in ("params", "adapter_params") if isinstance(config.get(k), int)}
                if counts:
                    out[(run, method)] = counts
    return out


def _paper_average_target(spec: TableSpec, ref_label: str, metric: str, printed: float,
                          cells: list[float]) -> tuple[float, str | None]:
    """What a Δ on the Average is taken against: the paper's rule applied to the paper's own cells
    (a run equal to the paper cell for cell then shows Δ 0), or the printed Average when a cell is
    unknown. Returns ``(target, note)``; the note gives the printed value and the discrepancy when
    the cells' mean does not round to the printed Average."""
    import numpy as np

    if not cells or not all(np.isfinite(cells)):
        return printed, None
    mean = paper_average(cells)
    if not np.isfinite(printed):
        return mean, None
    decimals = DECIMALS.get(metric, 3)
    if round(mean, decimals) == round(printed, decimals):
        return mean, None
    return mean, (f"Δ Average {metric} against {ref_label}: taken against the mean of the paper's own "
                  f"{len(cells)} cells, {mean:.{decimals + 1}f}; the paper prints {printed:.{decimals}f} "
                  f"({printed - mean:+.{decimals + 1}f})")


def rank_marks(table: BuiltTable) -> pd.DataFrame:
    """``"best"``/``"second"``/``""`` per cell, ranked among the paper's rows and among our rows
    separately (the mini suite's numbers are not comparable with the paper's), at the printed
    precision (equal printed values share a mark). Parameters and Δ rows are not ranked."""
    import numpy as np
    import pandas as pd

    values = table.values.to_numpy(dtype=float)
    marks = np.full(values.shape, "", dtype=object)
    position = {label: i for i, label in enumerate(table.values.index)}
    for kind in (PAPER, RUN):
        rows = [position[label] for label in table.rows(kind)]
        if len(rows) < 2:
            continue
        for j, key in enumerate(table.values.columns):
            better = HIGHER_IS_BETTER.get(key[1])
            if better is None:
                continue
            col = values[rows, j].round(DECIMALS.get(key[1], 3))
            distinct = sorted({float(v) for v in col if np.isfinite(v)}, reverse=better)
            if len(distinct) < 2:
                continue
            for i, v in zip(rows, col, strict=True):
                if v == distinct[0]:
                    marks[i, j] = "best"
                elif v == distinct[1]:
                    marks[i, j] = "second"
    return pd.DataFrame(marks, index=table.values.index, columns=table.values.columns)
