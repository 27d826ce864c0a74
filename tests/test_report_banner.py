"""The report's banner states the scale of the models: the model card's scale note and training time."""

from __future__ import annotations

import json


def test_training_time_is_summed_from_a_cards_phase_seconds(tmp_path):
    from bench.abair_methods import _training_card

    ckpt = tmp_path / "mine.safetensors"
    ckpt.write_bytes(b"")
    card = ckpt.with_suffix(".json")
    card.write_text(json.dumps({"phase_seconds": {"phase1": 100.25, "phase2/rain": 50.0, "phase3": 10.0},
                                "scale": "tiny preset, 3 CPU minutes"}))
    assert _training_card(ckpt) == {"training_scale": "tiny preset, 3 CPU minutes", "training_seconds": 160.2}
    card.write_text(json.dumps({"training_seconds": 42.0, "phase_seconds": {"phase1": 1.0}}))
    assert _training_card(ckpt) == {"training_seconds": 42.0}  # an explicit total wins
    card.write_text("[1, 2]")
    assert _training_card(ckpt) == {}


def test_banner_scale_names_the_model_cards_note():
    from bench.report.runs import run_scale

    note = "tiny preset trained on 2 CPU cores on 7 sample images: a pipeline demonstration, not a reproduction"
    manifests = {"r": {"datasets": {"mini-derain": {"suite": "mini"}}, "methods": {
        "abair-sw": {"preset": "tiny", "training_seconds": 3768.4, "training_scale": note},
        "abair-oh": {"preset": "tiny", "training_seconds": 3768.4, "training_scale": note},
        "nlm": {"h_factor": 0.8}}}}
    scale = run_scale(manifests)
    assert scale["scales"] == {note: ["abair-sw", "abair-oh"]}
    assert scale["training_seconds"] == {"abair-sw": 3768.4, "abair-oh": 3768.4}
