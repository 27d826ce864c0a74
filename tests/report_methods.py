"""Helpers for the report tests: a small real run (identity + a smoothing method) on three mini sets."""

from __future__ import annotations

import torch

from baselines.base import Method

DATASETS = ["mini-derain", "mini-denoise-s25", "mini-lowlight"]
LIMIT = 6


class Smooth(Method):
    """3x3 box filter (reflect padding): a real, cheap restorer that helps on noise."""

    name = "smooth"
    max_batch = 8

    def config(self):
        # a preset and a training time, as ABAIR method configs carry them (read by the report banner)
        return {"name": self.name, "kernel": 3, "preset": "tiny", "training": {"seconds": 5400.0}}

    def restore(self, batch, context):
        padded = torch.nn.functional.pad(batch, (1, 1, 1, 1), mode="reflect")
        return torch.nn.functional.avg_pool2d(padded, 3, stride=1)


def make():
    return Smooth()


def make_small_run(out) -> str:
    """Run identity and ``smooth`` on 6 images of three mini sets with saved images; returns the dir."""
    from bench.runner import RunSpec, run

    run(RunSpec(out=str(out), methods=["identity", "report_methods:make"], datasets=list(DATASETS), limit=LIMIT,
                save_images=True, progress=False, command="abair-bench run (test_report small run)"))
    return str(out)
