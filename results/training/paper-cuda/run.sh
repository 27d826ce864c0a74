#!/usr/bin/env bash
# The `paper` recipe's Phase I on one GPU at the micro-batch and accumulation docs/TRAINING.md states
# for one 80 GB GPU: does it fit, how much memory does it take, how fast is it?
# Writes into $OUT (default results/training/paper-cuda): device.txt, and for each setting
# phase1-<setting>-log.jsonl and phase1-<setting>-summary.json (a few hundred optimiser steps; every
# record has samples_per_s and peak_mem_mb = torch.cuda.max_memory_allocated, MiB):
#   accumulate   global batch 32 as 2 micro-batches of 16, bf16 autocast (the documented 1-GPU setting)
#   checkpoint   global batch 32 in one piece with activation checkpointing (the alternative)
#   OUT=DIR bash results/training/paper-cuda/run.sh          (from the repository root)
# Knobs: DEVICE (default cuda), STEPS (default 300), WORKERS (default 8), SETTINGS (default
# "accumulate checkpoint"), EXTRA (more --set arguments).
set -euo pipefail
OUT="${OUT:-results/training/paper-cuda}"
SETTINGS="${SETTINGS:-accumulate checkpoint}"
source "$(dirname "$0")/../cuda-env.sh"

for setting in $SETTINGS; do
  case "$setting" in
    accumulate) KNOBS=(--set phase1.accumulate=2) ;;
    checkpoint) KNOBS=(--set phase1.accumulate=1 --set checkpointing=true) ;;
    *) echo "unknown setting '$setting' (accumulate, checkpoint)" >&2; exit 2 ;;
  esac
  "${B[@]}" train phase1 --recipe paper --out "$TMP/$setting" --device "$DEVICE" --workers "$WORKERS" \
    --synthesis device --no-progress --set "phase1.steps=$STEPS" --set phase1.log_every=25 \
    --set "phase1.checkpoint_every=$STEPS" --set phase1.batch=32 "${KNOBS[@]}" "${POOL[@]}" "${EXTRA_ARGS[@]}"
  cp "$TMP/$setting/phase1/log.jsonl" "$OUT/phase1-$setting-log.jsonl"
  cp "$TMP/$setting/phase1/summary.json" "$OUT/phase1-$setting-summary.json"
done
echo "wrote $OUT"
