#!/usr/bin/env bash
# Times `abair-bench report` on the README's main job, the target being under 10 s on 2 quiet cores.
# Makes the main job's run once (identity, abair-oh, abair-sw, abair-oracle on the mini suite with
# --save-images; or give RUN=DIR of an existing one), then runs the report REPEATS times (default 3)
# pinned to two cores (taskset -c 0,1 where taskset exists) with the default audit (a sample of 4 images
# per method and set) and once with --audit-limit all for comparison, and prints the wall seconds of
# each and their median; writes the same lines to results/main-job/report-timing.md. Run it on a quiet
# machine from the repository root's environment (.venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${ABAIR_BENCH:-.venv/bin/abair-bench}
REPEATS=${REPEATS:-3}
LIMIT_S=${LIMIT_S:-10}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PIN=()
PINNED="unpinned (no taskset)"
if command -v taskset > /dev/null; then PIN=(taskset -c 0,1); PINNED="pinned to two cores (taskset -c 0,1)"; fi
RUN=${RUN:-}
if [ -z "$RUN" ]; then
  RUN="$WORK/mini"
  "${PIN[@]}" $B run --suite mini --methods identity,abair-oh,abair-sw,abair-oracle --out "$RUN" --save-images \
    --jobs 2 --no-progress > "$WORK/run.log"
fi
seconds() {  # wall seconds of one report with the given extra options
  local t0 t1
  t0=$(date +%s.%N)
  "${PIN[@]}" $B report --runs "$RUN" --out "$WORK/report.html" --force "$@" > /dev/null
  t1=$(date +%s.%N)
  printf "%.1f" "$(echo "$t1 - $t0" | bc)"
}
OUT=results/main-job/report-timing.md
{
  echo "# \`abair-bench report\` on the main job's run, timed"
  echo
  echo "Made by \`results/main-job/report-bench.sh\` on $(date -u +%Y-%m-%d): the run of the README's main job"
  echo "(mini suite, identity, abair-oh, abair-sw, abair-oracle, --save-images), the report $PINNED;"
  echo "$(nproc) cores, $(.venv/bin/python -c 'import torch; print("torch", torch.__version__)')."
  echo "Target: under $LIMIT_S s on 2 quiet cores. Wall seconds of the whole command:"
  echo
  times=()
  for i in $(seq "$REPEATS"); do
    times+=("$(seconds)")
    echo "- report (default audit sample), repetition $i: ${times[-1]} s"
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}')
  echo "- report with --audit-limit all: $(seconds --audit-limit all) s"
  echo
  echo "Median of the default report: $median s."
} | tee "$OUT"
median=$(sed -n 's/^Median of the default report: \(.*\) s\.$/\1/p' "$OUT")
awk -v m="$median" -v l="$LIMIT_S" 'BEGIN {exit !(m < l)}' || { echo "over the target" >&2; exit 1; }
