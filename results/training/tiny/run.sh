#!/bin/bash
# The tiny training run (issue 5, item 7) and the add-a-degradation flow (Table 4 "Ours*").
set -e
cd /work/main
export OMP_NUM_THREADS=1
B=.venv/bin/abair-bench
R=runs/train-tiny
date -u +"start %FT%TZ"
$B train all --recipe tiny --out $R
date -u +"five-degradation model done %FT%TZ"
$B train adapter --name jpeg --checkpoint $R/model.safetensors --out $R/add/tiny-5+jpeg.safetensors
$B train adapter --name bitdepth --checkpoint $R/add/tiny-5+jpeg.safetensors --out $R/add/tiny-5+jpeg+bitdepth.safetensors
$B train adapter --name snow --checkpoint $R/add/tiny-5+jpeg+bitdepth.safetensors --out $R/add/tiny-5+jpeg+bitdepth+snow.safetensors
$B train estimator --checkpoint $R/add/tiny-5+jpeg+bitdepth+snow.safetensors --out $R/add/abair-tiny-8.safetensors
date -u +"eight-degradation model done %FT%TZ"
