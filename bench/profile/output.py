"""Profile outputs: ``profile.json`` (everything), ``profile.csv`` (one row per measurement) and
``profile.png`` (throughput per configuration), plus reading them back for the HTML report.

``profile.json`` keys: ``schema``, ``created`` (UTC), ``wall_seconds``, ``command``, ``settings``,
``environment`` (CPU model, threads, GPU, driver, torch/CUDA versions, git commit), ``method``
(how time, memory and FLOPs were measured), ``targets``, ``results`` (the CSV rows, as objects) and
``ratios`` (latency ratios to the backbone alone of each targeted configuration: ``ratio_paired``,
``ratio`` of the medians, ``ratio_min`` of the minima; ``met`` = ``ratio_paired <= target``, None
with ``verdict`` "does not apply: ..." where the target assumes merged adapters that cannot merge;
``verdict``: "met", "MISSED" or that sentence). Each result in the JSON also lists
``block_latency_ms``, the mean latency of each repeat's block, and ``images_per_s_blocks``, each
block's throughput.

``profile.csv`` columns (:data:`CSV_FIELDS`); units: milliseconds for latencies, images per second,
FLOPs per call, GFLOP/s achieved, MiB for memory, pixels for ``size`` (square inputs).
``images_per_s`` = batch / median latency lies within ``images_per_s_min`` .. ``images_per_s_max``
(batch / max and batch / min latency); ``pct_of_matmul`` is paired with the matmul blocks timed in the
same rounds (``matmul_gflops_per_s``: their median rate), see :mod:`bench.profile.measure`.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from abair.errors import UserError

JSON_NAME, CSV_NAME, PLOT_NAME = "profile.json", "profile.csv", "profile.png"

CSV_FIELDS = (
    "config", "family", "preset", "device", "dtype", "compiled", "size", "batch", "adapter_type", "rank", "mode",
    "params", "flops", "gflops_per_s", "pct_of_matmul", "matmul_gflops_per_s", "calls", "repeats", "latency_median_ms", "latency_p90_ms",
    "latency_mean_ms", "latency_min_ms", "latency_max_ms", "images_per_s", "images_per_s_min",
    "images_per_s_max", "latency_ratio", "latency_ratio_min", "latency_ratio_paired", "peak_mem_mb", "peak_total_mb", "mem_method", "error",
)


def write_profile(doc: dict, out_dir: str | Path) -> list[Path]:
    """Write JSON, CSV and the plot into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / JSON_NAME, out / CSV_NAME, out / PLOT_NAME]
    paths[0].write_text(json.dumps(doc, indent=1, default=_json_default) + "\n", encoding="utf-8")
    with paths[1].open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in doc["results"]:
            writer.writerow({k: _csv_value(row.get(k, "")) for k in CSV_FIELDS})
    paths[2].write_bytes(plot_png(doc))
    return paths


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _csv_value(value):
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def load_profile(path: str | Path) -> dict:
    """A profile document from a directory holding ``profile.json`` (or the file itself)."""
    p = Path(path)
    file = p / JSON_NAME if p.is_dir() else p
    if not file.is_file():
        raise UserError(f"no profile in '{path}': expected {file} (written by 'abair-bench profile --out DIR')")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read profile {file}: {exc}; rerun 'abair-bench profile'") from None
    if not isinstance(doc, dict) or doc.get("schema") != "abair-bench/profile/1" or "results" not in doc:
        raise UserError(f"{file} is not an abair-bench profile (schema abair-bench/profile/1)")
    return doc


def _group_label(row: dict) -> str:
    label = f"{row['size']}px b{row['batch']} {row['dtype']}"
    return label + " compiled" if row.get("compiled") else label


def plot_png(doc: dict, title: str | None = None) -> bytes:
    """Horizontal bars of images/s per configuration on a log axis (one colour per size/batch/dtype
    group), with the per-repeat min..max as whiskers; Agg backend, PNG bytes."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in doc["results"] if not r.get("error")]
    names = list(dict.fromkeys(r["config"] for r in rows))
    groups = list(dict.fromkeys(_group_label(r) for r in rows))
    height = 0.8 / max(len(groups), 1)
    fig, ax = plt.subplots(figsize=(8, 0.35 * max(len(names), 1) * max(len(groups), 1) ** 0.5 + 1.4), dpi=110)
    for gi, group in enumerate(groups):
        ys, vals, lo, hi = [], [], [], []
        for r in rows:
            if _group_label(r) != group:
                continue
            ys.append(names.index(r["config"]) + gi * height)
            vals.append(r["images_per_s"])
            lo.append(max(r["images_per_s"] - r.get("images_per_s_min", r["images_per_s"]), 0))  # >= 0 by construction
            hi.append(max(r.get("images_per_s_max", r["images_per_s"]) - r["images_per_s"], 0))
        ax.barh(ys, vals, height=height, xerr=[lo, hi], label=group, capsize=2)
        for y, v, h in zip(ys, vals, hi, strict=True):
            ax.annotate(f"{v:.3g}", (v + h, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=7)
    ax.set_yticks([i + height * (len(groups) - 1) / 2 for i in range(len(names))], names)
    ax.invert_yaxis()
    ax.set_xscale("log")  # the estimator alone runs orders of magnitude faster than any full network
    ax.set_xlabel("images / s, log scale (batch / median latency; whiskers: batch / slowest .. fastest call)")
    ax.set_title(title or plot_title(doc), fontsize=9)
    if len(groups) > 1:
        ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def plot_title(doc: dict) -> str:
    """``abair-bench profile: preset tiny, cpu (CPU model), 256px, batch 1, fp32, 2 threads``: what was
    measured (the sizes, batches and dtypes of the settings) and the torch threads."""
    settings, env = doc.get("settings", {}), doc.get("environment", {})
    where = env.get("gpu") or env.get("cpu", "")
    sizes = "/".join(f"{s}" for s in settings.get("sizes", [])) + "px"
    batches = "batch " + "/".join(str(b) for b in settings.get("batches", []))
    dtypes = "/".join(settings.get("dtypes", []))
    threads = env.get("torch_threads")
    return (f"abair-bench profile: preset {settings.get('preset', '')}, {settings.get('device', '')} ({where})\n"
            f"{sizes}, {batches}, {dtypes}" + (f", {threads} threads" if threads else ""))


def report_context(doc: dict, label: str) -> dict:
    """What the HTML report's profile section needs: rows of formatted cells, ratios, machine, plot."""
    import base64

    env = doc.get("environment", {})
    rows = []
    for r in doc["results"]:
        if r.get("error"):
            rows.append({"config": r["config"], "group": _group_label(r), "error": r["error"]})
            continue
        rows.append({
            "config": r["config"], "group": _group_label(r), "error": "",
            "median": f"{r['latency_median_ms']:.1f}", "p90": f"{r['latency_p90_ms']:.1f}",
            "ips": f"{r['images_per_s']:.3g}",
            "spread": f"{r['images_per_s_min']:.3g}–{r['images_per_s_max']:.3g}",
            "ratio": f"{r['latency_ratio_paired']:.3f}" if "latency_ratio_paired" in r else "",
            "gflop": f"{r['flops'] / 1e9:.1f}", "gflops": f"{r['gflops_per_s']:.1f}",
            "mem": f"{r['peak_mem_mb']:.0f}", "params": f"{r['params'] / 1e6:.2f}M",
        })
    ratios = [{**q, "ratio": f"{q['ratio_paired']:.3f}", "group": _group_label(q),
               "verdict": q.get("verdict") or ("met" if q.get("met") else "missed")} for q in doc.get("ratios", [])]
    machine = ", ".join(str(v) for v in (env.get("gpu"), env.get("driver") and f"driver {env['driver']}",
                                         env.get("cpu"), f"{env.get('torch_threads')} torch threads",
                                         f"torch {env.get('torch')}") if v)
    for dtype, ref in (doc.get("matmul") or {}).items():
        machine += f"; dense {dtype} matmul {ref['gflops_per_s']:.0f} GFLOP/s"
    uri = "data:image/png;base64," + base64.b64encode(plot_png(doc)).decode("ascii")
    return {"label": label, "command": doc.get("command", ""), "created": doc.get("created", ""),
            "preset": doc.get("settings", {}).get("preset", ""), "device": doc.get("settings", {}).get("device", ""),
            "machine": machine, "memory": doc.get("method", {}).get("memory", ""), "rows": rows, "ratios": ratios,
            "plot": uri}
