#!/usr/bin/env bash
# Regenerates table.md (about 2 minutes on 2 cores; run on a quiet machine).
set -euo pipefail
cd "$(dirname "$0")/../../.."
PY=${PYTHON:-.venv/bin/python}
THREADS=1 $PY results/profile/cpu-backbone/measure.py > results/profile/cpu-backbone/table.md
THREADS=2 $PY results/profile/cpu-backbone/measure.py > results/profile/cpu-backbone/table-2-threads.md
