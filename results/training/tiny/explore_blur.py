"""Exploration (session 2): retrain the tiny blur adapter with other Phase-II settings and score it on
dev crops of the train pool (48 crops of 128x128, motion blur, a seed no training stream uses).

Usage: OMP_NUM_THREADS=1 python results/training/tiny/explore_blur.py STEPS CROP KIND LR BATCH [RANK [full]]
(KIND motion|any; "full" also trains the whole network: a capacity check, not an adapter).
Appends one JSON line to runs/exp/results.jsonl; kept as run, from the repository root."""
import json, sys, time
import torch
from abair.train.recipes import load_recipe
from abair.train import data as D
from abair.train.loop import train, LoopConfig
from abair.train.phases import AdapterObjective, _seeded, _adapter_spec
from abair.model.checkpoint import load
from abair.degradations import apply, make_generator

steps, crop, kind, lr, batch = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
rank = int(sys.argv[6]) if len(sys.argv) > 6 else 4
full = len(sys.argv) > 7 and sys.argv[7] == "full"
tag = f"s{steps}-c{crop}-{kind}-lr{lr}-b{batch}-r{rank}" + ("-full" if full else "")
torch.set_num_threads(1)
params = {} if kind == "any" else {"kind": kind}

class Data(D.SingleData):
    def batch(self, step, rank, n):
        gen = D.batch_generator(self.seed, f"phase2-{self.degradation}", rank, step)
        clean = self.crops.sample(n, gen)
        return {"degraded": D.quantise(apply("blur", clean, gen, **params)), "clean": clean}

# dev set: 48 pool crops at 128 px, motion blur, a stream never used in training
def dev_set():
    s = D.CropSampler(None, 128)
    g = make_generator(12345)
    clean = s.sample(48, g)
    deg = D.quantise(apply("blur", clean, g, kind="motion"))
    return deg, clean

def psnr(a, b):
    mse = ((a.clamp(0, 1) - b) ** 2).flatten(1).mean(1)
    return (10 * torch.log10(1 / mse)).mean().item()

recipe = load_recipe("tiny", [f"phase2.steps={steps}", f"phase2.crop={crop}", f"phase2.lr={lr}", f"phase2.batch={batch}",
                              "phase2.checkpoint_every=100000", f"model.rank={rank}"])
model = load("abair/weights/abair-tiny.safetensors")
deg, clean = dev_set()
with torch.no_grad():
    before = psnr(model(deg, mode="fixed:blur"), clean)
model.remove_adapter("blur")
_seeded(recipe, "adapter", "blur")
model.add_adapter(_adapter_spec(recipe, "blur"))
t = time.time()
obj = AdapterObjective(model, "blur")
if full:
    for n_, p in model.named_parameters():
        if "estimator" not in n_ and ".adapters." not in n_:
            p.requires_grad_(True)
res = train(obj, Data(crop, "blur", 0), LoopConfig.from_recipe(recipe, "phase2", False),
            f"runs/exp/{tag}", device="cpu", name="blur")
el = time.time() - t
model.eval()
with torch.no_grad():
    after = psnr(model(deg, mode="fixed:blur"), clean)
    ident = psnr(deg, clean)
out = {"tag": tag, "seconds": round(el), "dev_identity": ident, "dev_shipped": before, "dev_new": after}
print(json.dumps(out))
with open("runs/exp/results.jsonl", "a") as f:
    f.write(json.dumps(out) + "\n")
torch.save({k: v for k, v in model.state_dict().items() if ".adapters.blur." in k}, f"runs/exp/{tag}.pt")
