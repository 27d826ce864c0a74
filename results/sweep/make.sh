#!/usr/bin/env bash
# Regenerates everything under results/sweep/: the default severity and composition sweep of the
# embedded tiny ABAIR (OH, SW, oracle, backbone), the classical baselines of each task and identity
# over the clean test-pool tiles, and its report. Scale: 8 clean 128x128 tiles per point (the
# default spec), the tiny preset trained on 2 CPU cores (abair/weights/abair-tiny.json); a pipeline
# demonstration, not a reproduction of the paper. motion-deblur (about 1 s a tile) is left out:
# wiener-ml is the deblurring baseline here.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${ABAIR_BENCH:-.venv/bin/abair-bench}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
rm -rf results/sweep/run results/sweep/tables  # regenerated from scratch, not resumed
$B sweep --spec default --out results/sweep/run --no-progress --jobs 2 \
  --methods identity,abair-oh,abair-sw,abair-oracle,abair-backbone,nlm,dcp,wiener-ml,lime,derain-guided,deblock,dequant,desnow-median
rm -rf results/sweep/run/shards  # merged into records.csv by the sweep; not kept
$B report --runs results/sweep/run --no-audit --out results/sweep/report.html --exports results/sweep/tables --force
