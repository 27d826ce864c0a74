"""Write the Phase-I backbone of a trained model (every adapter removed; the estimator goes with
them) to a file that `abair-bench train phase2 --checkpoint` accepts. The backbone tensors are
Phase I's byte for byte, which Phase II's fingerprint check confirms when an adapter is loaded back.

Usage: python results/training/tiny/extract_backbone.py MODEL.safetensors OUT.safetensors
"""
import sys

from abair.model.checkpoint import load, save

model = load(sys.argv[1])
for name in list(model.adapter_names):
    model.remove_adapter(name)
save(model, sys.argv[2])
