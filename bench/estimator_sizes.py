"""The degradation estimator's accuracy per input size, on the mini suite's source images.

The estimator is trained on native-scale windows (Phase III's 128x128 crops) but the paper's test
images are 2.5-10x larger (BSD68 481x321 ... GoPro 1280x720). This evaluation shows whether its
decision survives that: each test-pool image (``astronaut`` 512x512, ``coffee`` 600x400, ``chelsea``
451x300; never seen in training) is cut into square crops of each size at three deterministic
positions (top-left corner, centre, bottom-right corner; sizes that do not fit an image skip it) and
also taken whole, and every view is degraded by each degradation the estimator scores, with the
mini suite's operator settings of that degradation (noise at sigma 15, motion blur, JPEG q20, ...;
:data:`bench.datasets.mini.RECIPES`). The degraded view is made at its own size from a seed derived
from its names, so every number is reproducible. The top-1 class is the arg-max of ``model.estimate``
on the whole view (uint8 -> float [0, 1], 1x3xHxW).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEED_NAMESPACE = "estimator-sizes"
FULL = "full"


@dataclass(frozen=True)
class View:
    """One crop (or the whole image, ``size == "full"``) of a test-pool source image."""

    source: str
    size: str  # "128", "256", ... or "full"
    top: int
    left: int
    height: int
    width: int

    @property
    def name(self) -> str:
        return f"{self.source}-{self.size}@{self.top},{self.left}"


def parse_sizes(text: str) -> list[str]:
    """``"128,256,full"`` -> ``["128", "256", "full"]``; UserError on anything else."""
    from abair.errors import UserError

    sizes = [s.strip().lower() for s in text.split(",") if s.strip()]
    if not sizes:
        raise UserError("--sizes is empty; give crop sizes in pixels and/or 'full', e.g. 128,256,384,full")
    for s in sizes:
        if s != FULL and not (s.isdigit() and 8 <= int(s) <= 4096):
            raise UserError(f"--sizes: '{s[:40]}' is neither a crop size in pixels (8..4096) nor 'full'")
    return list(dict.fromkeys(sizes))


def views(size: str) -> list[View]:
    """The views of every test-pool image at ``size``: three crops (corner, centre, corner) or the whole image."""
    from abair.data.sample_images import TEST_POOL, load_source

    out = []
    for source in TEST_POOL:
        h, w = load_source(source).shape[:2]
        if size == FULL:
            out.append(View(source, size, 0, 0, h, w))
            continue
        s = int(size)
        if s > h or s > w:
            continue
        corners = [(0, 0), ((h - s) // 2, (w - s) // 2), (h - s, w - s)]
        out += [View(source, size, top, left, s, s) for top, left in corners]
    return out


def recipe_for(degradation: str) -> str:
    """The first single-degradation mini set of ``degradation`` (its operator settings are used)."""
    from abair.errors import UserError
    from bench.datasets.mini import RECIPES

    for name, (_task, classes, _ops) in RECIPES.items():
        if classes == (degradation,):
            return name
    raise UserError(f"no mini-suite recipe degrades by '{degradation}' alone; the estimator's class cannot be "
                    "evaluated on the source images")


def degraded(view: View, degradation: str) -> np.ndarray:
    """``view`` degraded by ``degradation`` (uint8 HxWx3), seeded by the view's and degradation's names."""
    import torch

    from abair.data.sample_images import load_source
    from abair.degradations import apply, make_generator, seed_from_string
    from abair.imageops import tensor_to_uint8, uint8_to_tensor
    from bench.datasets.mini import RECIPES

    clean = load_source(view.source)[view.top:view.top + view.height, view.left:view.left + view.width]
    generator = make_generator(seed_from_string(SEED_NAMESPACE, degradation, view.name))
    x = uint8_to_tensor(np.ascontiguousarray(clean), dtype=torch.float64)
    for operator, params in RECIPES[recipe_for(degradation)][2]:
        x = apply(operator, x, generator, **params)
    return tensor_to_uint8(x)


def evaluate_sizes(model, sizes: list[str], device: str = "cpu") -> dict:
    """Top-1 of ``model``'s estimator per size: ``{"classes", "sizes": {size: {"n", "correct", "accuracy",
    "per_class": {class: {"n", "correct"}}, "confusion": [[count]]}}}`` (rows: true class, columns: predicted)."""
    import torch

    from abair.imageops import uint8_to_tensor

    names = list(model.estimator_names)
    model = model.to(device).eval()
    result = {}
    for size in sizes:
        confusion = [[0] * len(names) for _ in names]
        for view in views(size):
            for row, degradation in enumerate(names):
                x = uint8_to_tensor(degraded(view, degradation)).unsqueeze(0).to(device)
                with torch.inference_mode():
                    confusion[row][int(model.estimate(x).argmax(dim=1))] += 1
        n = sum(map(sum, confusion))
        correct = sum(confusion[i][i] for i in range(len(names)))
        result[size] = {
            "n": n, "correct": correct, "accuracy": correct / n if n else float("nan"),
            "per_class": {c: {"n": sum(confusion[i]), "correct": confusion[i][i]} for i, c in enumerate(names)},
            "confusion": confusion,
        }
    return {"classes": names, "sizes": result}


def format_sizes(result: dict, label: str) -> str:
    """The per-size table (top-1 overall and per class) and one confusion matrix per size."""
    names = result["classes"]
    width = max(8, *(len(n) for n in names)) + 1
    head = f"{'size':<7}{'n':>5}  {'top-1':>12}" + "".join(f"{n:>{width + 6}}" for n in names)
    lines = [f"estimator of {label}: top-1 per input size on the test-pool images (astronaut, coffee, chelsea)",
             "crops at 3 positions per image, or the whole image; each degraded by every class the estimator scores", "",
             head]
    for size, r in result["sizes"].items():
        cells = "".join(f"{str(v['correct']) + '/' + str(v['n']):>{width + 6}}" for v in r["per_class"].values())
        top1 = f"{r['correct']}/{r['n']} {100 * r['accuracy']:.0f}%" if r["n"] else "-"
        lines.append(f"{size:<7}{r['n']:>5}  {top1:>12}{cells}")
    for size, r in result["sizes"].items():
        if not r["n"]:
            continue
        lines += ["", f"confusion at {size} (rows: true degradation, columns: predicted adapter)",
                  " " * width + "".join(f"{n:>{width}}" for n in names)]
        lines += [f"{n:<{width}}" + "".join(f"{c:>{width}}" for c in row) for n, row in zip(names, r["confusion"],
                                                                                          strict=True)]
    return "\n".join(lines)
