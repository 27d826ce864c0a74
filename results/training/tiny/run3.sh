#!/bin/bash
# Session 2 (2026-11-26): the blur adapter retrained with the recipe's per-adapter settings
# (phase2.per_adapter.blur: 1,500 steps, 64x64 crops, rank 16, motion blur only) and swapped into
# both shipped models. Nothing else is retrained, because nothing else depends on the blur adapter:
# Phase I precedes it, the other adapters are trained alone on the frozen backbone (mode
# fixed:<name>), and Phase III / `train estimator` train the estimator on classification alone
# (phase3.restoration_weight 0: the adapters are never run). `train all --recipe tiny` with the recipe
# as now shipped gives this schedule in one command; `abair-bench train adapter --name blur --replace
# --checkpoint abair/weights/abair-tiny.safetensors --out M` (added after this run) does steps 1-3
# for one model in one command (the same adapter: --replace trains exactly as Phase II, tested).
set -e
cd /work/main
export OMP_NUM_THREADS=1
B=.venv/bin/abair-bench
PY=.venv/bin/python
R=runs/tiny-blur
W=abair/weights
mkdir -p $R
date -u +"start %FT%TZ"
# 1. the Phase-I backbone, from the shipped model (its backbone tensors are Phase I's, byte for byte;
#    Phase II checks this by fingerprint when the adapter is loaded back)
$PY -c "
from abair.model.checkpoint import load, save
m = load('$W/abair-tiny.safetensors')
for n in list(m.adapter_names):
    m.remove_adapter(n)
save(m, '$R/backbone.safetensors')"
# 2. Phase II for the blur adapter alone, with the recipe as shipped
$B train phase2 --recipe tiny --checkpoint $R/backbone.safetensors --set 'model.adapters=[blur]' --out $R \
  --no-progress > $R/stdout.log 2>&1
date -u +"blur adapter done %FT%TZ"
# 3. swap it into both models in place (same position, so each estimator still scores it)
for name in abair-tiny abair-tiny-8; do
  $PY -c "
from abair.model.checkpoint import load, load_adapter, read_config, save
src = '$W/$name.safetensors'
m = load(src)
load_adapter(m, '$R/phase2/blur/adapter.safetensors', replace=True)
extra = dict(read_config(src)['extra'])
extra['blur_adapter'] = 'runs/tiny-blur/phase2/blur/adapter.safetensors (results/training/tiny/run3.sh)'
save(m, '$R/$name.safetensors', extra=extra)"
done
date -u +"models written %FT%TZ"
