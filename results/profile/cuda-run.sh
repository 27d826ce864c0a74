#!/bin/bash
# CUDA throughput per adapter configuration and a CUDA smoke run of the `small` training
# recipe. Run from the repository root on a CUDA machine whose python3 has torch but not this
# package installed (hence PYTHONPATH pointing at the source tree). Everything is written under $RES and packed into
# $OUT/cuda.tar.gz on exit (even after a step's timeout); the console output is the call's log.
# PY, DEVICE (default cuda) and TRAIN_DEVICE let the same script be checked on a CPU first.
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
PY=${PY:-python3}
OUT=${OUT:-runs/cuda}
RES=${RES:-runs/cuda/abair-cuda}
WORK=${WORK:-runs/cuda/small-train}  # training outputs (not packed)
rm -rf "$RES" && mkdir -p "$RES" "$OUT"
trap 'tar -C "$(dirname "$RES")" -czf "$OUT/cuda.tar.gz" "$(basename "$RES")"; ls -la "$OUT"' EXIT
AB=("$PY" -c "import sys; from bench.cli import main; sys.exit(main())")
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$RES/gpu.txt"
"$PY" -c "import torch; print('torch', torch.__version__, torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name())" | tee -a "$RES/gpu.txt"
COMMON=(--device "${DEVICE:-cuda}" --sizes 256 --batch 1,8 --dtype fp32,bf16 --min-seconds 0.2 --repeats 5 --warmup-seconds 0.3)
step() { local name=$1; shift; echo "== $name start $(date -u +%T)"; timeout "$@"; echo "== $name exit $? $(date -u +%T)"; }
step tiny 130 "${AB[@]}" profile --preset tiny "${COMMON[@]}" \
  --configs none,fixed,oh-merged,oh,sw,sw-merged,sw-r16,fixed-vera,sw-vera,fixed-conv-lora,sw-conv-lora,estimator \
  --out "$RES/cuda-tiny"
step small 90 "${AB[@]}" profile --preset small "${COMMON[@]}" \
  --configs none,fixed,oh-merged,oh,sw,sw-merged,estimator --out "$RES/cuda-small"
step paper 150 "${AB[@]}" profile --preset paper "${COMMON[@]}" \
  --configs none,fixed,oh-merged,oh,sw,sw-merged,estimator,restormer,promptir --out "$RES/cuda-paper"
# the `small` recipe on CUDA with AMP: Phase I for 200 steps (the full recipe is 60,000), then one
# adapter for 100 steps: step times, and the CUDA training path end to end
step train-phase1 100 "${AB[@]}" train phase1 --recipe small --set 'data.clean=[]' --set phase1.steps=200 --set phase1.checkpoint_every=100 \
  --set phase1.warmup=50 --out $WORK --no-progress ${TRAIN_DEVICE:+--device $TRAIN_DEVICE}
step train-adapter 60 "${AB[@]}" train adapter --name blur --checkpoint $WORK/phase1/backbone.safetensors \
  --recipe small --set 'data.clean=[]' --set 'data.train={}' --set phase2.steps=100 --set phase2.checkpoint_every=1000 --set phase2.warmup=10 \
  --out $WORK/small-blur.safetensors --no-progress ${TRAIN_DEVICE:+--device $TRAIN_DEVICE}
mkdir -p "$RES/train-small"
cp $WORK/phase1/log.jsonl "$RES/train-small/phase1-log.jsonl"
cp $WORK/phase1/summary.json "$RES/train-small/phase1-summary.json"
cp $WORK/small-blur.train-blur/log.jsonl "$RES/train-small/adapter-blur-log.jsonl"
cp $WORK/small-blur.train-blur/summary.json "$RES/train-small/adapter-blur-summary.json"
