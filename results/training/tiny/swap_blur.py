"""Swap a blur adapter into both shipped tiny models, in place (same position: each estimator still
scores it), and write the two models to OUT_DIR with an ``extra.blur_adapter`` note.

Usage: python results/training/tiny/swap_blur.py ADAPTER.safetensors OUT_DIR NOTE
``ADAPTER`` is an adapter file (``phase2/blur/adapter.safetensors``) or a whole model whose blur
adapter is taken.
"""
import sys
import tempfile
from pathlib import Path

from abair.model.checkpoint import load, load_adapter, read_config, save, save_adapter

adapter, out, note = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
with tempfile.TemporaryDirectory() as tmp:
    if read_config(adapter)["kind"] != "adapter":
        only = Path(tmp) / "blur.safetensors"
        save_adapter(load(adapter), "blur", only)
        adapter = str(only)
    for name in ("abair-tiny", "abair-tiny-8"):
        src = f"abair/weights/{name}.safetensors"
        m = load(src)
        load_adapter(m, adapter, replace=True)
        extra = dict(read_config(src)["extra"])
        extra["blur_adapter"] = note
        save(m, out / f"{name}.safetensors", extra=extra)
        print("wrote", out / f"{name}.safetensors")
