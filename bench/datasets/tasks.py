"""Task names and the degradation classes each task removes (used by oracles and reports)."""

from __future__ import annotations

# task -> degradation classes present in its inputs (mixed sets list their own)
TASK_DEGRADATIONS: dict[str, tuple[str, ...]] = {
    "derain": ("rain",),
    "dehaze": ("haze",),
    "denoise": ("noise",),
    "deblur": ("blur",),
    "lowlight": ("lowlight",),
    "jpeg": ("jpeg",),
    "bitdepth": ("bitdepth",),
    "desnow": ("snow",),
    "mixed": (),
}

TASKS = tuple(TASK_DEGRADATIONS)
