#!/bin/bash
# Second CUDA script (after cuda-run.sh): the SW-merged-per-image variants side by side,
# with `sw-merged-batched` (one batched matmul per projection, added after the first call showed the
# per-image merge loop at 2-7x the backbone on the GPU). Same settings as cuda-run.sh.
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
PY=${PY:-python3}
OUT=${OUT:-runs/cuda}
RES=${RES:-runs/cuda/abair-cuda-2}
rm -rf "$RES" && mkdir -p "$RES" "$OUT"
trap 'tar -C "$(dirname "$RES")" -czf "$OUT/cuda-2.tar.gz" "$(basename "$RES")"; ls -la "$OUT"' EXIT
AB=("$PY" -c "import sys; from bench.cli import main; sys.exit(main())")
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$RES/gpu.txt"
COMMON=(--device "${DEVICE:-cuda}" --sizes 256 --batch 1,8 --dtype fp32,bf16 --min-seconds 0.2 --repeats 5 --warmup-seconds 0.3
        --configs none,oh-merged,sw,sw-merged,sw-merged-batched,estimator)
step() { local name=$1; shift; echo "== $name start $(date -u +%T)"; timeout "$@"; echo "== $name exit $? $(date -u +%T)"; }
for preset in tiny small paper; do
  step "$preset" 110 "${AB[@]}" profile --preset "$preset" "${COMMON[@]}" --out "$RES/cuda-$preset-sw"
done
