# Shared set-up of the GPU scripts under results/training/ (sourced, with OUT already set): the knobs
# DEVICE (default cuda), STEPS, WORKERS (default 8), PYTHON, EXTRA (more --set arguments); B (the CLI),
# EXTRA_ARGS, TMP (removed on exit), POOL (the embedded train pool: decoded once, in memory, so that
# the step and synthesis are measured, not PNG decoding; data.clean=[] selects it over the recipe's
# DIV2K/Flickr2K) and $OUT/device.txt (GPU, driver, memory, torch, cores).
DEVICE="${DEVICE:-cuda}"
STEPS="${STEPS:-300}"
WORKERS="${WORKERS:-8}"
PY="${PYTHON:-python3}"
B=("$PY" -m bench.cli)
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"
mkdir -p "$OUT"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
POOL=(--set "data.clean=[]")
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$OUT/device.txt" 2>/dev/null || echo "$DEVICE" > "$OUT/device.txt"
"$PY" -c "import torch, os; print('torch', torch.__version__, 'cores', len(os.sched_getaffinity(0)))" >> "$OUT/device.txt"
