"""The paper's own numbers, read from the package data (one source of truth).

``bench/data/paper_results.csv`` holds every printed cell of Tables 1-7 of the ABAIR paper in long
format (``table, setting, method, variant, dataset, task, metric, value``); Table 8 has no numbers
in the source. ``metric`` is ``PSNR`` (dB), ``SSIM`` (0..1) or ``Params`` (millions of parameters,
empty dataset). ``value`` keeps the printed digits (read as text with :func:`paper_results_text`).
``results/paper/`` holds byte-identical copies for readers (checked by the tests).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

RESULTS_FILE = "paper_results.csv"
TABLES_FILE = "paper_tables.yaml"


def data_path(name: str):
    """A file of the ``bench/data`` package data (a ``Traversable``; ``str()`` gives a path)."""
    return resources.files("bench").joinpath("data", name)


def paper_results_text() -> str:
    """The CSV exactly as stored (values keep the printed digits, e.g. ``33.4`` and ``0.397``)."""
    return data_path(RESULTS_FILE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _paper_results():
    import io

    import pandas as pd

    df = pd.read_csv(io.StringIO(paper_results_text()), dtype={"table": str, "variant": str, "dataset": str},
                     keep_default_na=False, na_values={"value": [""]})
    df["table"] = df["table"].astype(int)
    df["value"] = df["value"].astype(float)
    return df


def paper_results():
    """The paper's numbers as a DataFrame (a copy): ``table`` int, ``value`` float, empty strings kept."""
    return _paper_results().copy()


@lru_cache(maxsize=1)
def _paper_cells() -> dict[tuple, float]:
    """``(table, method, variant, dataset, metric) -> value``, the first row of each key (as printed once)."""
    df = _paper_results()
    cells: dict[tuple, float] = {}
    keys = zip(df["table"].tolist(), df["method"], df["variant"], df["dataset"], df["metric"], strict=True)
    for key, value in zip(keys, df["value"].tolist(), strict=True):
        cells.setdefault(key, value)
    return cells


def paper_value(table: int, method: str, variant: str, dataset: str, metric: str) -> float:
    """One printed cell, or ``nan`` when the paper has no such cell (truncated or not printed)."""
    return float(_paper_cells().get((int(table), method, variant or "", dataset, metric), float("nan")))


@lru_cache(maxsize=1)
def paper_tables_meta() -> dict:
    """``paper_tables.yaml`` parsed (table captions, columns, rows, radar settings, run-method map)."""
    import yaml

    return yaml.safe_load(data_path(TABLES_FILE).read_text(encoding="utf-8"))
