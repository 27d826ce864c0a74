#!/usr/bin/env bash
# Regenerates everything under results/mini/ (the committed mini-suite run and its report).
# Scale: the embedded mini suite (34 tiles of 128x128 per set, 13 sets) and the tiny ABAIR preset
# trained on 2 CPU cores (model card: abair/weights/abair-tiny.json); not the paper's test sets.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${ABAIR_BENCH:-.venv/bin/abair-bench}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
W=abair/weights
rm -rf results/mini/run results/mini/run-8deg results/mini/tables  # regenerated from scratch, not resumed
# 1. the 5-degradation model (the embedded default), the classical baselines and the floor
$B run --suite mini --out results/mini/run --save-images --no-progress --jobs 2 \
  --methods identity,abair-oh,abair-sw,abair-oracle,abair-backbone,nlm,dcp,wiener-ml,motion-deblur,lime,derain-guided,deblock,dequant,desnow-median
# 2. the 8-degradation model after adding jpeg, bitdepth and snow adapters (Table 4 "Ours*")
$B run --suite mini --out results/mini/run-8deg --save-images --no-progress --jobs 2 \
  --checkpoint $W/abair-tiny-8.safetensors --methods abair-oh,abair-sw,abair-oracle
# 3. the estimator's accuracy on the single-degradation sets
$B estimator eval --suite mini > results/mini/estimator-eval.txt
$B estimator eval --suite mini --checkpoint $W/abair-tiny-8.safetensors > results/mini/estimator-eval-8deg.txt
# ... and per input size on the source images (native-scale windows, and the older whole-image resize)
$B estimator eval --sizes 128,256,384,full > results/mini/estimator-eval-sizes.txt
$B estimator eval --sizes 128,256,384,full --view resize > results/mini/estimator-eval-sizes-resize.txt
$B estimator eval --sizes 128,256,384,full --checkpoint $W/abair-tiny-8.safetensors > results/mini/estimator-eval-sizes-8deg.txt
$B estimator eval --sizes 128,256,384,full --checkpoint $W/abair-tiny-8.safetensors --view resize \
  > results/mini/estimator-eval-sizes-8deg-resize.txt
# 4. the report (with the CPU throughput profile of the tiny preset)
$B report --runs results/mini/run results/mini/run-8deg --profiles results/profile/cpu-tiny \
  --out results/mini/report.html --exports results/mini/tables
# 5. the run radar as headless Chromium renders it (needs Debian's chromium)
${PYTHON:-.venv/bin/python} results/mini/screenshot-radar.py
