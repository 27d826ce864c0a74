"""Dev PSNR of the blur adapter of whole model files, broken down by motion-kernel size.

Dev set A (session 3): 96 crops of 128x128 from the *train pool* (never the test tiles), seed 31337
(no training stream uses it), 12 crops for each motion-kernel size 7, 9, ..., 21, blurred by the
task's operator, rounded to 8 bits. Model outputs are clipped and rounded to 8 bits before PSNR,
as the benchmark does. Prints, per model: mean gain over the blurred input for fixed:blur and sw,
the gain per size group (7-9, 11-15, 17-21 px), the number of crops made worse by more than
0.5 dB, and the worst crop.

Dev set B ("soft scenes"): the same 96 crops, each first softened by a Gaussian of sigma
U(0.5, 1.5) px (reflect border; a different blur from the defocus disks that `soft_clean` uses in
training), then motion-blurred with the same kernels: scenes with out-of-focus content, like the
blurred background of a portrait, whose softness a deblurring model must not "restore".
Dev set C ("strong defocus"): the same, with sigma U(1.5, 3) px (added after the session-2
failure on the astronaut tiles, whose backgrounds are strongly out of focus, was seen to persist).

Usage: OMP_NUM_THREADS=1 python results/training/tiny/dev_eval_blur_sizes.py MODEL.safetensors [...]
"""
import sys

import torch

torch.set_num_threads(1)
from abair.degradations import apply, make_generator  # noqa: E402
from abair.model.checkpoint import load  # noqa: E402
from abair.train import data as D  # noqa: E402

SIZES = list(range(7, 22, 2))
GROUPS = {"7-9": (7, 9), "11-15": (11, 15), "17-21": (17, 21)}
g = make_generator(31337)
clean = D.CropSampler(None, 128).sample(12 * len(SIZES), g)
sizes = torch.tensor([SIZES[i % len(SIZES)] for i in range(len(clean))])
state = g.get_state()
deg = D.quantise(torch.stack([apply("blur", c, g, kind="motion", size=int(s)) for c, s in zip(clean, sizes)]))


def gaussian(x, sigma):
    radius = int(3 * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).view(1, 1, 1, -1).repeat(3, 1, 1, 1)
    x = torch.nn.functional.pad(x[None], (radius, radius, 0, 0), mode="reflect")
    x = torch.nn.functional.conv2d(x, k, groups=3)
    x = torch.nn.functional.pad(x, (0, 0, radius, radius), mode="reflect")
    return torch.nn.functional.conv2d(x, k.transpose(-1, -2), groups=3)[0]


sigmas = 0.5 + torch.rand(len(clean), generator=make_generator(4242))
soft = torch.stack([gaussian(c, float(s)) for c, s in zip(clean, sigmas)])
g.set_state(state)  # the same motion kernels as set A
soft_deg = D.quantise(torch.stack([apply("blur", c, g, kind="motion", size=int(s)) for c, s in zip(soft, sizes)]))
strong_sigmas = 1.5 + 1.5 * torch.rand(len(clean), generator=make_generator(4243))
strong = torch.stack([gaussian(c, float(s)) for c, s in zip(clean, strong_sigmas)])
g.set_state(state)
strong_deg = D.quantise(torch.stack([apply("blur", c, g, kind="motion", size=int(s)) for c, s in zip(strong, sizes)]))


def psnr(a, b):
    return 10 * torch.log10(1 / ((torch.round(a.clamp(0, 1) * 255) / 255 - b) ** 2).flatten(1).mean(1))


SETS = {"A": (deg, clean), "B soft": (soft_deg, soft), "C strong": (strong_deg, strong)}
for key, (x, y) in SETS.items():
    print(f"dev {key}: {len(x)} crops, identity {psnr(x, y).mean():.3f} dB")
for path in sys.argv[1:]:
    m = load(path).eval()
    means = {}
    for key, (x, y) in SETS.items():
        base = psnr(x, y)
        with torch.no_grad():
            gains = {mode: psnr(m(x, mode=mode), y) - base for mode in ("fixed:blur", "sw")}
        for mode, gain in gains.items():
            groups = " ".join(f"{k} {gain[(sizes >= lo) & (sizes <= hi)].mean():+.2f}" for k, (lo, hi) in GROUPS.items())
            means.setdefault(mode, []).append(float(gain.mean()))
            print(f"{path} dev {key} {mode}: {gain.mean():+.3f} dB ({groups}); worse by >0.5 dB: "
                  f"{int((gain < -0.5).sum())}/{len(gain)}, worst {gain.min():+.2f}")
    print(f"{path} mean over dev sets: " + ", ".join(f"{mode} {sum(v) / len(v):+.3f} dB" for mode, v in means.items()))
