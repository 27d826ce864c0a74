"""Dev sets from the TRAIN pool (+ skimage brick/grass/gravel textures), motion-blurred by the
suite's operator under fixed seeds, rounded to 8 bits. Never uses test-pool images."""

import os
import sys

import numpy as np
import skimage.data as skd
import torch

from abair.data.sample_images import train_pool
from abair.degradations import apply, make_generator, seed_from_string
from abair.degradations.blur import _draw_all, motion_kernel
from abair.imageops import tensor_to_uint8, uint8_to_tensor

tag = sys.argv[1] if len(sys.argv) > 1 else "A"
OUT = os.environ.get("DEV_DIR", "runs/deblur-dev")
os.makedirs(OUT, exist_ok=True)
pool = list(train_pool())
tex = [np.repeat(getattr(skd, n)()[..., None], 3, axis=2) for n in ("brick", "grass", "gravel")]
rng = np.random.default_rng({"A": 11, "B": 22}[tag])
S = 128


def gradE(c):
    g = c.astype(float).mean(2)
    return np.mean(np.diff(g, axis=0) ** 2) + np.mean(np.diff(g, axis=1) ** 2)


def coherence(c):
    g = c.astype(float).mean(2)
    gx = np.diff(g, axis=1)[:-1]
    gy = np.diff(g, axis=0)[:, :-1]
    jxx, jyy, jxy = (gx * gx).mean(), (gy * gy).mean(), (gx * gy).mean()
    tr = jxx + jyy
    det = jxx * jyy - jxy * jxy
    d = np.sqrt(max(tr * tr / 4 - det, 0))
    return 2 * d / (tr + 1e-9)


def rand_crop(im):
    h, w = im.shape[:2]
    top, left = rng.integers(0, h - S + 1), rng.integers(0, w - S + 1)
    c = im[top : top + S, left : left + S]
    if rng.random() < 0.5:
        c = c[:, ::-1]
    if rng.random() < 0.5:
        c = c[::-1]
    c = np.rot90(c, rng.integers(4))
    return np.ascontiguousarray(c)


crops, kinds = [], []
for _ in range(50):
    crops.append(rand_crop(pool[rng.integers(len(pool))]))
    kinds.append("random")
for _ in range(10):
    cands = [rand_crop(pool[rng.integers(len(pool))]) for _ in range(30)]
    crops.append(max(cands, key=gradE))
    kinds.append("energy")
for _ in range(10):
    cands = [rand_crop(pool[rng.integers(len(pool))]) for _ in range(30)]
    cands = [c for c in cands if gradE(c) > 50] or cands
    crops.append(max(cands, key=lambda c: coherence(c) * np.sqrt(gradE(c))))
    kinds.append("oriented")
for i in range(12):
    crops.append(rand_crop(tex[i % 3]))
    kinds.append(["brick", "grass", "gravel"][i % 3])
nb = len(crops)
# unblurred controls
for _ in range(6):
    crops.append(rand_crop(pool[rng.integers(len(pool))]))
    kinds.append("clean-random")
for _ in range(4):
    cands = [rand_crop(pool[rng.integers(len(pool))]) for _ in range(30)]
    crops.append(max(cands, key=gradE))
    kinds.append("clean-energy")
for i in range(6):
    crops.append(rand_crop(tex[i % 3]))
    kinds.append("clean-" + ["brick", "grass", "gravel"][i % 3])

C, D, K = [], [], []
for i, c in enumerate(crops):
    if i < nb:
        x = uint8_to_tensor(c, torch.float64)
        seed = seed_from_string("deblur2-dev", tag, i)
        g = make_generator(seed)
        p = _draw_all(g)
        k = motion_kernel(p["size"], g)
        y = apply("blur", x, make_generator(seed), kind="motion")
        # check the kernel replicates the operator
        from abair.degradations._common import convolve_reflect

        y2 = convolve_reflect(x, k).clamp(0, 1)
        assert torch.allclose(y, y2), i
        D.append(tensor_to_uint8(y))
        K.append(np.pad(k.numpy(), ((21 - k.shape[0]) // 2,) * 2))
    else:
        D.append(c.copy())
        K.append(np.pad(np.ones((1, 1)), 10))
    C.append(c)
np.savez_compressed(
    f"{OUT}/dev{tag}.npz", clean=np.stack(C), deg=np.stack(D), ker=np.stack(K), kind=np.array(kinds), nblur=nb
)
print(tag, len(C), nb)
