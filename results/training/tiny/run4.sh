#!/bin/bash
# Session 4 (2026-11-26/27): the blur adapter retrained with the recipe's per-adapter settings as now
# shipped (phase2.per_adapter.blur: 1,500 steps, 64x64, rank-16 Conv-LoRA, PSNR loss, soft clean
# targets p 0.5 radius U(0.5, 3.5), motion blur only; chosen on dev crops by explore_s4.sh) and
# swapped into both shipped models in place. Nothing else is retrained: nothing else depends on the
# blur adapter (see run3.sh). The shipped adapter is the one of explore_s4.sh's `cl16-soft35-psnr`
# run (`train adapter --replace`, the same settings through --set); this script trains it again
# through Phase II to check that the two give the same tensors, then writes both models.
set -e
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1
B=.venv/bin/abair-bench PY=.venv/bin/python R=runs/tiny-blur4 W=abair/weights
mkdir -p $R && date -u +"start %FT%TZ"
# 1. the Phase-I backbone, from the shipped model (its backbone tensors are Phase I's, byte for byte; as run, the
#    same code was inline here)
$PY results/training/tiny/extract_backbone.py $W/abair-tiny.safetensors $R/backbone.safetensors
# 2. Phase II for the blur adapter alone, with the recipe as shipped
$B train phase2 --recipe tiny --checkpoint $R/backbone.safetensors --set 'model.adapters=[blur]' --out $R \
  --no-progress > $R/stdout.log 2>&1
date -u +"blur adapter done %FT%TZ"
# 3. swap it into both models in place (same position, so each estimator still scores it)
$PY results/training/tiny/swap_blur.py $R/phase2/blur/adapter.safetensors $R "runs/tiny-blur4/phase2/blur/adapter.safetensors (results/training/tiny/run4.sh)"
date -u +"models written %FT%TZ"
