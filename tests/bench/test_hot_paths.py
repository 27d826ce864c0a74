"""pytest-benchmark suite for the hot paths: adapter merge, blended forward, metrics, training-data synthesis.

Not unit tests: every test is marked ``benchmark``, which the unit-test run deselects. Run them with
``nox -s bench``, i.e. ``python -m pytest -m benchmark --benchmark-only tests/bench``. The ABAIR
preset and input size come from ``ABAIR_BENCH_PRESET`` (default ``tiny``) and ``ABAIR_BENCH_SIZE``
(default 64); images are float (N, 3, S, S) in [0, 1], batch 2.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from abair.model.presets import build
from bench.profile.configs import randomise_adapters, sw_merged_forward
from bench.protocols import get_protocol

pytestmark = pytest.mark.benchmark

PRESET = os.environ.get("ABAIR_BENCH_PRESET", "tiny")
SIZE = int(os.environ.get("ABAIR_BENCH_SIZE", "64"))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = build(PRESET, adapters=5).eval()
    randomise_adapters(m, 0)
    return m


@pytest.fixture(scope="module")
def x():
    return torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


def test_merge_one_adapter(benchmark, model):
    def merge_unmerge():
        model.merge("rain")
        model.unmerge()

    benchmark(merge_unmerge)
    assert not model.merged


def test_merge_soft_blend(benchmark, model):
    coeffs = dict(zip(model.adapter_names, (0.4, 0.3, 0.15, 0.1, 0.05), strict=True))

    def merge_unmerge():
        model.merge(coeffs)
        model.unmerge()

    benchmark(merge_unmerge)


def _forward(model, x, mode):
    with torch.inference_mode():
        return model(x, mode=mode)


def test_forward_backbone(benchmark, model, x):
    assert benchmark(_forward, model, x, "none").shape == x.shape


def test_forward_blended_sw_unmerged(benchmark, model, x):
    assert benchmark(_forward, model, x, "sw").shape == x.shape


def test_forward_one_adapter_unmerged(benchmark, model, x):
    assert benchmark(_forward, model, x, "fixed:rain").shape == x.shape


def test_forward_merged_oh(benchmark, model, x):
    model.merge("rain")
    try:
        assert benchmark(_forward, model, x, "fixed:rain").shape == x.shape
    finally:
        model.unmerge()


def test_forward_sw_merged_per_image(benchmark, model, x):
    def run():
        with torch.inference_mode():
            return sw_merged_forward(model, x)

    assert benchmark(run).shape == x.shape


def test_estimator(benchmark, model, x):
    with torch.inference_mode():
        assert benchmark(model.estimate, x).shape == (2, 5)


@pytest.fixture(scope="module")
def image_pair():
    g = np.random.default_rng(0)
    clean = g.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    restored = np.clip(clean / 255.0 + g.normal(0, 0.05, clean.shape), 0, 1)
    return restored, clean


@pytest.mark.parametrize("spec", ["allinone-rgb", "y-bt601"])
def test_metrics_one_image(benchmark, image_pair, spec):
    protocol = get_protocol(spec)
    scores = benchmark(protocol.score, *image_pair)
    assert 20 < scores["psnr"] < 40


def test_metrics_batched_pyiqa(benchmark, image_pair):
    pytest.importorskip("pyiqa")
    restored, clean = image_pair
    r = torch.from_numpy(restored).permute(2, 0, 1)[None].float().repeat(2, 1, 1, 1)
    c = (torch.from_numpy(clean).permute(2, 0, 1)[None].float() / 255.0).repeat(2, 1, 1, 1)
    protocol = get_protocol("allinone-rgb@pyiqa")
    scores = benchmark(protocol.score_batch, r, c)
    assert len(scores) == 2


@pytest.mark.parametrize("name", ["rain", "haze", "noise", "blur", "lowlight", "jpeg", "bitdepth", "snow"])
def test_synthesis_of_one_training_sample(benchmark, name):
    """One (3, S, S) float32 training sample degraded by one operator at its default severities
    (a fresh generator per call, as each sample of the training stream has)."""
    from abair.degradations import apply, make_generator

    clean = torch.rand(3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    seeds = iter(range(10**9))
    benchmark(lambda: apply(name, clean, make_generator(next(seeds))))


def test_phase1_cutmix_batch_of_8(benchmark):
    """A Phase-I CutMix batch of 8 samples (crop S) from the embedded pool, per-sample stream."""
    from abair.train.data import Phase1Data

    data = Phase1Data(SIZE, ["rain", "haze", "noise", "blur", "lowlight"], "cutmix", seed=0)
    steps = iter(range(10**9))
    benchmark(lambda: data.batch(next(steps), 0, 8))
