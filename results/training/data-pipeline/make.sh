#!/usr/bin/env bash
# Regenerates results/training/data-pipeline/: the training data pipeline measured on this machine
# with `abair-bench train bench-data` (tiny recipe, Phase I CutMix, 128x128 crops, global batch 32,
# synthesis in the loader workers). Run it on a quiet machine: every number is a rate.
#   bash results/training/data-pipeline/make.sh        (from the repository root, after pip install -e .)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
B="${ABAIR_BENCH:-abair-bench}"
PY="${PYTHON:-python3}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# 24 DIV2K-sized clean images (2040x1356 PNG, textured so that they compress like photographs)
"$PY" - "$TMP/div2k-like" <<'PY'
import sys
from pathlib import Path
import numpy as np
from PIL import Image
out = Path(sys.argv[1]); out.mkdir(parents=True)
rng = np.random.default_rng(0)
yy, xx = np.mgrid[0:1356, 0:2040]
for i in range(24):
    base = np.stack([np.sin(xx / (40 + 9 * c + i) + yy / (57 + i)) for c in range(3)], -1)
    image = 127 + 90 * base + rng.normal(0, 12, base.shape)
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(out / f"{i:04d}.png")
PY

common=(train bench-data --phase 1 --crop 128 --batch 32 --steps 8 --device cpu --json)
: > "$HERE/runs.jsonl"
# the step alone and the synthesis cost of each operator (one process, 1 thread, as the tiny recipe)
"$B" "${common[@]}" --workers 0 --per-degradation >> "$HERE/runs.jsonl"
"$B" train bench-data --phase 1 --crop 64 --batch 32 --steps 8 --device cpu --json --workers 0 --no-step \
  --per-degradation >> "$HERE/runs.jsonl"
# the pipeline alone with 0, 1, 2 workers: on the embedded pool (in memory) and on DIV2K-sized PNGs
for w in 0 1 2; do
  "$B" "${common[@]}" --workers "$w" --no-step >> "$HERE/runs.jsonl"
  "$B" "${common[@]}" --workers "$w" --no-step --clean-data "$TMP/div2k-like" >> "$HERE/runs.jsonl"
done
# the same pipeline with synthesis in the training process ("device" = this CPU)
"$B" "${common[@]}" --workers 2 --no-step --synthesis device --set data.stream=sample >> "$HERE/runs.jsonl"

"$PY" - "$HERE/runs.jsonl" > "$HERE/table.md" <<'PY'
import json, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
print("| crop | batch | workers | synthesis | clean images | pipeline samples/s | step samples/s | bound |")
print("|---|---|---|---|---|---|---|---|")
sources = ["embedded pool", "embedded pool"] + ["embedded pool", "24 PNGs 2040x1356"] * 3 + ["embedded pool"]
for r, src in zip(runs, sources):
    step = f"{r['step_samples_s']:.1f}" if r["step_samples_s"] else "-"
    print(f"| {r['crop']} | {r['batch']} | {r['workers']} | {r['synthesis']} | {src} | {r['pipeline_samples_s']:.1f} | {step} | {r['bound'] if r['step_samples_s'] else '-'} |")
print()
print("| degradation | ms per 64x64 sample | ms per 128x128 sample |")
print("|---|---|---|")
for name in runs[0]["per_degradation_ms"]:
    print(f"| {name} | {runs[1]['per_degradation_ms'][name]:.2f} | {runs[0]['per_degradation_ms'][name]:.2f} |")
PY
echo "wrote $HERE/runs.jsonl and $HERE/table.md"
