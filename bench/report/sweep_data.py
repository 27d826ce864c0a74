"""The sweep records of runs as tidy tables, and the written summaries computed from them.

A sweep point is a dataset named ``sweep:...`` whose manifest entry holds ``sweep`` (steps, axis,
parameter, level; :mod:`bench.sweeps.spec`); without a manifest the point is read back from its name.
:func:`point_table` gives one row per (method, point, metric): the mean of the per-image values
under the point's default protocol, its bootstrap interval (:func:`bench.report.stats.mean_interval`),
the image count and the mean paired gain over ``identity`` (the input) on the same images.
:func:`estimator_table` gives the ABAIR estimator's mean probability per adapter and point.
:func:`end_points` names the points at each axis's and composition's ends (what a summary keeps).
Nothing here draws; :mod:`bench.report.sweep_figures` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

IDENTITY = "identity"
METRICS = ("psnr", "ssim")


def point_info(runs) -> dict[str, dict[str, Any]]:
    """``{dataset: {"axis", "param", "level", "composition", "family", "operators"}}`` of every sweep
    point in the runs (the manifest's ``sweep`` entry, else parsed from the name)."""
    from bench.sweeps.spec import PREFIX, Point, parse_point_name

    info: dict[str, dict[str, Any]] = {}
    for manifest in runs.manifests.values():
        for name, entry in (manifest.get("datasets") or {}).items():
            sweep = entry.get("sweep") if isinstance(entry, dict) else None
            if isinstance(sweep, dict) and name not in info:
                info[name] = {k: sweep.get(k) for k in ("axis", "param", "level", "composition", "family")}
                info[name]["operators"] = [s.get("operator") for s in sweep.get("steps") or []]
    for name in runs.records["dataset"].unique():
        if name in info or not str(name).startswith(PREFIX):
            continue
        steps = parse_point_name(name)
        if len(steps) == 1 and steps[0].params:  # the last parameter is the swept one
            key, value = steps[0].params[-1]
            rest = ",".join(f"{k}={v}" for k, v in steps[0].params[:-1])
            point = Point(tuple(steps), axis=f"{steps[0].operator} {key}" + (f" ({rest})" if rest else ""),
                          param=key, level=float(value))
        else:
            point = Point(tuple(steps))
        info[name] = {**{k: v for k, v in point.describe().items() if k not in ("point", "steps")},
                      "operators": list(point.operators)}
    return info


def end_points(info: dict[str, dict[str, Any]]) -> set[str]:
    """The points of :func:`point_info` at the ends of the sweep, what a summary table keeps: the
    lowest and the highest level of each axis, and of each composition (the same steps, in any order)
    its first order listed (the spec's written order, as the manifest lists it) and that order reversed
    (the last one listed when the reverse is absent). An axis of one or two levels and a two-step
    composition keep every point."""
    from bench.sweeps.spec import parse_point_name

    keep: set[str] = set()
    axes: dict[str, dict[str, float]] = {}
    orders: dict[tuple[str, ...], dict[tuple[str, ...], str]] = {}
    for name, point in info.items():
        if point["axis"] is not None and point["level"] is not None:
            axes.setdefault(point["axis"], {})[name] = float(point["level"])
        else:
            steps = tuple(s.name for s in parse_point_name(name))
            orders.setdefault(tuple(sorted(steps)), {})[steps] = name
    for levels in axes.values():
        keep.update(n for n, lv in levels.items() if lv in (min(levels.values()), max(levels.values())))
    for group in orders.values():
        listed = list(group)
        keep.update((group[listed[0]], group.get(listed[0][::-1], group[listed[-1]])))
    return keep


def method_labels(records: pd.DataFrame) -> pd.Series:
    """``method``, or ``method [run]`` when a method is in several runs (as the tables label them)."""
    runs_per_method = records.groupby("method")["run"].nunique()
    multi = records["method"].map(runs_per_method) > 1
    return records["method"].where(~multi, records["method"] + " [" + records["run"] + "]")


def sweep_records(runs) -> pd.DataFrame:
    """The runs' records of sweep points under each point's default protocol, with a ``label`` column."""
    info = point_info(runs)
    df = runs.records[runs.records["dataset"].isin(list(info))]
    df = df[df["protocol"] != "estimator"]
    if df.empty:
        return df.assign(label=[])
    defaults = runs.default_protocols()
    keep = df["protocol"] == df["dataset"].map(lambda d: defaults.get(d, "allinone-rgb"))
    df = df[keep] if keep.any() else df
    return df.assign(label=method_labels(df))


def point_table(runs, *, n_boot: int, confidence: float, seed: int, ci_method: str) -> pd.DataFrame:
    """One row per (label, dataset, metric): ``mean``, ``low``, ``high``, ``n``, ``gain`` (mean of the
    per-image difference to ``identity``; NaN without identity) plus the point's columns."""
    import pandas as pd

    from .stats import mean_interval

    info = point_info(runs)
    df = sweep_records(runs)
    rows = []
    if df.empty:
        return pd.DataFrame(rows)
    identity = df[df["method"] == IDENTITY].drop_duplicates(["dataset", "image_id", "metric"])
    floor = identity.set_index(["dataset", "image_id", "metric"])["value"]
    for (label, method, dataset, metric), group in df.groupby(["label", "method", "dataset", "metric"], sort=False):
        if metric not in METRICS:
            continue
        values = group["value"].to_numpy(dtype=float)
        ci = mean_interval(values, n_boot=n_boot, confidence=confidence, seed=seed, method=ci_method)
        keys = pd.MultiIndex.from_arrays([group["dataset"], group["image_id"], group["metric"]])
        base = floor.reindex(keys).to_numpy(dtype=float)
        both = ~pd.isna(base)
        gain = float((values[both] - base[both]).mean()) if both.any() else float("nan")
        point = info[dataset]
        rows.append({"label": label, "method": method, "dataset": dataset, "metric": metric, "mean": ci.mean,
                     "low": ci.low, "high": ci.high, "n": ci.n, "gain": gain, "axis": point["axis"],
                     "param": point["param"], "level": point["level"], "composition": point["composition"],
                     "family": point["family"], "operators": "+".join(point["operators"])})
    return pd.DataFrame(rows)


def estimator_table(runs) -> pd.DataFrame:
    """Mean estimator probability per (label, dataset, adapter) with the point's columns (empty when
    the runs recorded none)."""
    import pandas as pd

    info = point_info(runs)
    df = runs.records[(runs.records["protocol"] == "estimator") & runs.records["dataset"].isin(list(info))]
    if df.empty:
        return pd.DataFrame()
    df = df.assign(label=method_labels(df), adapter=df["metric"].str.removeprefix("p:"))
    out = df.groupby(["label", "dataset", "adapter"], sort=False)["value"].agg(mean="mean", n="count").reset_index()
    for key in ("axis", "param", "level", "composition", "family"):
        out[key] = out["dataset"].map(lambda d, k=key: info[d][k])
    return out


def severity_order(table: pd.DataFrame, axis: str) -> list[float]:
    """The levels of ``axis`` from mild to severe (larger is milder for JPEG quality, bits, light factor)."""
    from bench.sweeps.spec import MILDER_WHEN_LARGER

    part = table[table["axis"] == axis]
    levels = sorted(set(part["level"].astype(float)))
    operator, param = part["operators"].iloc[0], part["param"].iloc[0]
    return levels[::-1] if (operator, param) in MILDER_WHEN_LARGER else levels


def _level(value: float) -> str:
    from bench.sweeps.spec import format_value

    return format_value(float(value))


def beats_input_summary(table: pd.DataFrame, axis: str, label: str) -> str | None:
    """Where ``label`` stops beating the input (mean PSNR gain over identity > 0) along ``axis``, in
    words, from mild to severe; None without identity records."""
    part = table[(table["axis"] == axis) & (table["label"] == label) & (table["metric"] == "psnr")]
    if part.empty or part["gain"].isna().all():
        return None
    param = part["param"].iloc[0]
    gains = part.set_index(part["level"].astype(float))["gain"]
    order = [lv for lv in severity_order(table, axis) if lv in gains.index]
    wins = [bool(gains[lv] > 0) for lv in order]
    at = {lv: f"{param} {_level(lv)} ({gains[lv]:+.2f} dB)" for lv in order}
    if all(wins):
        return f"{label} beats the input at every level, from {at[order[0]]} to {at[order[-1]]}."
    if not any(wins):
        return f"{label} never beats the input (from {at[order[0]]} to {at[order[-1]]})."
    losses = [lv for lv, w in zip(order, wins, strict=True) if not w]
    if wins[-1]:  # it loses at milder levels only (a restorer that damages a clean-ish input)
        k = max(i for i, w in enumerate(wins) if not w) + 1  # from here on it always beats the input
        return f"{label} beats the input only from {at[order[k]]} on; it loses at " \
               f"{', '.join(at[lv] for lv in losses)}."
    k = max(i for i, w in enumerate(wins) if w) + 1  # from here on it never beats the input
    text = f"{label} stops beating the input past {param} {_level(order[k - 1])}: {at[order[k]]}"
    text += f" to {at[order[-1]]}" if k < len(order) - 1 else ""
    earlier = [at[lv] for lv in losses if order.index(lv) < k]
    return text + (f"; it also loses at {', '.join(earlier)}." if earlier else ".")


def order_gap_summary(table: pd.DataFrame) -> list[str]:
    """Per composition family: how much the order changes the input's PSNR, and the method whose gain
    over the input changes most with the order (the largest gap between orders)."""
    comp = table[table["composition"].notna() & (table["metric"] == "psnr")]
    out = []
    for family, part in comp.groupby("family", sort=False):
        orders = list(dict.fromkeys(part["composition"]))
        if len(orders) < 2:
            continue
        floor = part[part["method"] == IDENTITY].set_index("composition")["mean"]
        text = f"{family.replace('+', ' & ')}:"
        if len(floor) == len(orders):
            hard, easy = floor.idxmin(), floor.idxmax()
            text += (f" the input is hardest as {hard.replace('+', ' then ')} ({floor[hard]:.2f} dB) and easiest as "
                     f"{easy.replace('+', ' then ')} ({floor[easy]:.2f} dB);")
        gains = part[part["method"] != IDENTITY].pivot_table(index="label", columns="composition", values="gain")
        gaps = (gains.max(axis=1) - gains.min(axis=1)).dropna()
        if len(gaps) and gaps.max() < 0.005:
            text += " the order changes no method's gain over the input by 0.01 dB or more."
        elif len(gaps):
            who = gaps.idxmax()
            best, worst = gains.loc[who].idxmax(), gains.loc[who].idxmin()
            text += (f" the largest gap between orders is {who}'s, {gaps[who]:.2f} dB (gain "
                     f"{gains.loc[who, best]:+.2f} dB as {best.replace('+', ' then ')}, {gains.loc[who, worst]:+.2f} dB as "
                     f"{worst.replace('+', ' then ')}).")
        else:
            text += " no method's gain over the input is known (run identity too)."
        out.append(text)
    return out


def estimator_summary(table: pd.DataFrame, axis: str, label: str) -> str | None:
    """Which adapter the estimator favours (highest mean probability) at each level of ``axis``."""
    part = table[(table["axis"] == axis) & (table["label"] == label)]
    if part.empty:
        return None
    param = part["param"].iloc[0]
    top = part.loc[part.groupby("level")["mean"].idxmax()].set_index("level")
    levels = sorted(top.index.astype(float))
    from bench.sweeps.spec import MILDER_WHEN_LARGER

    operator = axis.split(" ", 1)[0]
    if (operator, param) in MILDER_WHEN_LARGER:
        levels = levels[::-1]
    runs_: list[list] = []
    for lv in levels:
        adapter = top.loc[lv, "adapter"]
        if runs_ and runs_[-1][0] == adapter:
            runs_[-1][2] = lv
        else:
            runs_.append([adapter, lv, lv])
    parts = [f"{a} ({param} {_level(lo)}{'' if lo == hi else '–' + _level(hi)}, p {top.loc[lo, 'mean']:.2f}"
             + ("" if lo == hi else f"–{top.loc[hi, 'mean']:.2f}") + ")" for a, lo, hi in runs_]
    if len(runs_) > 1:
        verdict = f"its choice changes {len(runs_) - 1} time(s) as the severity grows"
    elif runs_[0][0] == operator:
        verdict = "it picks the matching adapter at every level"
    else:
        verdict = f"it picks {runs_[0][0]} at every level ({operator} has no adapter of its own)" \
            if operator not in set(part["adapter"]) else f"it never picks the {operator} adapter"
    return f"{label}'s estimator favours " + ", then ".join(parts) + f": {verdict}."
