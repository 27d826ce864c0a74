#!/bin/bash
# Session 4 (2026-11-26): blur-adapter variants, each trained alone on the shipped backbone with
# `train adapter --replace` (exactly Phase II with the given per-adapter settings), then scored on
# the dev sets A, B, C of dev_eval_blur_sizes.py (train-pool crops, never the test tiles).
# Choice rule, fixed before any test number of these variants was seen: the highest mean
# fixed:blur gain over dev sets A, B and C. Two runs at a time, one torch thread each.
set -e
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1
B=.venv/bin/abair-bench
R=runs/s4
mkdir -p $R
variant() {  # NAME SETTINGS
  $B train adapter --name blur --replace --checkpoint abair/weights/abair-tiny.safetensors \
    --set "phase2.per_adapter={blur: {steps: 1500, crop: 64, rank: 16, params: {kind: motion}, $2}}" \
    --out $R/$1/abair-tiny.safetensors > $R/$1.log 2>&1
}
# round 1: soft clean targets with a wider defocus range, L1 or PSNR loss
variant soft35-l1 "soft_clean: 0.5, soft_radius: [0.5, 3.5], loss: l1" &
variant soft35-psnr "soft_clean: 0.5, soft_radius: [0.5, 3.5], loss: psnr" &
wait
python=.venv/bin/python
$python results/training/tiny/dev_eval_blur_sizes.py abair/weights/abair-tiny.safetensors \
  $R/soft35-l1/abair-tiny.safetensors $R/soft35-psnr/abair-tiny.safetensors > $R/dev_r3.txt  # explore_s4/dev_round1.txt
# round 2: Conv-LoRA (3x3 conv experts at scales 1 and 2 in the rank-16 bottleneck) for spatial capacity
# (as run: cl16-l1 started beside the round-1 evaluation, cl16-soft35-psnr when that ended)
variant cl16-l1 "adapter_type: conv-lora" &
variant cl16-soft35-psnr "adapter_type: conv-lora, soft_clean: 0.5, soft_radius: [0.5, 3.5], loss: psnr" &
wait
$python results/training/tiny/dev_eval_blur_sizes.py $R/cl16-l1/abair-tiny.safetensors | grep -v " sw:" > $R/dev_r4a.txt
$python results/training/tiny/dev_eval_blur_sizes.py $R/cl16-soft35-psnr/abair-tiny.safetensors > $R/dev_r4b.txt
# the pick (highest mean fixed:blur dev gain: cl16-soft35-psnr), scored once on the test tiles
$B run --suite mini --datasets mini-deblur --methods identity,abair-oh,abair-sw,abair-oracle \
  --checkpoint $R/cl16-soft35-psnr/abair-tiny.safetensors --out $R/test-cl16-soft35-psnr --no-progress
