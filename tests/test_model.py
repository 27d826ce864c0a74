"""The ABAIR model: adapters, blending modes, merging, checkpoints, counts, harness methods.

Everything runs on the ``tiny`` preset with 32x32 inputs; ``paper`` is counted on the meta device.
"""

from __future__ import annotations

import argparse
import json
import struct

import pytest
import torch
import torch.nn.functional as F

from abair.errors import UserError
from abair.model import checkpoint as ck
from abair.model.abair import ABAIR, DEGRADATION_CLASSES
from abair.model.adapters import AdapterSpec, Projection
from abair.model.presets import build, count_params

NAMES = DEGRADATION_CLASSES[:5]  # rain, haze, noise, blur, lowlight


def randomise_adapters(model: ABAIR, seed: int = 0, scale: float = 0.05) -> None:
    """Fresh LoRA adapters have B = 0 (a no-op); give every adapter tensor random values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in model.adapter_names:
            for p in model.adapter_parameters(name):
                p.copy_(torch.randn(p.shape, generator=g) * scale)


def make_model(seed: int = 0, adapters=5, adapter_type: str = "lora", rank: int = 4) -> ABAIR:
    torch.manual_seed(seed)
    model = build("tiny", adapters=adapters, adapter_type=adapter_type, rank=rank).eval()
    randomise_adapters(model, seed, scale=0.5 if adapter_type == "vera" else 0.05)
    return model


@pytest.fixture(scope="module")
def model() -> ABAIR:
    return make_model()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def fake_estimate(model: ABAIR, probs: torch.Tensor, monkeypatch) -> None:
    monkeypatch.setattr(model, "estimate", lambda inp: probs[: inp.shape[0]].to(inp.dtype))


# -- adapters in one projection: closed form ---------------------------------------------------
@pytest.mark.parametrize("kind", ["lora", "vera"])
def test_projection_blend_matches_dense_weight_per_image(kind):
    torch.manual_seed(0)
    proj = Projection(6, 10, bias=True, kind="qkv")
    specs = [AdapterSpec(name=n, type=kind, rank=r) for n, r in (("rain", 2), ("haze", 3), ("noise", 4))]
    for s in specs:
        proj.add_adapter(s, path="p")
    with torch.no_grad():
        for a in proj.adapters.values():
            for p in a.parameters():
                p.normal_()
    x = torch.randn(4, 6, 5, 7)
    w = torch.rand(4, 3)
    proj.state.names, proj.state.weights = tuple(s.name for s in specs), w
    got = proj(x)
    # independent computation: for image n, W_n = W + sum_k w[n, k] * dW_k with dW_k from the paper's formulas
    for n in range(4):
        dense = proj.weight[:, :, 0, 0].clone()
        for k, s in enumerate(specs):
            a = proj.adapters[s.name]
            if kind == "lora":
                dw = a.B @ a.A * s.scale
            else:
                dw = torch.diag(a.b) @ a.B @ torch.diag(a.d) @ a.A
            dense = dense + w[n, k] * dw
        want = torch.einsum("oi,ihw->ohw", dense, x[n]) + proj.bias[:, None, None]
        torch.testing.assert_close(got[n], want, rtol=1e-5, atol=1e-5)


def test_lora_parameter_count_is_rank_times_in_plus_out():
    proj = Projection(24, 72, bias=False, kind="qkv")
    proj.add_adapter(AdapterSpec(name="rain", rank=4), path="p")
    proj.add_adapter(AdapterSpec(name="haze", type="vera", rank=4), path="p")
    assert sum(p.numel() for p in proj.adapters["rain"].parameters()) == 4 * (24 + 72)
    assert sum(p.numel() for p in proj.adapters["haze"].parameters()) == 4 + 72


# -- merging ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lora", "vera"])
def test_merged_equals_unmerged_and_unmerge_is_exact(kind, x):
    model = make_model(adapter_type=kind)
    with torch.no_grad():
        base = model(x, mode="none")
        unmerged = model(x, mode="fixed:haze")
        weights_before = {k: v.clone() for k, v in model.state_dict().items()}
        model.merge("haze")
        merged = model(x, mode="fixed:haze")
        with pytest.raises(ValueError, match="unmerge"):
            model(x, mode="sw")
        model.unmerge()
        after = model(x, mode="none")
    assert (unmerged - base).abs().max() > 1e-3  # the adapter does something
    torch.testing.assert_close(merged, unmerged, rtol=0, atol=1e-5)
    assert torch.equal(after, base)
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights_before[k]), k


def test_oh_merged_path_equals_fixed_adapter_unmerged(model, x, monkeypatch):
    probs = torch.tensor([[0.1, 0.6, 0.1, 0.1, 0.1], [0.7, 0.1, 0.1, 0.05, 0.05], [0.1, 0.6, 0.1, 0.1, 0.1]])
    fake_estimate(model, probs, monkeypatch)
    merges = []
    real_merge = model.merge
    monkeypatch.setattr(model, "merge", lambda a: (merges.append(a), real_merge(a))[1])
    with torch.no_grad():
        oh = model(x, mode="oh")
        assert sorted(merges) == ["haze", "rain"]  # one merge per adapter present in the batch
        assert not model.merged
        for i, name in enumerate(["haze", "rain", "haze"]):
            single = model(x[i : i + 1], mode=f"fixed:{name}")
            torch.testing.assert_close(oh[i : i + 1], single, rtol=0, atol=1e-5)


def test_sw_with_one_hot_weights_equals_oh(model, x, monkeypatch):
    one_hot = F.one_hot(torch.tensor([3, 0, 4]), 5).float()
    fake_estimate(model, one_hot, monkeypatch)
    with torch.no_grad():
        sw = model(x, mode="sw")
        oh = model(x, mode="oh")
    torch.testing.assert_close(sw, oh, rtol=0, atol=1e-5)


def test_per_image_blend_in_a_batch_equals_each_image_alone(model, x):
    w = torch.rand(3, 5, generator=torch.Generator().manual_seed(3))
    with torch.no_grad(), model.set_blend(w):
        batch = model.backbone(x)
    for i in range(3):
        with torch.no_grad(), model.set_blend(w[i : i + 1]):
            alone = model.backbone(x[i : i + 1])
        torch.testing.assert_close(batch[i : i + 1], alone, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["lora", "vera"])
def test_sw_merged_per_image_equals_the_unmerged_blend_and_each_image_merged_alone(kind, x, monkeypatch):
    model = make_model(adapter_type=kind)
    probs = torch.softmax(torch.randn(3, 5, generator=torch.Generator().manual_seed(4)) * 2, dim=1)
    fake_estimate(model, probs, monkeypatch)
    with torch.no_grad():
        unmerged = model(x, mode="sw")
        batched = model(x, mode="sw", merged=True)
        alone = []
        for i in range(3):  # the reference: W + sum_k w_ik dW_k stored in the weights, one image at a time
            model.merge({name: float(probs[i, k]) for k, name in enumerate(NAMES)})
            with model.set_blend(None):
                alone.append(model.backbone(x[i : i + 1]))
            model.unmerge()
        assert not model._state.per_image_merge  # the flag does not outlive the call
        none = model(x, mode="none")
    assert (unmerged - none).abs().max() > 1e-3
    torch.testing.assert_close(batched, unmerged, rtol=0, atol=1e-5)
    torch.testing.assert_close(batched, torch.cat(alone), rtol=0, atol=1e-5)


def test_merge_with_coefficients_equals_the_dense_sum():
    torch.manual_seed(0)
    proj = Projection(6, 10, bias=False, kind="qkv")
    for name in ("rain", "haze"):
        proj.add_adapter(AdapterSpec(name=name, rank=3), name)
        with torch.no_grad():
            proj.adapters[name].B.normal_()
    proj.merge({"rain": 0.25, "haze": -1.5, "noise": 2.0})  # an adapter this projection lacks is ignored
    want = proj.weight[:, :, 0, 0].clone()
    for name, c in (("rain", 0.25), ("haze", -1.5)):
        a = proj.adapters[name]
        want += c * a.scale * (a.B @ a.A)
    torch.testing.assert_close(proj._merged_weight[:, :, 0, 0], want, rtol=0, atol=1e-6)
    proj.merge({"rain": 0.0})
    assert torch.equal(proj._merged_weight, proj.weight)


def test_blending_modes_closed_forms(model, x):
    with torch.no_grad():
        avg = model(x, mode="avg", merged=False)
        with model.set_blend(torch.full((3, 5), 0.2)):
            want_avg = model.backbone(x)
        summed = model(x, mode="sum", merged=False)
        with model.set_blend(torch.ones(3, 5)):
            want_sum = model.backbone(x)
        oracle = model(x, mode="oracle", task_adapters=[("blur", "noise"), "rain", ("haze",)], merged=False)
        w = torch.zeros(3, 5)
        w[0, NAMES.index("blur")] = w[0, NAMES.index("noise")] = 0.5
        w[1, 0] = w[2, 1] = 1.0
        with model.set_blend(w):
            want_oracle = model.backbone(x)
    assert torch.equal(avg, want_avg) and torch.equal(summed, want_sum) and torch.equal(oracle, want_oracle)
    assert (avg - summed).abs().max() > 1e-3
    with torch.no_grad():  # CPU inference default: each image's blend merged into the weights
        for mode, want in (("avg", want_avg), ("sum", want_sum)):
            torch.testing.assert_close(model(x, mode=mode), want, rtol=1e-5, atol=1e-5)
        merged_oracle = model(x, mode="oracle", task_adapters=[("blur", "noise"), "rain", ("haze",)])
        torch.testing.assert_close(merged_oracle, want_oracle, rtol=1e-5, atol=1e-5)


def test_conv_lora_cannot_merge_and_oh_falls_back_to_unmerged(x, monkeypatch):
    model = make_model(adapters=2, adapter_type="conv-lora")
    with pytest.raises(ValueError, match="cannot be merged"):
        model.merge("rain")
    fake_estimate(model, torch.tensor([[0.2, 0.8], [0.9, 0.1], [0.3, 0.7]]), monkeypatch)
    with torch.no_grad():
        oh = model(x, mode="oh")
        for i, name in enumerate(["haze", "rain", "haze"]):
            torch.testing.assert_close(oh[i : i + 1], model(x[i : i + 1], mode=f"fixed:{name}"), rtol=0, atol=1e-5)


# -- training-facing API -----------------------------------------------------------------------
def test_frozen_backbone_only_adapter_parameters_get_gradients(x):
    model = make_model()
    model.freeze_backbone()
    out = model(x[:2], mode="fixed:noise")
    F.l1_loss(out, x[:2]).backward()
    noise_params = {id(p) for p in model.adapter_parameters("noise")}
    with_grad = [n for n, p in model.named_parameters() if p.grad is not None]
    assert with_grad and all(id(model.get_parameter(n)) in noise_params for n in with_grad)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.adapter_parameters("noise"))
    assert all(not p.requires_grad for p in model.backbone_parameters())


def test_adding_and_removing_adapters_leaves_other_tensors_unchanged():
    model = make_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.add_adapter("snow", type="lora", rank=8)
    model.add_adapter("jpeg", type="vera", rank=4)
    after = model.state_dict()
    assert set(before) < set(after)
    assert all(torch.equal(after[k], v) for k, v in before.items())
    model.remove_adapter("snow")
    model.remove_adapter("jpeg")
    model.remove_adapter("rain")
    final = model.state_dict()
    assert set(final) == {k for k in before if ".adapters.rain." not in k}
    assert all(torch.equal(final[k], before[k]) for k in final)
    assert model.adapter_names == ("haze", "noise", "blur", "lowlight")


def test_estimator_must_match_the_adapters(x):
    model = make_model()
    model.add_adapter("snow")
    with pytest.raises(UserError, match=r"the estimator scores adapters \(rain, haze, noise, blur, lowlight\) but "
                       r"the model has \(rain, haze, noise, blur, lowlight, snow\); retrain the estimator"):
        model(x, mode="sw")
    model.reset_estimator()
    probs = model.estimate(x)
    assert probs.shape == (3, 6)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(3))


def test_input_checks_and_oracle_errors(model):
    with pytest.raises(UserError, match="ABAIR needs H and W to be multiples of 8 .* got 30x32"):
        model(torch.rand(1, 3, 30, 32), mode="none")
    with pytest.raises(UserError, match="no adapter for degradation 'rian' in this model \\(did you mean 'rain'\\?\\)"):
        model(torch.rand(1, 3, 32, 32), mode="oracle", task_adapters="rian")
    with pytest.raises(UserError, match="unknown blending mode 'soft'"):
        model(torch.rand(1, 3, 32, 32), mode="soft")


def test_segmentation_head_phase_one_only(x, tmp_path):
    torch.manual_seed(0)
    model = build("tiny", seghead=True)
    restored, logits = model.pretrain_forward(x)
    assert restored.shape == x.shape and logits.shape == (3, 1 + len(DEGRADATION_CLASSES), 32, 32)
    path = ck.save(model, tmp_path / "m.safetensors")
    assert not any(k.startswith("seghead.") for k in _keys(path))
    assert ck.load(path).seghead is None
    path2 = ck.save(model, tmp_path / "m2.safetensors", include_seghead=True)
    loaded = ck.load(path2)
    assert torch.equal(loaded.seghead.net[0].weight, model.seghead.net[0].weight)


def _keys(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return list(f.keys())


# -- checkpoints -------------------------------------------------------------------------------
def test_checkpoint_round_trip_is_exact(x, tmp_path):
    model = make_model()
    model.add_adapter("jpeg", type="vera", rank=4)
    model.add_adapter("snow", type="conv-lora", rank=2)
    randomise_adapters(model, seed=5)
    model.reset_estimator()
    path = ck.save(model, tmp_path / "abair.safetensors")
    loaded = ck.load(path, preset="tiny")
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert loaded.adapter_specs == model.adapter_specs
    with torch.no_grad():
        for mode in ("none", "sw", "oh", "fixed:snow", "avg"):
            assert torch.equal(model(x, mode=mode), loaded(x, mode=mode)), mode
    config = ck.read_config(path)
    assert config["format_version"] == 1 and config["model"]["class_order"] == list(DEGRADATION_CLASSES)
    assert [a["name"] for a in config["adapters"]] == [*NAMES, "jpeg", "snow"]


def test_single_adapter_shipped_alone_gives_the_same_output(x, tmp_path):
    model = make_model()
    full = ck.save(model, tmp_path / "full.safetensors")
    adapter_file = ck.save_adapter(model, "blur", tmp_path / "blur.safetensors")
    other = ck.load(full)
    other.remove_adapter("blur")
    assert ck.load_adapter(other, adapter_file, name="blur-v2") == "blur-v2"
    with torch.no_grad():
        assert torch.equal(other(x, mode="fixed:blur-v2"), model(x, mode="fixed:blur"))
    # an adapter trained on other backbone weights is refused
    stranger = make_model(seed=9)
    with pytest.raises(UserError, match="was trained on different backbone weights"):
        ck.load_adapter(stranger, adapter_file)
    assert "blur" in stranger.adapter_names and len(stranger.adapter_names) == 5  # nothing half-added
    with pytest.raises(UserError, match="holds a single adapter \\(blur\\), not a model"):
        ck.load(adapter_file)


def test_replacing_an_adapter_keeps_its_place_and_the_estimator(x, tmp_path):
    model = make_model()
    retrained = ck.load(ck.save(model, tmp_path / "full.safetensors"))
    retrained.remove_adapter("noise")
    retrained.add_adapter(AdapterSpec(name="noise", rank=8))  # e.g. retrained at another rank
    randomise_adapters(retrained, seed=5)
    new_noise = ck.save_adapter(retrained, "noise", tmp_path / "noise-r8.safetensors")
    estimator = {k: v.clone() for k, v in model.estimator.state_dict().items()}
    assert ck.load_adapter(model, new_noise, replace=True) == "noise"
    assert model.adapter_names == NAMES and model.adapter_specs["noise"].rank == 8
    assert all(torch.equal(v, estimator[k]) for k, v in model.estimator.state_dict().items())
    with torch.no_grad():
        assert torch.equal(model(x, mode="fixed:noise"), retrained(x, mode="fixed:noise"))
        assert model(x, mode="sw").shape == x.shape  # the estimator still scores the same names
    with pytest.raises(UserError, match="already has an adapter 'noise'"):
        ck.load_adapter(model, new_noise)


def test_checkpoint_errors_are_one_clear_line(tmp_path):
    from safetensors.torch import save_file

    model = make_model()
    good = ck.save(model, tmp_path / "good.safetensors")
    data = good.read_bytes()

    missing_file = tmp_path / "nope.safetensors"
    with pytest.raises(UserError) as e:
        ck.load(missing_file)
    assert str(e.value) == f"checkpoint '{missing_file}' does not exist"

    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=rf"^checkpoint '{truncated}' is truncated or corrupt \(.*\); re-save or re-download it$"):
        ck.load(truncated)

    header_cut = tmp_path / "header.safetensors"
    header_cut.write_bytes(data[:100])
    with pytest.raises(UserError, match=rf"^checkpoint '{header_cut}' is truncated or corrupt"):
        ck.load(header_cut)

    with pytest.raises(UserError) as e:
        ck.load(good, preset="paper")
    assert str(e.value) == (f"checkpoint '{good}' holds preset 'tiny' but preset 'paper' was asked; "
                            "pass a matching checkpoint or drop the preset")

    config = ck.read_config(good)
    tensors = ck._read_tensors(good, "cpu")
    dropped = "backbone.latent.0.attn.qkv.weight"
    del tensors[dropped]
    missing_key = tmp_path / "missing.safetensors"
    save_file(tensors, str(missing_key), metadata={"abair": json.dumps(config)})
    with pytest.raises(UserError) as e:
        ck.load(missing_key)
    assert str(e.value) == (f"checkpoint '{missing_key}' does not match the model its config describes: "
                            f"missing 1 tensor(s) ({dropped})")

    tensors = ck._read_tensors(good, "cpu")
    tensors["backbone.embed.weight"] = torch.zeros(5, 3, 3, 3)
    tensors["extra.thing"] = torch.zeros(1)
    bad_shape = tmp_path / "shape.safetensors"
    save_file(tensors, str(bad_shape), metadata={"abair": json.dumps(config)})
    with pytest.raises(UserError, match="unexpected 1 tensor\\(s\\) \\(extra.thing\\)"):
        ck.load(bad_shape)
    del tensors["extra.thing"]
    save_file(tensors, str(bad_shape), metadata={"abair": json.dumps(config)})
    with pytest.raises(UserError) as e:
        ck.load(bad_shape)
    assert str(e.value) == (f"checkpoint '{bad_shape}': tensor 'backbone.embed.weight' has shape [5, 3, 3, 3] "
                            "but the model its config describes expects [12, 3, 3, 3]")

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(UserError) as e:
        ck.load(foreign)
    assert str(e.value) == (f"'{foreign}' is not an ABAIR checkpoint (its safetensors header has no 'abair' "
                            "config); pass a file written by abair-bench")

    future = tmp_path / "future.safetensors"
    save_file({"w": torch.zeros(2)}, str(future), metadata={"abair": json.dumps({**config, "format_version": 7})})
    with pytest.raises(UserError, match="has format version 7, this abair-bench reads version 1"):
        ck.load(future)

    pickle_file = tmp_path / "model.pth"
    pickle_file.write_bytes(b"\x80\x04\x95" + struct.pack("<Q", 10) + b"junk")
    with pytest.raises(UserError, match="is not an ABAIR checkpoint: it is a Python pickle, and ABAIR checkpoints "
                                        "are safetensors files"):
        ck.load(pickle_file)


# -- parameter counts ----------------------------------------------------------------------------
def test_paper_parameter_counts_match_the_paper():
    lora4 = count_params("paper", 5, "lora", 4)
    assert abs(lora4["total_params"] - 59e6) <= 0.10 * 59e6
    for rank, paper in ((4, 3.6e6), (8, 7.2e6), (16, 14.3e6)):
        counts = lora4 if rank == 4 else count_params("paper", 5, "lora", rank)
        assert abs(counts["adapter_params"] - paper) <= 0.15 * paper, (rank, counts["adapter_params"])
    vera = count_params("paper", 5, "vera", 4)
    assert vera["adapter_params"] < 0.2 * lora4["adapter_params"]
    assert vera["backbone_params"] == lora4["backbone_params"]
    # closed form: a rank-r LoRA adapter has r * (in + out) per adapted projection
    with torch.device("meta"):
        m = build("paper", adapters=0, device="meta")
    per_adapter = sum(4 * (p.in_ch + p.out_ch) for p in m.modules()
                      if isinstance(p, Projection) and p.kind in ("qkv", "attn_out", "ffn_in", "ffn_out"))
    assert lora4["per_adapter_params"] == dict.fromkeys(NAMES, per_adapter)


def test_tiny_is_under_one_million_parameters():
    counts = count_params("tiny")
    assert counts["total_params"] < 1_000_000
    assert counts["total_params"] == counts["backbone_params"] + counts["adapter_params"] + counts["estimator_params"]


def test_model_info_command_prints_the_counts(capsys):
    from bench.commands import model as model_cmd

    parser = argparse.ArgumentParser()
    model_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["model", "info", "--preset", "paper", "--rank", "8", "--json"])
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(count_params("paper", 5, "lora", 8)))
    for key in ("total_params", "backbone_params", "adapter_params", "per_adapter_params", "estimator_params",
                "seghead_params"):
        assert key in printed


# -- harness methods -----------------------------------------------------------------------------
def test_harness_methods_need_a_checkpoint_when_none_is_embedded():
    from bench.abair_methods import embedded_default, make_sw

    if embedded_default() is not None:  # pragma: no cover - once the default is trained and shipped
        pytest.skip("an embedded default checkpoint is installed")
    with pytest.raises(UserError) as e:
        make_sw()
    assert str(e.value) == ("abair-sw: no checkpoint given and no embedded default checkpoint is installed; "
                            "pass --checkpoint PATH (train one with 'abair-bench train')")


def test_harness_methods_restore_like_the_model(x, tmp_path):
    from baselines.base import RestoreContext
    from bench.abair_methods import make_backbone, make_oh, make_oracle
    from bench.methods import METHODS, factory_accepts

    model = make_model()
    path = ck.save(model, tmp_path / "m.safetensors")
    ctx = RestoreContext("mixed-blur-noise", "mixed", ("a", "b", "c"), ("blur", "noise"))
    oracle = make_oracle(checkpoint=str(path), preset="tiny")
    assert oracle.multiple_of == 8 and oracle.max_batch >= 1
    with torch.no_grad():
        want = model(x, mode="oracle", task_adapters=("blur", "noise"))
        assert torch.equal(oracle.restore(x, ctx), want)
        assert torch.equal(make_oh(checkpoint=str(path)).restore(x, ctx), model(x, mode="oh"))
        assert torch.equal(make_backbone(checkpoint=str(path)).restore(x, ctx), model(x, mode="none"))
    cfg = oracle.config()
    assert cfg["mode"] == "oracle" and cfg["preset"] == "tiny" and len(cfg["checkpoint_sha256"]) == 64
    with pytest.raises(UserError, match="has no adapter for snow"):
        oracle.restore(x, RestoreContext("snow100k", "desnow", ("a",), ("snow",)))
    for name in ("abair-oh", "abair-sw", "abair-oracle", "abair-sum", "abair-avg", "abair-backbone"):
        assert name in METHODS and factory_accepts(name, "checkpoint")


# -- all presets at 256x256 ----------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("preset", ["tiny", "small", "paper"])
def test_forward_of_every_preset_at_256_on_cpu(preset):
    """In a process of its own, whose peak is the forward's (the paper preset's SW pass holds ~1.2 GB)."""
    from isolated import run_isolated

    result = run_isolated(
        "import torch\n"
        "from abair.model.presets import build\n"
        "torch.manual_seed(0)\n"
        f"model = build({preset!r}).eval()\n"
        "x = torch.rand(1, 3, 256, 256)\n"
        "result = {}\n"
        "with torch.inference_mode():\n"
        "    for mode in ('sw', 'oh'):\n"
        "        out = model(x, mode=mode)\n"
        "        result[mode] = [list(out.shape), bool(torch.isfinite(out).all())]\n")
    for mode in ("sw", "oh"):
        assert result[mode] == [[1, 3, 256, 256], True], (mode, result[mode])
    assert result["peak_gib"] < 24


def test_oh_fast_path_on_a_mixed_model_merges_lora_and_runs_conv_lora_alone(monkeypatch):
    """A model with a Conv-LoRA adapter beside LoRA ones: OH's fast path equals the unmerged OH
    output; the Conv-LoRA branch runs only for the images that chose it, and the LoRA groups run
    with their adapter merged (no side branch)."""
    from abair.model.adapters import AdapterSpec, ConvLoRA, LoRA, Projection

    torch.manual_seed(0)
    model = build("tiny", adapters=0)
    for name, kind in (("rain", "lora"), ("haze", "lora"), ("blur", "conv-lora")):
        model.add_adapter(AdapterSpec(name=name, type=kind, rank=4))
    for m in model.modules():
        if isinstance(m, LoRA | ConvLoRA):
            for p in m.parameters():
                torch.nn.init.normal_(p, std=0.05)
    model.eval()
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    choice = torch.tensor([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])  # rain, blur, haze
    monkeypatch.setattr(model, "blend_weights", lambda x, mode, task_adapters=None: choice)
    with torch.no_grad():
        slow = model(x, "oh", merged=False)
        delta_batches, branch_names = [], []
        real_bottleneck, real_forward = ConvLoRA.bottleneck, Projection.forward

        def bottleneck(self, inp):
            delta_batches.append(inp.shape[0])
            return real_bottleneck(self, inp)

        def forward(self, inp, parts=1):
            if self.state.weights is not None and self.adapters:
                branch_names.append(tuple(self.state.names))
            return real_forward(self, inp, parts)

        monkeypatch.setattr(ConvLoRA, "bottleneck", bottleneck)
        monkeypatch.setattr(Projection, "forward", forward)
        fast = model(x, "oh", merged=True)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    assert delta_batches and set(delta_batches) == {1}  # only the blur image, once per host
    assert set(branch_names) == {("blur",)}  # no LoRA branch: rain and haze ran merged
