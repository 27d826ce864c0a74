"""Compare the tensors of two checkpoints (e.g. a retrained model and the shipped one), one line per
part (backbone, each adapter, estimator); exit status 1 if any tensor differs. Metadata (paths, command
lines in the file header) is not compared.

    python results/training/tiny/compare.py NEW.safetensors SHIPPED.safetensors
"""

from __future__ import annotations

import sys

import torch
from safetensors.torch import load_file


def part(key: str) -> str:
    if key.startswith("estimator."):
        return "estimator"
    for marker in (".adapters.", "adapters."):
        if marker in key:
            return "adapter " + key.split(marker, 1)[1].split(".", 1)[0]
    return "backbone"


def main(new: str, shipped: str) -> int:
    a, b = load_file(new), load_file(shipped)
    parts: dict[str, list[bool]] = {}
    for key in sorted(set(a) | set(b)):
        parts.setdefault(part(key), []).append(key in a and key in b and torch.equal(a[key], b[key]))
    for name, same in sorted(parts.items()):
        print(f"{name}: {len(same)} tensors, {'identical' if all(same) else f'{same.count(False)} DIFFERENT'}")
    return 0 if all(all(s) for s in parts.values()) else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
