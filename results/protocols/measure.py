"""Regenerates results/protocols/deviations.md: the measured differences between metric backends and
between evaluation conventions that docs/PROTOCOLS.md quotes.

    .venv/bin/python results/protocols/measure.py            # ~2 min on 2 CPU cores

Pairs: every (degraded, clean) pair of the 13 mini sets (442 tiles of 128x128), and odd-sized crops
of scikit-image's natural images degraded with noise and blur. For each protocol, the reference
(scikit-image, one image at a time) against the torch backend (one batch per set) and the pyiqa
backend; the conventions the protocols name (MATLAB uint8 Y, BasicSR float32 Y, Restormer's
_ssim_cly) against each other; and the luma rounding over all 2^24 RGB triples.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import correlate, gaussian_filter

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from abair.imageops import uint8_to_tensor  # noqa: E402
from bench.datasets import SUITES, get_dataset  # noqa: E402
from bench.protocols import get_protocol  # noqa: E402
from bench.protocols.colour import MATLAB_UINT8_T, y_basicsr, y_matlab_uint8  # noqa: E402

PROTOCOLS = ("allinone-rgb", "y-bt601", "basicsr-y")
OUT = Path(__file__).with_name("deviations.md")


def natural_pairs():
    """Odd-sized crops of natural images, each with noise 10, noise 50 and blur 2 (float64 outputs)."""
    from skimage import data

    rng = np.random.default_rng(0)
    crops = {"astronaut 131x97": data.astronaut()[61:192, 200:297], "coffee 101x157": data.coffee()[150:251, 201:358],
             "chelsea 77x111": data.chelsea()[40:117, 100:211], "rocket 255x183": data.rocket()[100:355, 300:483]}
    for name, clean in crops.items():
        c = clean / 255.0
        yield f"{name} noise10", np.clip(c + rng.normal(0, 10 / 255, c.shape), 0, 1), clean
        yield f"{name} noise50", np.clip(c + rng.normal(0, 50 / 255, c.shape), 0, 1), clean
        yield f"{name} blur2", np.stack([gaussian_filter(c[..., i], 2.0) for i in range(3)], -1), clean


def mini_groups():
    """(set name, [(id, restored float64 HxWx3, clean uint8)]) for the 13 mini sets: degraded as restored."""
    for name in SUITES["mini"]:
        ds = get_dataset(name)
        yield name, [(p.image_id, p.degraded / 255.0, p.clean) for p in ds]


def backend_deviations(groups):
    """max |backend - skimage| per (backend, protocol, metric), with where it occurs."""
    worst: dict[tuple[str, str, str], tuple[float, str]] = {}
    for group, items in groups:
        rb = torch.from_numpy(np.stack([r for _, r, _ in items]).transpose(0, 3, 1, 2).copy())
        cb = torch.stack([uint8_to_tensor(c, dtype=torch.float64) for _, _, c in items])
        for name in PROTOCOLS:
            ref = [get_protocol(name).score(r, c) for _, r, c in items]
            for backend in ("torch", "pyiqa"):
                alt = get_protocol(f"{name}@{backend}").score_batch(rb, cb)
                for (image_id, _, _), a, b in zip(items, ref, alt, strict=True):
                    for metric in ("psnr", "ssim"):
                        d = abs(b[metric] - a[metric]) if np.isfinite(a[metric]) else abs(b[metric] != a[metric])
                        key = (backend, name, metric)
                        if d >= worst.get(key, (-1.0, ""))[0]:
                            worst[key] = (d, f"{group}/{image_id}")
    return worst


def ssim_map_mean(a, b, border_mode):
    """SSIM (11x11 Gaussian 1.5, population covariance, L=255) of 2-D float64 arrays.

    ``"valid"``: the mean over positions where the window fits (BasicSR's _ssim); ``"nearest"``:
    the mean over the full map with a replicated border (Restormer's _ssim_cly)."""
    t = np.arange(11) - 5.0
    g = np.exp(-t**2 / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()

    def f(z):
        out = correlate(z, w, mode="nearest" if border_mode == "nearest" else "reflect")
        return out if border_mode == "nearest" else out[5:-5, 5:-5]

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = f(a), f(b)
    va, vb, cov = f(a * a) - ma**2, f(b * b) - mb**2, f(a * b) - ma * mb
    return float((((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))).mean())


def convention_differences(groups):
    """basicsr-y minus y-bt601 and Restormer's _ssim_cly minus basicsr-y SSIM: (min, max) per metric."""
    out: dict[str, list[float]] = {"y-bt601 - allinone-rgb PSNR": [], "y-bt601 - allinone-rgb SSIM": [],
                                   "basicsr-y - y-bt601 PSNR": [], "basicsr-y - y-bt601 SSIM": [],
                                   "_ssim_cly - basicsr-y SSIM": []}
    for _, items in groups:
        for _, r, c in items:
            a, b = get_protocol("y-bt601").score(r, c), get_protocol("basicsr-y").score(r, c)
            rgb = get_protocol("allinone-rgb").score(r, c)
            if np.isfinite(a["psnr"]):
                out["y-bt601 - allinone-rgb PSNR"].append(a["psnr"] - rgb["psnr"])
                out["basicsr-y - y-bt601 PSNR"].append(b["psnr"] - a["psnr"])
            out["y-bt601 - allinone-rgb SSIM"].append(a["ssim"] - rgb["ssim"])
            out["basicsr-y - y-bt601 SSIM"].append(b["ssim"] - a["ssim"])
            lv = np.round(r * 255.0)
            yr = y_basicsr(lv[..., 0], lv[..., 1], lv[..., 2])
            yc = y_basicsr(*(c[..., i].astype(np.float64) for i in range(3)))
            out["_ssim_cly - basicsr-y SSIM"].append(ssim_map_mean(yr, yc, "nearest") - b["ssim"])
    return {k: (min(v), max(v)) for k, v in out.items()}


def luma_rounding():
    """Counts over all 2^24 RGB triples: exact .5 ties, MATLAB-order rounding, pyiqa's and FMA's disagreements."""
    v = np.arange(256, dtype=np.float64)
    r, g, b = (a.ravel() for a in np.meshgrid(v, v, v, indexing="ij"))
    n = 65481 * r.astype(np.int64) + 128553 * g.astype(np.int64) + 24966 * b.astype(np.int64)
    q, rem = np.divmod(n, 255000)
    ties = rem == 127500
    ours = y_matlab_uint8(r, g, b)
    half_even_exact = 16 + q + ((rem > 127500) | (ties & (q % 2 == 1)))
    old = np.round(16.0 + 65.481 * (r / 255) + 128.553 * (g / 255) + 24.966 * (b / 255))
    from pyiqa.utils.color_util import to_y_channel

    pyiqa_y = np.concatenate([
        to_y_channel(torch.from_numpy(np.stack([r, g, b])[:, s].reshape(1, 3, 1, -1) / 255.0), 255.0, "ycbcr")
        .reshape(-1).numpy() for s in np.array_split(np.arange(r.size), 16)])
    # an FMA-contracted evaluation of the same sum (val = fma(T2, G, T1*R) ...), computed exactly
    t_r, t_g, t_b = (Fraction(t) for t in MATLAB_UINT8_T)
    fma_flips = 0
    for i in np.flatnonzero(ties):
        y = Fraction(float(t_r * int(r[i])))
        y = Fraction(float(t_g * int(g[i]) + y))
        y = Fraction(float(t_b * int(b[i]) + y))
        y = float(y + 16)
        fma_flips += (np.floor(y + 0.5) if y % 1 != 0.5 else y + 0.5) != ours[i]
    return {
        "exact .5 ties (16 + (65481 r + 128553 g + 24966 b) / 255000)": int(ties.sum()),
        "ties MATLAB's double-precision sum rounds up / down": f"{int((ours[ties] == 17 + q[ties]).sum())} / "
        f"{int((ours[ties] == 16 + q[ties]).sum())}",
        "non-tie triples where y-bt601 differs from the exact rounding": int((ours != 16 + q + (rem > 127500))[~ties].sum()),
        "triples where the former rule (half-to-even of 16 + 65.481 R/255 + ...) differs from y-bt601":
            int((old != ours).sum()),
        "triples where half-to-even of the exact value differs from y-bt601": int((half_even_exact != ours).sum()),
        "triples where pyiqa's to_y_channel(x, 255, 'ycbcr') differs from y-bt601": int((pyiqa_y != ours).sum()),
        "max |pyiqa unrounded Y - BasicSR Y| (levels)": float(np.abs(to_y_channel(
            torch.from_numpy(np.stack([r, g, b])[:, ::97].reshape(1, 3, 1, -1) / 255.0), 1.0, "ycbcr")
            .reshape(-1).numpy() * 255.0 - y_basicsr(r[::97], g[::97], b[::97])).max()),
        "ties an FMA-contracted sum would round the other way": int(fma_flips),
    }


def main() -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    mini = list(mini_groups())
    natural = [("natural", [(name, r, c)]) for name, r, c in natural_pairs()]  # sizes differ: batches of one
    lines = ["# Measured metric deviations", "",
             "Regenerate: `.venv/bin/python results/protocols/measure.py` (writes this file). "
             f"torch {torch.__version__}, CPU, float64.", ""]
    for title, groups in (("13 mini sets, every (degraded, clean) pair (442 tiles 128x128)", mini),
                          ("odd-sized natural crops (astronaut 131x97, coffee 101x157, chelsea 77x111, "
                           "rocket 255x183; noise 10, noise 50, blur 2)", natural)):
        worst = backend_deviations(groups)
        lines += [f"## Backend minus scikit-image: {title}", "",
                  "| backend | protocol | metric | max abs difference | where |", "|---|---|---|---|---|"]
        lines += [f"| {b} | {p} | {m} | {d:.2e} | {w} |" for (b, p, m), (d, w) in sorted(worst.items())]
        lines.append("")
    lines += ["## Conventions on the mini sets (442 pairs)", "", "| difference | min | max |", "|---|---|---|"]
    lines += [f"| {k} | {lo:+.2e} | {hi:+.2e} |" for k, (lo, hi) in convention_differences(mini).items()]
    lines += ["", "## Luma rounding over all 2^24 RGB triples", "", "| quantity | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in luma_rounding().items()]
    OUT.write_text("\n".join(lines) + "\n")
    print(OUT.read_text())


if __name__ == "__main__":
    main()
