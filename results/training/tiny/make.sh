#!/usr/bin/env bash
# Regenerates the embedded tiny checkpoints from scratch with the shipped recipe, compares their tensors
# with abair/weights/abair-tiny{,-8}.safetensors, then refreshes the logs of this folder and the model
# cards (model_cards.py). About 80 minutes on 2 quiet CPU cores (one thread per training process).
#   bash results/training/tiny/make.sh          (from anywhere, after pip install -e .)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
B="${ABAIR_BENCH:-abair-bench}"
PY="${PYTHON:-python3}"
R="${RUNS:-$ROOT/runs/train-tiny}"
export OMP_NUM_THREADS=1
A="$R/add"
$B train all --recipe tiny --out "$R" --jobs 2 --no-progress
$B train adapter --name jpeg --checkpoint "$R/model.safetensors" --out "$A/tiny-5+jpeg.safetensors" --no-progress
$B train adapter --name bitdepth --checkpoint "$A/tiny-5+jpeg.safetensors" --out "$A/tiny-5+jpeg+bitdepth.safetensors" --no-progress
$B train adapter --name snow --checkpoint "$A/tiny-5+jpeg+bitdepth.safetensors" \
  --out "$A/tiny-5+jpeg+bitdepth+snow.safetensors" --no-progress
$B train estimator --checkpoint "$A/tiny-5+jpeg+bitdepth+snow.safetensors" --out "$A/abair-tiny-8.safetensors" --no-progress
"$PY" "$HERE/compare.py" "$R/model.safetensors" "$ROOT/abair/weights/abair-tiny.safetensors"
"$PY" "$HERE/compare.py" "$A/abair-tiny-8.safetensors" "$ROOT/abair/weights/abair-tiny-8.safetensors"
for d in phase1 phase2/rain phase2/haze phase2/noise phase2/blur phase2/lowlight phase3; do
  mkdir -p "$HERE/$d" && cp "$R/$d/log.jsonl" "$HERE/$d/log.jsonl"
done
for d in tiny-5+jpeg.train-jpeg tiny-5+jpeg+bitdepth.train-bitdepth tiny-5+jpeg+bitdepth+snow.train-snow \
         abair-tiny-8.train-estimator; do
  mkdir -p "$HERE/add/$d" && cp "$A/$d/log.jsonl" "$HERE/add/$d/log.jsonl"
done
"$PY" "$HERE/model_cards.py"
