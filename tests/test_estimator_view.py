"""The estimator sees native-scale windows at every image size (what Phase III trains it on)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from abair.model.estimator import DegradationEstimator, EstimatorConfig, window_boxes


def _estimator(**cfg) -> DegradationEstimator:
    torch.manual_seed(0)
    return DegradationEstimator(EstimatorConfig(input_size=32, widths=(8, 16), depth=1, **cfg), 3).eval()


def test_one_window_is_scored_as_it_is():
    est = _estimator()
    x = torch.rand(2, 3, 32, 32)
    expected = est.head(est.features(x * 2.0 - 1.0).mean(dim=(2, 3)))  # the forward of the older estimator
    assert torch.equal(est(x), expected)


def test_large_image_is_the_mean_probability_of_its_windows():
    est = _estimator()
    x = torch.rand(1, 3, 70, 100)
    boxes = window_boxes(70, 100, 32, 16)
    assert boxes == [(t, left) for t in (0, 19, 38) for left in (0, 23, 45, 68)]  # 3 x 4 windows, edge to edge
    probs = torch.stack([est.probabilities(est(x[..., t:t + 32, left:left + 32])) for t, left in boxes]).mean(0)
    torch.testing.assert_close(est.probabilities(est(x)), probs, rtol=1e-5, atol=1e-7)


def test_window_count_is_capped_and_spread_over_the_whole_image():
    boxes = window_boxes(720, 1280, 128, 16)  # GoPro: a full grid would be 6 x 10 = 60 windows
    assert len(boxes) <= 16
    tops, lefts = sorted({t for t, _ in boxes}), sorted({left for _, left in boxes})
    assert (tops[0], tops[-1], lefts[0], lefts[-1]) == (0, 720 - 128, 0, 1280 - 128)
    assert window_boxes(128, 128, 128, 16) == [(0, 0)]
    assert window_boxes(300, 451, 128, 1) == [((300 - 128) // 2, (451 - 128) // 2)]


def test_small_image_is_padded_to_a_window_not_enlarged():
    est = _estimator()
    x = torch.rand(1, 3, 20, 50)
    padded = torch.nn.functional.pad(x, (0, 0, 6, 6), mode="reflect")  # 20 -> 32 rows, at the image's scale
    assert window_boxes(20, 50, 32, 16) == [(0, 0), (0, 18)]
    want = torch.stack([est.probabilities(est(padded[..., :, left:left + 32])) for left in (0, 18)]).mean(0)
    torch.testing.assert_close(est.probabilities(est(x)), want, rtol=1e-5, atol=1e-7)


def test_resize_view_keeps_the_older_behaviour():
    est = _estimator(view="resize")
    x = torch.rand(1, 3, 64, 64)
    small = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
    assert torch.equal(est(x), est.head(est.features(small * 2.0 - 1.0).mean(dim=(2, 3))))


def test_windows_differ_from_input_size_are_resized_like_in_training():
    est = _estimator(window=64)
    x = torch.rand(1, 3, 64, 64)
    small = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
    assert torch.equal(est(x), est.head(est.features(small * 2.0 - 1.0).mean(dim=(2, 3))))


def test_config_from_older_checkpoints_and_bad_values():
    old = {"input_size": 128, "widths": [16, 32], "depth": 2, "activation": "softmax"}
    cfg = EstimatorConfig.from_json(old)
    assert (cfg.view, cfg.window_size, cfg.max_crops) == ("crops", 128, 16)
    assert EstimatorConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="unknown estimator view 'tiles'"):
        EstimatorConfig(view="tiles")
    with pytest.raises(ValueError, match="max_crops must be a positive"):
        EstimatorConfig(max_crops=0)


def test_sizes_evaluation_counts_views_and_classes():
    from bench.estimator_sizes import evaluate_sizes, parse_sizes, views

    assert parse_sizes("128, full,128") == ["128", "full"]
    assert [len(views(s)) for s in ("128", "384", "full")] == [9, 6, 3]  # chelsea is 300 px high: no 384 crop

    class Model:  # always answers class 1
        estimator_names = ("rain", "noise")

        def to(self, device):
            return self

        def eval(self):
            return self

        def estimate(self, x):
            return torch.tensor([[0.2, 0.8]])

    result = evaluate_sizes(Model(), ["384"])["sizes"]["384"]
    assert result["per_class"] == {"rain": {"n": 6, "correct": 0}, "noise": {"n": 6, "correct": 6}}
    assert result["confusion"] == [[0, 6], [0, 6]] and result["accuracy"] == 0.5


def test_sizes_option_errors(capsys):
    from bench.cli import main

    assert main(["estimator", "eval", "--sizes", "12x"]) == 2
    assert "'12x' is neither a crop size" in capsys.readouterr().err


@pytest.mark.slow
def test_shipped_model_top1_at_every_size():
    """The done-when of size-independent estimation, on the embedded tiny model (no retraining)."""
    from bench.abair_methods import embedded_default
    from bench.estimator_sizes import evaluate_sizes

    path = embedded_default()
    if path is None:
        pytest.skip("no embedded checkpoint installed")
    from abair.model.checkpoint import load

    model = load(path)
    sizes = evaluate_sizes(model, ["128", "256", "384", "full"])["sizes"]
    for size, r in sizes.items():
        assert r["accuracy"] >= 0.9, size
        noise = r["per_class"]["noise"]
        assert noise["correct"] >= 0.8 * noise["n"], size
    model.estimator.cfg = dataclasses.replace(model.estimator.cfg, view="resize")
    assert evaluate_sizes(model, ["256"])["sizes"]["256"]["per_class"]["noise"]["correct"] <= 2  # the old blindness
