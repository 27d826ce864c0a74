"""Dev PSNR of the blur adapter of whole model files (fixed:blur and sw), on the dev crops of
explore_blur.py (48 train-pool crops, 128x128, motion blur, seed 12345); outputs rounded to 8 bits.

Usage: OMP_NUM_THREADS=1 python results/training/tiny/dev_eval_blur.py MODEL.safetensors [...]"""
import sys, torch
torch.set_num_threads(1)
from abair.train import data as D
from abair.degradations import apply, make_generator
from abair.model.checkpoint import load
s = D.CropSampler(None, 128); g = make_generator(12345)
clean = s.sample(48, g); deg = D.quantise(apply("blur", clean, g, kind="motion"))
def psnr(a, b): return (10 * torch.log10(1 / ((torch.round(a.clamp(0, 1)*255)/255 - b) ** 2).flatten(1).mean(1)))
base = psnr(deg, clean)
for path in sys.argv[1:]:
    m = load(path).eval()
    with torch.no_grad():
        f = psnr(m(deg, mode="fixed:blur"), clean) - base; w = psnr(m(deg, mode="sw"), clean) - base
    print(f"{path}: dev identity {base.mean():.3f} fixed:blur {f.mean():+.3f} (worse {(f<0).sum().item()}/48, worst {f.min():.2f}) sw {w.mean():+.3f}")
