"""Training: exact resume, DDP, what each phase may change, adding a degradation, the log, recipes.

Tiny model, 32x32 crops, batches of 2, a few steps each (the whole file runs in well under 90 s on
one core; the two-process DDP test is marked slow).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from abair.errors import UserError
from abair.model.checkpoint import backbone_fingerprint, load
from abair.train import loop, phases
from abair.train.data import EstimatorData, Phase1Data, SingleData
from abair.train.recipes import load_recipe

SMALL = [
    "phase1.steps=4", "phase1.batch=2", "phase1.crop=32", "phase1.log_every=2", "phase1.checkpoint_every=2",
    "phase2.steps=3", "phase2.batch=2", "phase2.crop=32", "phase2.log_every=1", "phase2.checkpoint_every=3",
    "phase3.steps=3", "phase3.batch=4", "phase3.crop=32", "phase3.log_every=1", "phase3.checkpoint_every=3",
    "model.adapters=[noise,lowlight]", "threads=1",
]


def recipe(*extra: str) -> dict:
    return load_recipe("tiny", SMALL + list(extra))


def tensors_sha(tensors: dict[str, torch.Tensor]) -> dict[str, str]:
    return {k: hashlib.sha256(v.detach().contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()
            for k, v in tensors.items()}


def adapter_hashes(model, names) -> dict[str, dict[str, str]]:
    return {n: tensors_sha(model.adapter_state_dict(n)) for n in names}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished two-adapter tiny run (backbone, adapters noise + lowlight, estimator)."""
    out = tmp_path_factory.mktemp("run")
    phases.run_all(recipe(), out, device="cpu", progress=False)
    return out


class Kill(Exception):
    pass


# -- the loop --------------------------------------------------------------------------------------
def test_resume_after_kill_ends_bit_identical(tmp_path, monkeypatch):
    r = recipe("phase1.steps=6", "phase1.checkpoint_every=2", "phase1.log_every=3")
    phases.run_phase1(r, tmp_path / "a", device="cpu", progress=False)

    real_train = phases.train

    def killed_at_4(*args, **kwargs):
        def on_checkpoint(step):
            if step == 4:
                raise Kill
        return real_train(*args, **kwargs, on_checkpoint=on_checkpoint)

    monkeypatch.setattr(phases, "train", killed_at_4)
    with pytest.raises(Kill):
        phases.run_phase1(r, tmp_path / "b", device="cpu", progress=False)
    monkeypatch.setattr(phases, "train", real_train)
    assert not (tmp_path / "b" / phases.BACKBONE_FILE).exists()
    with pytest.raises(UserError, match="already holds a training state .*resume it"):
        phases.run_phase1(r, tmp_path / "b", device="cpu", progress=False)
    phases.run_phase1(r, tmp_path / "b", resume=True, device="cpu", progress=False)

    a = load(tmp_path / "a" / phases.BACKBONE_FILE)
    b = load(tmp_path / "b" / phases.BACKBONE_FILE)
    assert tensors_sha(a.state_dict()) == tensors_sha(b.state_dict())
    # the log of the resumed run reads as the uninterrupted one (the record at step 6 spans the kill)
    keep = ("step", "loss", "l1", "ce", "lr")
    logs = [[{k: rec[k] for k in keep} for rec in map(json.loads, (tmp_path / d / "phase1" / "log.jsonl").open())]
            for d in "ab"]
    assert logs[0] == logs[1] and [rec["step"] for rec in logs[0]] == [3, 6]
    # only the two newest training states are kept
    assert sorted(p.name for p in (tmp_path / "b" / "phase1" / "state").iterdir()) == ["step-00000004",
                                                                                         "step-00000006"]


def test_lr_schedule_closed_form():
    cfg = loop.LoopConfig(steps=11, batch=1, lr=1.0, min_lr=0.1, warmup=2)
    assert [loop.lr_at(s, cfg) for s in (0, 1)] == [0.5, 1.0]
    assert loop.lr_at(2, cfg) == pytest.approx(1.0)
    assert loop.lr_at(10, cfg) == pytest.approx(0.1)
    # half way through the cosine part: (min + max) / 2
    assert loop.lr_at(6, cfg) == pytest.approx(0.55)
    assert loop.lr_at(4, cfg) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi / 4)))


class FixedBatch:
    def __init__(self, batch):
        self.value = batch

    def batch(self, step, rank, n):
        return self.value


def test_loss_decreases_on_a_fixed_batch_and_log_has_documented_fields(tmp_path):
    from abair.model import build

    torch.manual_seed(0)
    model = build("tiny", adapters=0, seghead=True)
    batch = Phase1Data(32, ["noise", "haze"], seed=3).batch(0, 0, 4)
    cfg = loop.LoopConfig(steps=20, batch=4, lr=2e-3, warmup=2, log_every=5, checkpoint_every=20, progress=False,
                          threads=1)
    loop.train(phases.Phase1Objective(model, 0.1), FixedBatch(batch), cfg, tmp_path, name="phase1")
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").open()]
    assert [r["step"] for r in records] == [5, 10, 15, 20]
    for r in records:
        assert set(r) == {"phase", "step", "loss", "l1", "ce", "lr", "it_s", "samples_per_s", "data_wait_s",
                          "synth_s", "step_s", "peak_mem_mb", "seconds"}
        assert r["lr"] == loop.lr_at(r["step"] - 1, cfg)
        assert r["loss"] == pytest.approx(r["l1"] + 0.1 * r["ce"], rel=1e-6)
        assert r["it_s"] > 0 and r["samples_per_s"] == pytest.approx(4 * r["it_s"], rel=1e-9)
        assert r["step_s"] > 0 and r["data_wait_s"] >= 0 and r["synth_s"] == 0
        assert r["data_wait_s"] + r["step_s"] <= 1 / r["it_s"] * 1.01
        import resource

        assert 0 < r["peak_mem_mb"] <= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + 0.05
    assert [r["seconds"] for r in records] == sorted(r["seconds"] for r in records)
    assert records[-1]["loss"] < 0.8 * records[0]["loss"]


# -- what each phase changes -----------------------------------------------------------------------
def test_phase1_trains_backbone_and_seghead_without_aux_seg_freezes_head(tmp_path):
    from abair.model import build

    r = recipe("phase1.steps=2", "phase1.aux_seg=false")
    phases.run_phase1(r, tmp_path, device="cpu", progress=False)
    trained = load(tmp_path / phases.BACKBONE_FILE)
    phases._seeded(r, "phase1")
    fresh = build("tiny", adapters=0, seghead=True)
    assert backbone_fingerprint(trained) != backbone_fingerprint(fresh)
    assert tensors_sha(trained.seghead.state_dict()) == tensors_sha(fresh.seghead.state_dict())
    records = [json.loads(line) for line in (tmp_path / "phase1" / "log.jsonl").open()]
    assert "ce" not in records[-1] and records[-1]["loss"] == records[-1]["l1"]


def test_phase2_changes_only_its_adapter(trained, tmp_path):
    backbone = load(trained / phases.BACKBONE_FILE)
    before = tensors_sha(backbone.state_dict())
    r = recipe()
    phases.train_adapter(backbone, "rain", r, tmp_path, device="cpu", progress=False)
    after = tensors_sha(backbone.state_dict())
    rain = {k for k in after if ".adapters.rain." in k}
    assert {k: after[k] for k in before} == before  # backbone and head byte-identical
    # B starts at zero: a trained adapter has moved it
    assert any(backbone.adapter_state_dict("rain")[k].abs().sum() > 0 for k in rain if k.endswith(".B"))
    # every adapter file was trained on the unchanged Phase-I backbone (fingerprint check passes)
    model = phases.assemble(r, trained)
    assert backbone_fingerprint(model) == backbone_fingerprint(load(trained / phases.BACKBONE_FILE))


def test_phase3_changes_only_the_estimator(trained, tmp_path):
    model = phases.assemble(recipe(), trained)
    before = {k: v for k, v in tensors_sha(model.state_dict()).items() if not k.startswith("estimator.")}
    r = recipe()
    phases.run_phase3(model, r, tmp_path, device="cpu", progress=False)
    after = tensors_sha(model.state_dict())
    assert {k: after[k] for k in before} == before
    trained_est = tensors_sha(model.estimator.state_dict())
    phases._seeded(r, "estimator", *model.adapter_names)
    model.reset_estimator()
    assert tensors_sha(model.estimator.state_dict()) != trained_est  # moved from its (seeded) init


def test_final_model_restores_and_sidecar_lists_the_phases(trained):
    model = load(trained / phases.MODEL_FILE)
    assert model.adapter_names == ("noise", "lowlight") and model.estimator_names == model.adapter_names
    assert model.seghead is None
    # the recipe's estimator size replaced the preset's, and the checkpoint rebuilt it
    sizes = recipe()["model"]["estimator"]
    assert model.config.estimator.input_size == sizes["input_size"]
    assert model.config.estimator.widths == tuple(sizes["widths"]) and model.config.estimator.depth == sizes["depth"]
    sidecar = json.loads((trained / "model.json").read_text())
    assert set(sidecar["phases"]) == {"phase1", "phase2/noise", "phase2/lowlight", "phase3"}
    x = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        assert model(x, mode="sw").shape == x.shape


# -- adding a degradation ----------------------------------------------------------------------------
def test_add_degradation_leaves_original_adapters_byte_identical(trained, tmp_path):
    base = load(trained / phases.MODEL_FILE)
    originals = adapter_hashes(base, base.adapter_names)
    fingerprint = backbone_fingerprint(base)
    r = recipe()
    plus = phases.add_adapter(trained / phases.MODEL_FILE, "jpeg", r, tmp_path / "plus.safetensors",
                              tmp_path / "plus.train", device="cpu", progress=False)
    extended = load(plus)
    assert extended.adapter_names == ("noise", "lowlight", "jpeg")
    with pytest.raises(UserError, match="retrain the estimator"):
        extended(torch.rand(1, 3, 32, 32), mode="sw")
    final = phases.retrain_estimator(plus, r, tmp_path / "final.safetensors", tmp_path / "final.train",
                                     device="cpu", progress=False)
    model = load(final)
    assert model.estimator_names == ("noise", "lowlight", "jpeg")
    assert adapter_hashes(model, ("noise", "lowlight")) == originals
    assert backbone_fingerprint(model) == fingerprint
    with torch.inference_mode():
        assert model.estimate(torch.rand(2, 3, 32, 32)).shape == (2, 3)


# -- data --------------------------------------------------------------------------------------------
def test_batches_depend_only_on_seed_rank_and_step():
    data = Phase1Data(32, ["rain", "noise", "blur"], "cutmix", seed=1)
    a, b = data.batch(5, 0, 2), data.batch(5, 0, 2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["clean"], data.batch(5, 1, 2)["clean"])
    assert not torch.equal(a["clean"], data.batch(6, 0, 2)["clean"])
    # labels: 0 clean, 1 + class index (rain 1, noise 3, blur 4); inputs are 8-bit values
    assert set(a["class_map"].unique().tolist()) <= {0, 1, 3, 4}
    assert torch.equal(a["degraded"], torch.round(a["degraded"] * 255) / 255)


def test_synthetic_and_task_only_label_whole_images():
    for mode in ("synthetic", "task-only"):
        b = Phase1Data(32, ["haze", "lowlight"], mode, seed=2).batch(0, 0, 4)
        for m in b["class_map"]:
            assert m.unique().numel() == 1 and int(m[0, 0]) in (2, 5)


def test_estimator_targets_softmax_and_sigmoid():
    soft = EstimatorData(32, ["rain", "haze", "noise"], mixed_fraction=0.5, activation="softmax", seed=0)
    t = soft.batch(0, 0, 16)["target"]
    assert torch.allclose(t.sum(dim=1), torch.ones(16))
    counts = (t > 0).sum(dim=1)
    assert set(counts.tolist()) == {1, 2} and torch.all(t[counts == 2][t[counts == 2] > 0] == 0.5)
    hard = EstimatorData(32, ["rain", "haze", "noise"], mixed_fraction=0.5, activation="sigmoid", seed=0)
    assert torch.equal(hard.batch(0, 0, 16)["target"], (t > 0).float())
    with pytest.raises(UserError, match="adapters named after a degradation"):
        EstimatorData(32, ["rain", "custom"])


def test_real_pairs_are_cropped_aligned():
    import numpy as np

    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    degraded = 255 - clean
    b = SingleData(32, "noise", pairs=[(degraded, clean)]).batch(0, 0, 3)
    assert torch.allclose(b["degraded"], 1 - b["clean"], atol=1e-6)


# -- recipes and CLI ---------------------------------------------------------------------------------
def test_shipped_recipes_load_and_overrides_are_checked():
    for name in ("tiny", "small", "paper"):
        r = load_recipe(name)
        assert r["name"] == name and r["model"]["preset"] == name
    assert load_recipe("tiny", ["phase1.steps=7", "phase1.lr=1e-3"])["phase1"]["steps"] == 7
    with pytest.raises(UserError, match=r"^unknown recipe key 'phase1\.step' \(did you mean 'steps'\?\)$"):
        load_recipe("tiny", ["phase1.step=7"])
    with pytest.raises(UserError, match=r"'phase1\.steps' must be int, got 'many'"):
        load_recipe("tiny", ["phase1.steps=many"])
    with pytest.raises(UserError, match=r"unknown recipe 'tinny' \(did you mean 'tiny'\?\)"):
        load_recipe("tinny")
    with pytest.raises(UserError, match=r"unknown phase1\.data 'mixup'"):
        load_recipe("tiny", ["phase1.data=mixup"])


@pytest.mark.slow
def test_phase2_in_two_processes_writes_the_same_adapter_files(trained, tmp_path):
    """--jobs 2: adapters trained in parallel processes, longest first, byte for byte as one at a time."""
    from safetensors.torch import load_file

    r = recipe("phase2.per_adapter={lowlight: {steps: 4}}")
    backbone = trained / phases.BACKBONE_FILE
    one = phases.run_phase2(r, tmp_path / "one", backbone=backbone, device="cpu", progress=False)
    two = phases.run_phase2(r, tmp_path / "two", backbone=backbone, device="cpu", progress=False, jobs=2)
    assert list(one) == list(two) == ["noise", "lowlight"]
    for name in one:
        a, b = load_file(one[name]), load_file(two[name])
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
        steps = [json.loads(line)["step"] for line in (tmp_path / "two" / "phase2" / name / "log.jsonl").open()]
        assert steps[-1] == (4 if name == "lowlight" else 3)
    with pytest.raises(UserError, match=r"the number of adapters trained at a time must be >= 1, got 0"):
        phases.run_phase2(r, tmp_path / "zero", backbone=backbone, device="cpu", progress=False, jobs=0)


def test_phase2_without_backbone_is_a_one_line_error(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "train", "phase2", "--out", str(tmp_path / "x")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"abair-bench: error: Phase II needs the Phase-I backbone '{tmp_path / 'x' / phases.BACKBONE_FILE}'; "
        "train Phase I into the same output directory first, or give the backbone file "
        "(--checkpoint gives the backbone file; abair-bench train phase1 --out DIR)")


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "bench.cli", "train", "phase1", "--out", str(out), "--no-progress", "--device", "cpu"]
    cmd += [f"--set={s}" for s in SMALL if s.startswith(("phase1", "threads"))]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Grad strides do not match" not in proc.stderr  # depth-wise weights laid out like their gradients
    assert (out / phases.BACKBONE_FILE).is_file()
    records = [json.loads(line) for line in (out / "phase1" / "log.jsonl").open()]
    assert [r["step"] for r in records] == [2, 4]  # one log, written by rank 0 only
    state = json.loads((loop.latest_state(out / "phase1") / "state.json").read_text())
    assert state["step"] == 4 and len(state["rng"]) == 2  # the RNG states of both ranks


# -- estimator evaluation ------------------------------------------------------------------------------
class FakeSet:
    def __init__(self, name, degradation, images):
        self.name, self.degradations, self.images = name, (degradation,), images

    def image_ids(self):
        return [str(i) for i in range(len(self.images))]

    def load(self, image_id):
        from bench.datasets.base import Pair

        im = self.images[int(image_id)]
        return Pair(self.name, "t", image_id, im, im)


def test_estimator_eval_counts_match_a_direct_argmax(trained):
    import numpy as np

    from abair.degradations import apply
    from abair.imageops import tensor_to_uint8, uint8_to_tensor
    from bench.commands.estimator import evaluate, format_result

    model = load(trained / phases.MODEL_FILE)
    rng = np.random.default_rng(1)
    clean = [rng.integers(60, 200, (40, 48, 3), dtype=np.uint8) for _ in range(3)]
    sets = [FakeSet(f"set-{d}", d, [tensor_to_uint8(apply(d, uint8_to_tensor(c), 0)) for c in clean])
            for d in ("noise", "lowlight")]
    result = evaluate(model, sets)
    expected = [[0, 0], [0, 0]]
    for row, ds in enumerate(sets):
        for im in ds.images:
            with torch.inference_mode():
                expected[row][int(model.estimate(uint8_to_tensor(im)[None]).argmax())] += 1
    assert result["confusion"] == expected
    assert result["n"] == 6 and result["correct"] == expected[0][0] + expected[1][1]
    assert result["accuracy"] == result["correct"] / 6
    assert result["per_dataset"]["set-noise"]["correct"] == expected[0][0]
    text = format_result(result, "ckpt")
    assert f"all{'':<19}{'':<12}   6  {100 * result['accuracy']:5.1f}%" in text.splitlines()


def test_train_and_estimator_commands_import_nothing_heavy():
    code = "import sys, bench.commands.train, bench.commands.estimator; print(sorted({'torch', 'pandas'} & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]"


# -- per-adapter Phase-II settings -------------------------------------------------------------------
def test_per_adapter_settings_merge_over_phase2_and_leave_other_adapters_alone():
    from abair.train.recipes import adapter_recipe

    tiny = load_recipe("tiny")
    blur = adapter_recipe(tiny, "blur")
    assert blur["phase2"]["steps"] == 1500 and blur["phase2"]["crop"] == 64 and blur["model"]["rank"] == 16
    assert blur["phase2"]["params"] == {"kind": "motion"} and "per_adapter" not in blur["phase2"]
    assert blur["phase2"]["lr"] == tiny["phase2"]["lr"]  # not overridden: inherited
    noise = adapter_recipe(tiny, "noise")
    assert noise["model"] == tiny["model"] and noise["phase2"]["params"] == {}
    assert {k: v for k, v in noise["phase2"].items() if k != "params"} == {
        k: v for k, v in tiny["phase2"].items() if k != "per_adapter"}
    assert tiny["phase2"]["per_adapter"]["blur"]["rank"] == 16  # the input recipe is not modified
    assert load_recipe("tiny", ["phase2.per_adapter={}"])["phase2"]["per_adapter"] == {}


def test_per_adapter_rank_steps_and_params_reach_the_training(tmp_path):
    from abair.model import build

    r = recipe("phase2.per_adapter={rain: {steps: 2, rank: 2}, blur: {params: {kind: defocus, radius: 2.0}}}")
    model = build("tiny", adapters=0)
    phases.train_adapter(model, "rain", r, tmp_path / "rain", device="cpu", progress=False)
    assert model.adapter_specs["rain"].rank == 2
    assert {a.A.shape[0] for a in model.modules() if type(a).__name__ == "LoRA"} == {2}
    assert [json.loads(line)["step"] for line in (tmp_path / "rain" / "log.jsonl").open()] == [1, 2]
    # params fix the operator's parameters; everything else is drawn from the batch's generator
    from abair.degradations import apply
    from abair.train.data import CropSampler, batch_generator, quantise

    got = SingleData(32, "blur", seed=3, params={"kind": "defocus", "radius": 2.0}, stream="rank").batch(4, 0, 2)
    gen = batch_generator(3, "phase2-blur", 0, 4)
    clean = CropSampler(None, 32).sample(2, gen)
    want = quantise(apply("blur", clean, gen, kind="defocus", radius=2.0))
    assert torch.equal(got["clean"], clean) and torch.equal(got["degraded"], want)
    assert not torch.equal(SingleData(32, "blur", seed=3).batch(4, 0, 2)["degraded"], want)


def test_per_adapter_adapter_type_builds_that_type_beside_the_others(tmp_path):
    from abair.model import build
    from abair.model.adapters import ConvLoRA, LoRA

    r = recipe("phase2.per_adapter={blur: {steps: 1, rank: 3, adapter_type: conv-lora}}")
    model = build("tiny", adapters=0)
    phases.train_adapter(model, "rain", r, tmp_path / "rain", device="cpu", progress=False)
    phases.train_adapter(model, "blur", r, tmp_path / "blur", device="cpu", progress=False)
    specs = model.adapter_specs
    assert (specs["rain"].type, specs["rain"].rank) == ("lora", r["model"]["rank"])
    assert (specs["blur"].type, specs["blur"].rank) == ("conv-lora", 3)
    kinds = {name: {type(h.adapters[name]) for h in model.modules() if hasattr(h, "adapters") and name in h.adapters}
             for name in ("rain", "blur")}
    assert kinds == {"rain": {LoRA}, "blur": {ConvLoRA}}
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():  # a mixed model blends both kinds (no estimator yet: fixed and summed blends)
        fixed = {mode: model(x, mode=mode) for mode in ("none", "fixed:rain", "fixed:blur", "sum")}
    assert not torch.equal(fixed["fixed:blur"], fixed["none"])  # one step moved the conv-lora adapter
    assert not torch.equal(fixed["sum"], fixed["fixed:rain"]) and not torch.equal(fixed["sum"], fixed["fixed:blur"])


def test_per_adapter_settings_are_checked():
    with pytest.raises(UserError, match=r"unknown degradation in phase2\.per_adapter 'blurr' \(did you mean 'blur'\?\)"):
        load_recipe("tiny", ["phase2.per_adapter={blurr: {steps: 2}}"])
    with pytest.raises(UserError, match=r"unknown key 'phase2\.per_adapter\.blur\.stepz' \(did you mean 'steps'\?\)"):
        load_recipe("tiny", ["phase2.per_adapter={blur: {stepz: 2}}"])
    with pytest.raises(UserError, match=r"phase2\.per_adapter\.blur\.crop must be a multiple of 8, got 60"):
        load_recipe("tiny", ["phase2.per_adapter={blur: {crop: 60}}"])
    with pytest.raises(UserError, match=r"params: the blur operator has no parameter 'kindd' \(did you mean 'kind'\?\); "
                                        r"its parameters: kind, size, radius$"):
        load_recipe("tiny", ["phase2.per_adapter={blur: {params: {kindd: motion}}}"])
    with pytest.raises(UserError, match=r"phase2\.per_adapter\.blur\.params: blur: kind must be one of motion, defocus"):
        load_recipe("tiny", ["phase2.per_adapter={blur: {params: {kind: zoom}}}"])
    with pytest.raises(UserError, match=r"unknown adapter type in phase2\.per_adapter\.blur\.adapter_type 'convlora' "
                                        r"\(did you mean 'conv-lora'\?\)"):
        load_recipe("tiny", ["phase2.per_adapter={blur: {adapter_type: convlora}}"])
    with pytest.raises(UserError, match=r"unknown adapter type in model\.adapter_type 'lorra'"):
        load_recipe("tiny", ["model.adapter_type=lorra"])


def test_replacing_an_adapter_retrains_it_exactly_as_phase2_and_keeps_the_estimator(trained, tmp_path):
    base = load(trained / phases.MODEL_FILE)
    r = recipe()
    out = phases.add_adapter(trained / phases.MODEL_FILE, "noise", r, tmp_path / "re.safetensors",
                             tmp_path / "re.train", device="cpu", progress=False, replace=True)
    model = load(out)
    assert model.adapter_names == base.adapter_names == ("noise", "lowlight")
    # same seed, data and settings as Phase II on the same backbone: the same tensors, byte for byte
    assert adapter_hashes(model, base.adapter_names) == adapter_hashes(base, base.adapter_names)
    assert tensors_sha(model.estimator.state_dict()) == tensors_sha(base.estimator.state_dict())
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 32, 32), mode="sw").shape == (1, 3, 32, 32)  # no retrain needed
    # with other settings only that adapter changes
    other = phases.add_adapter(trained / phases.MODEL_FILE, "noise", recipe("phase2.steps=1"),
                               tmp_path / "re1.safetensors", tmp_path / "re1.train", device="cpu",
                               progress=False, replace=True)
    changed = load(other)
    assert adapter_hashes(changed, ("lowlight",)) == adapter_hashes(base, ("lowlight",))
    assert adapter_hashes(changed, ("noise",)) != adapter_hashes(base, ("noise",))
    assert changed.adapter_names == base.adapter_names
    with pytest.raises(UserError, match=r"cannot replace adapter 'rain': '.*' has none; its adapters: noise, lowlight"):
        phases.add_adapter(trained / phases.MODEL_FILE, "rain", r, tmp_path / "x.safetensors", tmp_path / "x.train",
                           device="cpu", progress=False, replace=True)


# -- restoration losses --------------------------------------------------------------------------------
def test_psnr_loss_is_minus_the_mean_per_image_psnr():
    from abair.train.losses import get_loss, restoration_loss

    clean = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    restored = clean + noise * torch.tensor([0.003, 0.03, 0.2]).view(3, 1, 1, 1)  # ~50, ~30, ~14 dB (eps 1e-8: < 0.005 dB)
    per_image = [10 * math.log10(1.0 / float(((r.double() - c.double()) ** 2).mean())) for r, c in zip(restored, clean, strict=True)]
    loss = get_loss("psnr")(restored, clean)
    assert float(loss) == pytest.approx(-sum(per_image) / 3, abs=3e-3)
    # not the PSNR of the pooled MSE, which the worst image dominates
    pooled = 10 * math.log10(1.0 / float(((restored.double() - clean.double()) ** 2).mean()))
    assert abs(-float(loss) - pooled) > 5
    _, parts = restoration_loss("psnr", restored, clean)
    assert float(parts["psnr_db"]) == pytest.approx(sum(per_image) / 3, abs=3e-3)
    assert float(parts["l1"]) == pytest.approx(float((restored - clean).abs().mean()), rel=1e-6)


def test_l1_and_charbonnier_losses():
    from abair.train.losses import get_loss

    clean = torch.zeros(1, 1, 2, 2)
    restored = torch.tensor([[[[0.5, -0.5], [0.0, 0.1]]]])
    assert float(get_loss("l1")(restored, clean)) == pytest.approx(1.1 / 4)
    want = (2 * math.sqrt(0.25 + 1e-6) + 1e-3 + math.sqrt(0.01 + 1e-6)) / 4
    assert float(get_loss("charbonnier")(restored, clean)) == pytest.approx(want, rel=1e-6)
    with pytest.raises(UserError, match=r"unknown loss 'psnrr' \(did you mean 'psnr'\?\)"):
        get_loss("psnrr")


def test_recipe_loss_is_checked_and_reaches_phase2(tmp_path):
    from abair.model import build

    with pytest.raises(UserError, match=r"phase2\.per_adapter\.blur\.loss must be one of l1, charbonnier, psnr, got 'ssim'"):
        load_recipe("tiny", ["phase2.per_adapter={blur: {loss: ssim}}"])
    with pytest.raises(UserError, match=r"phase1\.loss must be one of l1, charbonnier, psnr, got 'l2'"):
        load_recipe("tiny", ["phase1.loss=l2"])
    r = recipe("phase2.per_adapter={rain: {steps: 2, loss: psnr}}")
    model = build("tiny", adapters=0)
    phases.train_adapter(model, "rain", r, tmp_path / "rain", device="cpu", progress=False)
    logged = [json.loads(line) for line in (tmp_path / "rain" / "log.jsonl").open()]
    assert all(rec["loss"] == pytest.approx(-rec["psnr_db"]) and rec["l1"] > 0 for rec in logged)
    model2 = build("tiny", adapters=0)
    phases.train_adapter(model2, "noise", r, tmp_path / "noise", device="cpu", progress=False)
    logged = [json.loads(line) for line in (tmp_path / "noise" / "log.jsonl").open()]
    assert all("psnr_db" not in rec and rec["loss"] == rec["l1"] for rec in logged)  # default: L1


def test_soft_clean_softens_targets_with_its_own_generator():
    from abair.degradations import apply
    from abair.train.data import CropSampler, batch_generator, quantise

    plain = SingleData(32, "blur", seed=3, params={"kind": "motion"}).batch(5, 0, 3)
    zero = SingleData(32, "blur", seed=3, params={"kind": "motion"}, soft_clean=0.0).batch(5, 0, 3)
    assert torch.equal(plain["clean"], zero["clean"]) and torch.equal(plain["degraded"], zero["degraded"])
    got = SingleData(32, "blur", seed=3, params={"kind": "motion"}, soft_clean=1.0, stream="rank").batch(5, 0, 3)
    gen = batch_generator(3, "phase2-blur", 0, 5)
    sharp = CropSampler(None, 32).sample(3, gen)
    draws = torch.rand(3, 2, generator=batch_generator(3, "phase2-blur-soft", 0, 5), dtype=torch.float64)
    radii = 0.5 + 1.5 * draws[:, 1]  # default U(0.5, 2) px
    soft = torch.stack([apply("blur", c, None, kind="defocus", radius=float(r)) for c, r in zip(sharp, radii, strict=True)])
    assert torch.equal(got["clean"], soft)
    assert torch.equal(got["degraded"], quantise(apply("blur", soft, gen, kind="motion")))  # same kernels
    assert (got["clean"] - sharp).abs().mean() > 0.005
    with pytest.raises(UserError, match=r"phase2\.per_adapter\.blur\.soft_clean must be in \[0, 1\], got 1\.5"):
        load_recipe("tiny", ["phase2.per_adapter={blur: {soft_clean: 1.5}}"])
    with pytest.raises(UserError, match=r"phase2\.per_adapter\.blur\.soft_radius must satisfy 0 < low <= high <= 50 "
                                        r"\(px\), got \[3\.0, 1\.0\]"):
        load_recipe("tiny", ["phase2.per_adapter={blur: {soft_radius: [3, 1]}}"])
    wide = SingleData(32, "blur", seed=3, params={"kind": "motion"}, soft_clean=1.0, soft_radius=[2.0, 4.0],
                      stream="rank").batch(5, 0, 3)
    radii = 2.0 + 2.0 * draws[:, 1]
    want = torch.stack([apply("blur", c, None, kind="defocus", radius=float(r)) for c, r in zip(sharp, radii, strict=True)])
    assert torch.equal(wide["clean"], want)
