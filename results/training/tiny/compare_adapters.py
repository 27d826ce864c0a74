"""Compare every adapter file of a Phase-II run directory with the same adapter of a model, tensor by
tensor (torch.equal), and print one line per adapter.

Usage: python results/training/tiny/compare_adapters.py RUN_DIR MODEL.safetensors
"""
import sys
from pathlib import Path

import torch

from abair.model.checkpoint import load, load_adapter

run, model_path = Path(sys.argv[1]), sys.argv[2]
model = load(model_path)
same = True
for name in model.adapter_names:
    path = run / "phase2" / name / "adapter.safetensors"
    if not path.is_file():
        print(f"{name}: no {path}")
        same = False
        continue
    other = load(model_path)
    load_adapter(other, path, replace=True)
    a, b = model.adapter_state_dict(name), other.adapter_state_dict(name)
    equal = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    same &= equal
    print(f"{name}: {len(a)} tensors, {'byte-identical' if equal else 'DIFFERENT'} to {model_path}")
sys.exit(0 if same else 1)
