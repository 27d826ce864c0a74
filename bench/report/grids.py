"""Figures 4-5: qualitative grids (input, each method, ground truth) with a zoomed inset.

A grid has one row per chosen image and the columns ``Input``, the methods whose restored PNGs the
run saved (``run --save-images``), and ``Ground truth``. Each panel shows the whole image with a
yellow box, and the box's content enlarged (nearest neighbour, so pixels stay pixels) in the
bottom-right corner. The box is placed where the input differs most from the ground truth (the
square window of side ``zoom_frac`` x the shorter side with the largest mean absolute error), the
same box on every panel of a row.

The input and the ground truth come from the dataset registry (:func:`bench.datasets.get_dataset`;
reading data, not running a model); they are centre-cropped to the saved PNG's size when a
protocol cropped the images before restoration. Images are uint8 HxWx3 throughout.

When no image is chosen, each dataset contributes its *median* image: the one whose best method
PSNR is the median of that dataset's, a typical case rather than a flattering one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from abair.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

    from .runs import Runs

BOX_COLOUR = (255, 215, 0)
#: pixels of the grid figure's layout (at :data:`GRID_DPI`): each panel is scaled to fit a square of
#: ``CELL_SIDE`` (nearest neighbour when enlarged, so pixels stay pixels; Lanczos when reduced, once,
#: by :func:`with_inset`)
CELL_SIDE = 160
PANEL_MAX_SIDE = CELL_SIDE


@dataclass
class GridRow:
    """One image: ``panels`` are (title, uint8 HxWx3 panel with inset, caption) in column order."""

    dataset: str
    image_id: str
    panels: list[tuple[str, np.ndarray, str]] = field(default_factory=list)


INSET_FRAC = 0.45
#: resolution of the grid figures: a 128x128 tile spans ~176 px (about 1.4x), enough to see
#: restoration artefacts without the file size of a print-resolution figure
GRID_DPI = 80


def zoom_box(degraded: np.ndarray, clean: np.ndarray, zoom_frac: float = 0.25,
             inset_frac: float = INSET_FRAC) -> tuple[int, int, int]:
    """``(top, left, size)`` of the square window with the largest mean |degraded - clean| among
    those clear of the bottom-right corner where the inset goes (``inset_frac`` of the shorter side)."""
    import numpy as np

    h, w = clean.shape[:2]
    size = max(4, int(round(min(h, w) * zoom_frac)))
    err = np.abs(degraded.astype(np.float64) - clean.astype(np.float64)).mean(axis=2)
    integral = np.pad(err.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]
    corner = round(min(h, w) * inset_frac) + 2
    tops, lefts = np.arange(sums.shape[0])[:, None], np.arange(sums.shape[1])[None, :]
    under_inset = (tops + size > h - corner) & (lefts + size > w - corner)
    if not under_inset.all():
        sums = np.where(under_inset, -np.inf, sums)
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top), int(left), size


def with_inset(image: np.ndarray, box: tuple[int, int, int], inset_frac: float = INSET_FRAC,
               max_side: int = PANEL_MAX_SIDE) -> np.ndarray:
    """The image (downscaled to ``max_side``) with ``box`` outlined and its content enlarged in the
    bottom-right corner (``inset_frac`` of the panel's width); returns a new uint8 array."""
    import numpy as np
    from PIL import Image

    top, left, size = box
    crop = image[top : top + size, left : left + size]
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    ph, pw = max(1, round(h * scale)), max(1, round(w * scale))
    panel = np.asarray(Image.fromarray(image).resize((pw, ph), Image.LANCZOS)) if scale < 1 else image.copy()
    panel = panel.copy()
    t, lft, s = (round(v * scale) for v in (top, left, size))
    s = max(s, 2)
    line = max(1, round(min(ph, pw) / 100))
    for y0, y1, x0, x1 in ((t, t + line, lft, lft + s), (t + s - line, t + s, lft, lft + s),
                           (t, t + s, lft, lft + line), (t, t + s, lft + s - line, lft + s)):
        panel[max(0, y0):min(ph, y1), max(0, x0):min(pw, x1)] = BOX_COLOUR
    side = max(8, round(min(ph, pw) * inset_frac))
    zoom = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((side, side), Image.NEAREST))
    framed = np.empty((side + 2 * line, side + 2 * line, 3), dtype=np.uint8)
    framed[:] = BOX_COLOUR
    framed[line : line + side, line : line + side] = zoom
    fh = framed.shape[0]
    panel[ph - fh : ph, pw - fh : pw] = framed[: min(fh, ph), : min(fh, pw)]
    return panel


def median_images(scored: pd.DataFrame, datasets: list[str], metric: str = "psnr") -> list[tuple[str, str]]:
    """For each dataset, the image whose best-method ``metric`` is the median of the dataset's."""
    out = []
    for ds in datasets:
        d = scored[(scored["dataset"] == ds) & (scored["metric"] == metric)]
        if d.empty:
            continue
        best = d.groupby("image_id")["value"].max().sort_values(kind="mergesort")
        out.append((ds, str(best.index[(len(best) - 1) // 2])))
    return out


def check_selection(selection: list[tuple[str, str]], records: pd.DataFrame) -> None:
    """UserError (did-you-mean) unless every ``(dataset, image_id)`` chosen for a grid was scored in the runs."""
    from abair.errors import did_you_mean

    datasets = sorted(records["dataset"].astype(str).unique())
    for dataset, image_id in selection:
        if dataset not in datasets:
            raise UserError(f"--grid {dataset}:{image_id}: no dataset '{dataset}' in the runs"
                            f"{did_you_mean(dataset, datasets)}; they have {', '.join(datasets)}")
        ids = records.loc[records["dataset"] == dataset, "image_id"].astype(str).unique()
        if image_id not in ids:
            raise UserError(f"--grid {dataset}:{image_id}: no image '{image_id}' of {dataset} in the runs"
                            f"{did_you_mean(image_id, ids)}; e.g. {', '.join(sorted(ids)[:3])}")


class InputCache:
    """Loads pairs through the dataset registry, one dataset object per name (shared by the audit)."""

    def __init__(self, dataset_options=None):
        self.options = dataset_options
        self._sets: dict[str, object] = {}

    def _set(self, dataset: str):
        from bench.datasets import get_dataset

        if dataset not in self._sets:
            self._sets[dataset] = get_dataset(dataset, self.options)
        return self._sets[dataset]

    def pair(self, dataset: str, image_id: str):
        return self._set(dataset).load(image_id)

    def clean(self, dataset: str, image_id: str):
        """The ground truth alone (uint8 HxWx3): what the audit scores against."""
        return self._set(dataset).load_clean(image_id)


def read_png(path) -> np.ndarray:
    """A saved restoration as uint8 HxWx3 (UserError naming the file if unreadable)."""
    import numpy as np

    from abair.imagefile import open_image

    try:
        with open_image(path, what="restored image") as im:
            return np.asarray(im.convert("RGB"))
    except OSError as exc:
        raise UserError(f"cannot read the restored image {path} ({exc}); rerun with --save-images") from None


def build_grid(runs: Runs, scored: pd.DataFrame, selection: list[tuple[str, str]], *, inputs: InputCache,
               max_methods: int = 6, zoom_frac: float = 0.25) -> tuple[list[GridRow], list[str]]:
    """Rows for the chosen (dataset, image id) pairs; returns ``(rows, notes)``.

    Methods: the (run, method) pairs that saved a PNG for the image, at most ``max_methods``.
    Captions: the method's PSNR/SSIM on that image from ``scored`` (one protocol per dataset).
    """
    from abair.imageops import centre_crop

    rows: list[GridRow] = []
    notes: list[str] = []
    pairs = runs.methods()
    multi = len({m for _, m in pairs}) < len(pairs)
    for dataset, image_id in selection:
        saved = [(r, m) for r, m in pairs if runs.image_path(r, m, dataset, image_id).exists()]
        if not saved:
            notes.append(f"{dataset}/{image_id}: no saved restoration (run with --save-images)")
            continue
        try:
            pair = inputs.pair(dataset, image_id)
        except UserError as exc:
            notes.append(f"{dataset}/{image_id}: input not available ({exc})")
            continue
        restored = [(r, m, read_png(runs.image_path(r, m, dataset, image_id))) for r, m in saved[:max_methods]]
        h, w = restored[0][2].shape[:2]
        degraded, clean = centre_crop(pair.degraded, h, w), centre_crop(pair.clean, h, w)
        box = zoom_box(degraded, clean, zoom_frac)
        row = GridRow(dataset, image_id, [("Input", with_inset(degraded, box), "")])
        for run, method, image in restored:
            if image.shape != clean.shape:
                notes.append(f"{run}/{method}/{dataset}/{image_id}.png is {image.shape[:2]}, not {clean.shape[:2]}")
                continue
            cells = scored[(scored["run"] == run) & (scored["method"] == method) & (scored["dataset"] == dataset)
                           & (scored["image_id"] == image_id)].set_index("metric")["value"]
            caption = " / ".join(f"{cells[m]:.{2 if m == 'psnr' else 3}f}" for m in ("psnr", "ssim") if m in cells)
            title = f"{method} [{run}]" if multi else method
            row.panels.append((title, with_inset(image, box), caption))
        row.panels.append(("Ground truth", with_inset(clean, box), "PSNR / SSIM"))
        rows.append(row)
    return rows, notes


CELL_GAP = 12  # between panels of a row
TITLE_BAND = 16  # above each panel: its method
CAPTION_BAND = 16  # below each panel: its PSNR / SSIM
ROW_LABEL_BAND = 22  # left of each row: dataset and image id
MARGIN = 6
FIGURE_TITLE_BAND = 24


def _fit(panel: np.ndarray, side: int = CELL_SIDE) -> np.ndarray:
    """``panel`` (uint8 HxWx3) scaled so its longer side is ``side``."""
    import numpy as np
    from PIL import Image

    h, w = panel.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return panel
    return np.asarray(Image.fromarray(panel).resize(size, Image.NEAREST if scale > 1 else Image.LANCZOS))


def grid_figure(rows: list[GridRow], title: str = "") -> Figure:
    """The grid as a matplotlib figure (Agg canvas): rows x panels, titles above, captions below.

    Laid out in pixels (the ``CELL_SIDE``... constants above, at :data:`GRID_DPI`): each panel is placed
    unresampled (``Figure.figimage``) and each text at a fixed place, with no axes (creating a matplotlib
    axes per panel was most of a grid's time)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ncols = max(len(r.panels) for r in rows)
    row_h = TITLE_BAND + CELL_SIDE + CAPTION_BAND + CELL_GAP
    top = MARGIN + (FIGURE_TITLE_BAND if title else 0)
    width = MARGIN + ROW_LABEL_BAND + ncols * (CELL_SIDE + CELL_GAP) - CELL_GAP + MARGIN
    height = top + len(rows) * row_h - CELL_GAP + MARGIN
    fig = Figure(figsize=(width / GRID_DPI, height / GRID_DPI), dpi=GRID_DPI)
    FigureCanvasAgg(fig)

    def text(x: float, y_from_top: float, s: str, **kw) -> None:
        fig.text(x / width, 1 - y_from_top / height, s, **kw)

    if title:
        text(width / 2, MARGIN + FIGURE_TITLE_BAND / 2, title, ha="center", va="center", fontsize=10)
    for i, row in enumerate(rows):
        y0 = top + i * row_h  # top of the row's title band
        text(MARGIN + ROW_LABEL_BAND / 2, y0 + TITLE_BAND + CELL_SIDE / 2, f"{row.dataset}\n{row.image_id}",
             ha="center", va="center", fontsize=7, rotation=90)
        for j, (name, panel, caption) in enumerate(row.panels):
            x0 = MARGIN + ROW_LABEL_BAND + j * (CELL_SIDE + CELL_GAP)
            image = _fit(panel)
            h, w = image.shape[:2]
            left, top_px = x0 + (CELL_SIDE - w) // 2, y0 + TITLE_BAND + (CELL_SIDE - h) // 2
            fig.figimage(image, xo=left, yo=height - top_px - h, origin="upper")
            text(x0 + CELL_SIDE / 2, y0 + TITLE_BAND / 2, name, ha="center", va="center", fontsize=8)
            if caption:
                text(x0 + CELL_SIDE / 2, y0 + TITLE_BAND + CELL_SIDE + CAPTION_BAND / 2, caption, ha="center",
                     va="center", fontsize=7)
    return fig
