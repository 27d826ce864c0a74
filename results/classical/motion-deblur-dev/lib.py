"""Load a dev set made by make_dev.py and score a restorer on it (PSNR gain over the input on
blurred crops; RMS change in 8-bit levels on the unblurred controls)."""

import os
import time

import numpy as np


def load(tag="A"):
    d = np.load(f"{os.environ.get('DEV_DIR', 'runs/deblur-dev')}/dev{tag}.npz")
    return d["clean"] / 255.0, d["deg"] / 255.0, d["ker"], d["kind"], int(d["nblur"])


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a - np.clip(b, 0, 1)) ** 2))


def evaluate(fn, tag="A", label="", idx=None, verbose=False):
    C, D, K, kinds, nb = load(tag)
    idx = range(len(C)) if idx is None else idx
    g = {}
    t = time.time()
    for i in idx:
        out = fn(D[i], i)
        if i < nb:
            g[i] = psnr(C[i], out) - psnr(C[i], D[i])
        else:  # unblurred control: identity is exact; report -(RMS change in 8-bit levels)
            g[i] = -255 * np.sqrt(np.mean((np.clip(out, 0, 1) - D[i]) ** 2))
    n = len(g)
    gb = np.array([g[i] for i in g if i < nb])
    gu = np.array([g[i] for i in g if i >= nb])
    groups = {}
    for i in g:
        k = str(kinds[i])
        k = "tex" if k in ("brick", "grass", "gravel") else k
        groups.setdefault(k, []).append(g[i])
    s = " ".join(f"{k}:{np.mean(v):+.2f}" for k, v in groups.items() if not k.startswith("clean"))
    msg = (
        f"{label:34s} blur {gb.mean():+.3f} imp {np.sum(gb > 0)}/{len(gb)} min {gb.min():+.2f}"
        + (
            f" | clean rms {-gu.mean():.2f} max {-gu.min():.2f} changed {np.sum(gu < -0.5)}/{len(gu)}"
            if len(gu)
            else ""
        )
        + f" | {s} | {(time.time() - t) / n:.2f}s"
    )
    print(msg, flush=True)
    if verbose:
        print(np.round([g[i] for i in g], 2))
    return g
