#!/bin/bash
# Session 4: Phase II of the tiny recipe as shipped, two adapters at a time (--jobs 2), from the
# backbone of the shipped model; then every adapter compared with the shipped one (compare.txt).
set -e
cd "$(dirname "$0")/../../../.."
export OMP_NUM_THREADS=1
R=runs/jobs2
mkdir -p $R
.venv/bin/python results/training/tiny/extract_backbone.py abair/weights/abair-tiny.safetensors $R/backbone.safetensors
date -u +"start %FT%TZ"; s=$(date +%s)
.venv/bin/abair-bench train phase2 --recipe tiny --checkpoint $R/backbone.safetensors --out $R --jobs 2 --no-progress
echo "rc=$? wall_s=$(( $(date +%s) - s ))"; date -u +"end %FT%TZ"
.venv/bin/python results/training/tiny/compare_adapters.py $R abair/weights/abair-tiny.safetensors > $R/compare.txt
