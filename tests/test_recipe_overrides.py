"""Recipe overrides (``--set KEY=VALUE``, ``load_recipe(name, overrides)``) at every level of the recipe.

The ``tiny`` recipe is loaded and overridden only; nothing trains. Its ``phase2.per_adapter.blur``
entry (steps 1500, crop 64, rank 16, conv-lora, ...) is the shadowing case.
"""

from __future__ import annotations

import re

import pytest

from abair.errors import UserError
from abair.train.recipes import adapter_recipe, apply_overrides, load_recipe


def blur(*overrides: str) -> dict:
    """The recipe the tiny recipe's blur adapter is trained with, after ``overrides``."""
    return adapter_recipe(load_recipe("tiny", overrides), "blur")


def refused(*overrides: str) -> str:
    with pytest.raises(UserError) as info:
        load_recipe("tiny", overrides)
    return str(info.value)


def test_dotted_paths_reach_every_level():
    r = load_recipe("tiny", ["model.estimator.max_crops=9", "phase2.per_adapter.blur.steps=5",
                             "phase2.per_adapter.blur.params.kind=defocus", "data.train.rain=rain100l-train",
                             "phase2.per_adapter.noise.lr=1e-4"])
    assert r["model"]["estimator"]["max_crops"] == 9 and r["model"]["estimator"]["depth"] == 2
    assert r["data"]["train"] == {"rain": "rain100l-train"}
    entry = r["phase2"]["per_adapter"]["blur"]
    assert entry["steps"] == 5 and entry["params"] == {"kind": "defocus"} and entry["crop"] == 64  # others stay
    assert adapter_recipe(r, "noise")["phase2"]["lr"] == 1e-4 and adapter_recipe(r, "rain")["phase2"]["lr"] == 2e-3
    assert adapter_recipe(r, "noise")["phase2"]["steps"] == 350  # one adapter's value reaches no other
    # a whole entry is a mapping value, checked like one in the recipe file
    assert load_recipe("tiny", ["phase2.per_adapter.jpeg={steps: 3}"])["phase2"]["per_adapter"]["jpeg"] == {"steps": 3}


def test_a_value_set_for_every_adapter_reaches_the_per_adapter_entries():
    assert load_recipe("tiny")["phase2"]["per_adapter"]["blur"]["steps"] == 1500
    b = blur("phase2.steps=5")
    assert b["phase2"]["steps"] == 5 and b["phase2"]["crop"] == 64 and b["model"]["rank"] == 16  # only steps
    b = blur("model.rank=8", "model.adapter_type=lora", "phase2.loss=l1")
    assert (b["model"]["rank"], b["model"]["adapter_type"], b["phase2"]["loss"]) == (8, "lora", "l1")
    assert b["phase2"]["soft_clean"] == 0.5  # not overridden: the entry's
    # a per_adapter value given as an override wins for its adapter, in either order
    for order in (["phase2.steps=5", "phase2.per_adapter.blur.steps=7"],
                  ["phase2.per_adapter.blur.steps=7", "phase2.steps=5"]):
        r = load_recipe("tiny", order)
        assert adapter_recipe(r, "blur")["phase2"]["steps"] == 7 and adapter_recipe(r, "haze")["phase2"]["steps"] == 5
    r = load_recipe("tiny", ["phase2.per_adapter={blur: {steps: 2}}", "phase2.steps=5"])
    assert adapter_recipe(r, "blur")["phase2"]["steps"] == 2
    r = load_recipe("tiny", ["phase2.per_adapter.blur={steps: 2}", "phase2.steps=5"])
    assert adapter_recipe(r, "blur")["phase2"]["steps"] == 2


def test_python_api_applies_the_same_rules_and_leaves_its_input_alone():
    tiny = load_recipe("tiny")
    r = apply_overrides(tiny, ["phase2.crop=32", "phase2.per_adapter.blur.rank=2"])
    assert adapter_recipe(r, "blur")["phase2"]["crop"] == 32 and adapter_recipe(r, "blur")["model"]["rank"] == 2
    assert tiny["phase2"]["per_adapter"]["blur"]["crop"] == 64 and tiny["phase2"]["per_adapter"]["blur"]["rank"] == 16
    with pytest.raises(UserError, match=r"^unknown recipe key 'phase2\.per_adapter\.blur\.stepz' "
                                        r"\(did you mean 'steps'\?\)$"):
        apply_overrides(tiny, ["phase2.per_adapter.blur.stepz=5"])


@pytest.mark.parametrize("override, message", [
    ("phase2.per_adapter.blur.stepz=5", "unknown recipe key 'phase2.per_adapter.blur.stepz' (did you mean 'steps'?)"),
    ("model.estimater.max_crops=9", "unknown recipe key 'model.estimater.max_crops' (did you mean 'estimator'?)"),
    ("model.estimator.max_crop=9", "unknown recipe key 'model.estimator.max_crop' (did you mean 'max_crops'?)"),
    ("modl.rank=3", "unknown recipe key 'modl.rank' (did you mean 'model'?)"),
    ("phase1.step=7", "unknown recipe key 'phase1.step' (did you mean 'steps'?)"),
    ("model.estimator.zzz=1", "unknown recipe key 'model.estimator.zzz'; 'model.estimator' has input_size, widths, "
                              "depth, view, max_crops"),
    ("phase2.steps.x=1", "recipe key 'phase2.steps.x': 'phase2.steps' is a value, not a section; set 'phase2.steps'"),
    ("model.estimator=3", "recipe key 'model.estimator' is a section; set one of its keys (input_size, widths"),
])
def test_unknown_keys_name_the_nearest_at_every_level(override, message):
    assert refused(override).startswith(message)


def test_deeper_names_are_checked_with_a_suggestion():
    assert "phase2.per_adapter.blur.params: the blur operator has no parameter 'kindd' (did you mean 'kind'?)" in \
        refused("phase2.per_adapter.blur.params.kindd=motion")
    assert "unknown degradation in data.train 'rainn' (did you mean 'rain'?)" in refused("data.train.rainn=x")
    assert "'phase2.per_adapter.blur.steps' must be int, got 'many'" in refused("phase2.per_adapter.blur.steps=many")


def test_per_adapter_names_one_of_the_recipes_adapters():
    assert refused("phase2.per_adapter.blurr.steps=5") == (
        "recipe key 'phase2.per_adapter.blurr.steps': 'blurr' is not one of the recipe's adapters (did you mean "
        "'blur'?); they are rain, haze, noise, blur, lowlight (model.adapters) and jpeg, bitdepth, snow (add.adapters: list a new adapter "
        "there)")
    assert "'blur' is not one of the recipe's adapters" in refused("model.adapters=[noise]", "add.adapters=[]",
                                                                      "phase2.per_adapter.blur.steps=5")
    # add.adapters count (train adapter), and the adapters are those after every override, in any order
    assert load_recipe("tiny", ["phase2.per_adapter.snow.steps=2"])["phase2"]["per_adapter"]["snow"] == {"steps": 2}
    r = load_recipe("tiny", ["phase2.per_adapter.jpeg.steps=2", "model.adapters=[jpeg]", "add.adapters=[]"])
    assert adapter_recipe(r, "jpeg")["phase2"]["steps"] == 2


def test_cli_set_reaches_per_adapter_entries_and_refuses_in_one_line(one_line_error, tmp_path):
    from bench.cli import build_parser

    args = build_parser().parse_args(["train", "phase2", "--out", str(tmp_path), "--set", "phase2.steps=5",
                                      "--set", "phase2.per_adapter.noise.steps=3"])
    r = load_recipe(args.recipe, args.overrides)
    assert [adapter_recipe(r, name)["phase2"]["steps"] for name in ("blur", "noise", "rain")] == [5, 3, 5]
    line = one_line_error(["train", "phase2", "--out", str(tmp_path / "run"), "--set",
                           "phase2.per_adapter.blur.stepz=5"])
    assert line == ("abair-bench: error: unknown recipe key 'phase2.per_adapter.blur.stepz' (did you mean "
                    "'steps'?) (--set KEY=VALUE)")
    line = one_line_error(["train", "phase2", "--out", str(tmp_path / "run"), "--set",
                           "phase2.per_adapter.blurr.steps=5"])
    assert re.match(r"abair-bench: error: recipe key 'phase2\.per_adapter\.blurr\.steps': 'blurr' is not one of "
                    r"the recipe's adapters \(did you mean 'blur'\?\); they are rain, .*\(--set KEY=VALUE\)$", line)
    assert not (tmp_path / "run").exists()


def test_resume_takes_other_memory_settings_but_not_another_recipe(tmp_path):
    """The walk-through trains on one GPU with accumulate=2 and resumes on eight without it."""
    from bench.commands.train import _save_run_info

    _save_run_info(tmp_path, load_recipe("paper", ["phase1.accumulate=2", "phase2.accumulate=2"]), resume=False)
    _save_run_info(tmp_path, load_recipe("paper", ["checkpointing=true"]), resume=True)
    with pytest.raises(UserError, match=r"recipe\.yaml' holds another recipe than this one; resume with the same "):
        _save_run_info(tmp_path, load_recipe("paper", ["phase2.steps=5"]), resume=True)
