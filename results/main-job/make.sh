#!/usr/bin/env bash
# Times the README's main job (without the install) and writes results/main-job/timing.md:
# wall seconds of the run and of the report, and the per-method seconds per image of the records.
# Scale: the embedded mini suite (442 tiles of 128x128) and the shipped tiny ABAIR; run it on a quiet
# machine (nothing else on the cores), from the repository root's environment (.venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${ABAIR_BENCH:-.venv/bin/abair-bench}
PY=${PYTHON:-.venv/bin/python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
t0=$(date +%s.%N)
$B run --suite mini --methods identity,abair-oh,abair-sw,abair-oracle --out "$WORK/mini" --save-images --jobs 2 --no-progress > "$WORK/run.log"
t1=$(date +%s.%N)
$B report --runs "$WORK/mini" --out "$WORK/mini/report.html" > "$WORK/report.log"
t2=$(date +%s.%N)
$PY - "$WORK/mini" "$t0" "$t1" "$t2" > results/main-job/timing.md <<'PYEOF'
import json, platform, sys
from pathlib import Path

import pandas as pd
import torch

run, t0, t1, t2 = Path(sys.argv[1]), *map(float, sys.argv[2:])
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
      f"{invocation['threads']['OMP_NUM_THREADS']} thread.\n")
print("| part | wall seconds |\n|---|---|")
print(f"| run (`--jobs 2`) | {t1 - t0:.1f} |\n| report | {t2 - t1:.1f} |\n| **total** | **{t2 - t0:.1f}** |\n")
print("Seconds per image in the records (one rank's restoration time; two ranks run at once):\n")
print("| method | images | mean s/image | sum s |\n|---|---|---|---|")
for method, row in per.iterrows():
    print(f"| {method} | {int(row['count'])} | {row['mean']:.4f} | {row['sum']:.1f} |")
PYEOF
cat results/main-job/timing.md
