#!/usr/bin/env bash
# Times the README's main job (without the install) and writes results/main-job/timing.md: wall
# seconds of the run and of the report, REPEATS times (default 3; the machine's speed drifts, so the
# spread is part of the result), the machine's speed at the time (a dense matmul and the tiny
# backbone, one thread each), and the per-method seconds per image of the last repetition's records.
# Scale: the embedded mini suite (442 tiles of 128x128) and the shipped tiny ABAIR; run it on a quiet
# machine (nothing else on the cores), from the repository root's environment (.venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${ABAIR_BENCH:-.venv/bin/abair-bench}
PY=${PYTHON:-.venv/bin/python}
REPEATS=${REPEATS:-3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
$PY - > "$WORK/yardstick.json" <<'PYEOF'
import json, time

import torch

from abair import allocator
from abair.model.checkpoint import load

allocator.tune()
torch.set_num_threads(1)
a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
a @ b
start = time.perf_counter()
for _ in range(5):
    a @ b
matmul = 2 * 2048**3 * 5 / (time.perf_counter() - start) / 1e9
model = load("abair/weights/abair-tiny.safetensors").eval()
x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
times = []
with torch.no_grad():
    for i in range(25):
        start = time.perf_counter()
        model.backbone(x)
        if i >= 5:
            times.append(time.perf_counter() - start)
print(json.dumps({"matmul_gflops": matmul, "backbone_ms": sorted(times)[len(times) // 2] * 1e3}))
PYEOF
for i in $(seq "$REPEATS"); do
  rm -rf "$WORK/mini"
  t0=$(date +%s.%N)
  $B run --suite mini --methods identity,abair-oh,abair-sw,abair-oracle --out "$WORK/mini" --save-images --jobs 2 --no-progress > "$WORK/run.log"
  t1=$(date +%s.%N)
  $B report --runs "$WORK/mini" --out "$WORK/mini/report.html" > "$WORK/report.log"
  t2=$(date +%s.%N)
  echo "$t0 $t1 $t2" >> "$WORK/times.txt"
done
$PY - "$WORK/mini" "$WORK/times.txt" "$WORK/yardstick.json" > results/main-job/timing.md <<'PYEOF'
import json, platform, statistics, sys
from pathlib import Path

import pandas as pd
import torch

run, times, yardstick = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(Path(sys.argv[3]).read_text())
reps = [tuple(map(float, line.split())) for line in times.read_text().splitlines()]
records = pd.read_csv(run / "records.csv").drop_duplicates(["method", "dataset", "image_id"])
manifest = json.loads((run / "manifest.json").read_text())
invocation = manifest["invocations"][-1]
per = records.groupby("method")["seconds"].agg(["count", "mean", "sum"])
print("# The README's main job, timed\n")
print("Command (after the install):\n")
print("```bash\nabair-bench run --suite mini --methods identity,abair-oh,abair-sw,abair-oracle --out runs/mini "
      "--save-images --jobs 2\nabair-bench report --runs runs/mini --out runs/mini/report.html\n```\n")
print(f"Made by `results/main-job/make.sh` on {invocation.get('started', '')[:10]}: the embedded mini suite "
      "(13 sets, 442 tiles of 128x128), the shipped tiny ABAIR (2 CPU cores, not the paper's scale).\n")
print(f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} cores seen by torch, "
      f"torch {torch.__version__}; the run's ranks: {invocation.get('world_size')} x "
      f"{invocation['threads']['OMP_NUM_THREADS']} thread. Its speed when the job ran (one thread): "
      f"dense 2048^3 fp32 matmul {yardstick['matmul_gflops']:.0f} GFLOP/s, the tiny backbone "
      f"{yardstick['backbone_ms']:.1f} ms per 128x128 tile (a shared VM: its speed drifts with the other "
      "guests' load, so the yardstick is measured right before and each repetition is listed).\n")
print("| repetition | run (`--jobs 2`) s | report s | total s |\n|---|---|---|---|")
totals = []
for i, (t0, t1, t2) in enumerate(reps, 1):
    totals.append(t2 - t0)
    print(f"| {i} | {t1 - t0:.1f} | {t2 - t1:.1f} | {t2 - t0:.1f} |")
print(f"| **median** | | | **{statistics.median(totals):.1f}** |\n")
print("Seconds per image in the last repetition's records (one rank's restoration time; two ranks run at once):\n")
print("| method | images | mean s/image | sum s |\n|---|---|---|---|")
for method, row in per.iterrows():
    print(f"| {method} | {int(row['count'])} | {row['mean']:.4f} | {row['sum']:.1f} |")
PYEOF
cat results/main-job/timing.md
