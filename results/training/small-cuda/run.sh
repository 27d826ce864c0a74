#!/usr/bin/env bash
# The `small` recipe's Phase I on one GPU: is it GPU-bound with synthesis on the device?
# Writes into $OUT (default results/training/small-cuda): bench-data.jsonl (pipeline alone, step alone,
# per-degradation synthesis cost on the GPU) and phase1-{device,workers}-log.jsonl (a few hundred
# training steps with synthesis on the device, then in the loader workers: data_wait_s, step_s,
# samples_per_s, peak_mem_mb per record).
#   OUT=DIR bash results/training/small-cuda/run.sh          (from the repository root)
# Knobs for a dry run elsewhere: DEVICE (default cuda), STEPS (default 300), WORKERS (default 8),
# EXTRA (more --set arguments, e.g. to shrink the model on a CPU).
set -euo pipefail
OUT="${OUT:-results/training/small-cuda}"
source "$(dirname "$0")/../cuda-env.sh"

: > "$OUT/bench-data.jsonl"
for synth in device workers; do
  for w in 0 "$WORKERS"; do
    "${B[@]}" train bench-data --recipe small --phase 1 --device "$DEVICE" --workers "$w" --synthesis "$synth" \
      --steps 20 --json "${POOL[@]}" "${EXTRA_ARGS[@]}" >> "$OUT/bench-data.jsonl"
  done
done
"${B[@]}" train bench-data --recipe small --phase 1 --device "$DEVICE" --workers "$WORKERS" --synthesis device \
  --steps 5 --no-step --per-degradation --json "${POOL[@]}" "${EXTRA_ARGS[@]}" >> "$OUT/bench-data.jsonl"

for synth in device workers; do
  "${B[@]}" train phase1 --recipe small --out "$TMP/$synth" --device "$DEVICE" --workers "$WORKERS" --synthesis "$synth" \
    --no-progress --set "phase1.steps=$STEPS" --set phase1.log_every=50 --set "phase1.checkpoint_every=$STEPS" \
    "${POOL[@]}" "${EXTRA_ARGS[@]}"
  cp "$TMP/$synth/phase1/log.jsonl" "$OUT/phase1-$synth-log.jsonl"
  cp "$TMP/$synth/phase1/summary.json" "$OUT/phase1-$synth-summary.json"
done
echo "wrote $OUT"
