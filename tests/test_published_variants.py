"""MPRNet, Uformer and X-Restormer load their authors' released checkpoint formats strictly.

For each architecture a randomly initialised model is saved in the authors' exact file format
(MPRNet and Uformer: ``{"epoch", "state_dict", "optimizer"}`` from their training scripts, keys with
DataParallel's ``module.``; X-Restormer: BasicSR ``{"params": ...}``), loaded through the registered
method (``mprnet:derain``, ``uformer``, ``x-restormer:deblur``, ...) and must give bit-identical
outputs through the method's own test pipeline. Parameter counts of the released configurations
pin the key layouts (the forwards were compared with the authors' code on random weights outside
the repository; docs/BASELINES.md reports the differences). Small configurations keep it fast.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F

from abair.errors import UserError
from baselines.base import RestoreContext
from baselines.published.mprnet.method import make as make_mprnet
from baselines.published.uformer.arch import UFORMER_SIZES, Uformer, crop_from_square, expand_to_square
from baselines.published.uformer.method import make as make_uformer
from baselines.published.x_restormer.arch import XRestormer
from baselines.published.x_restormer.method import make as make_xrestormer
from bench.methods import create_method, list_methods, record_name
from bench.padding import restore_padded
from port_helpers import count as _count
from port_helpers import image as _image
from port_helpers import randomised as _randomised

CTX = RestoreContext(dataset="unit", task="mixed", image_ids=("a",))
HAS_MPRNET = importlib.util.find_spec("spandrel_extra_arches") is not None
needs_mprnet = pytest.mark.skipif(not HAS_MPRNET, reason="spandrel-extra-arches not installed (pip install 'abair-bench[spandrel]')")

SMALL_UFORMER = {"embed_dim": 8, "depths": (2,) * 9, "num_heads": (1, 1, 2, 2, 2, 2, 2, 1, 1), "win_size": 4,
                 "img_size": 64}
SMALL_XRESTORMER = {"dim": 8, "num_blocks": (1, 1, 1, 1), "num_refinement_blocks": 1, "channel_heads": (1, 1, 2, 2),
                    "spatial_heads": (1, 1, 2, 2), "window_size": 4, "spatial_dim_head": 4}






def _adam_state(model: torch.nn.Module) -> dict:
    """What ``optimizer.state_dict()`` of the authors' Adam looks like (tensors and primitives only)."""
    params = list(model.parameters())[:2]
    return {"state": {i: {"step": torch.tensor(10.0), "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
                      for i, p in enumerate(params)},
            "param_groups": [{"lr": 2e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False,
                              "initial_lr": 2e-4, "params": [0, 1]}]}


def _save_training_pth(path, model, data_parallel: bool = True) -> None:
    """MPRNet's / Uformer's ``torch.save({'epoch', 'state_dict', 'optimizer'})`` (DataParallel keys)."""
    prefix = "module." if data_parallel else ""
    torch.save({"epoch": 3000, "state_dict": {prefix + k: v for k, v in model.state_dict().items()},
                "optimizer": _adam_state(model)}, path)


def _save_basicsr(path, model, ema: bool = False) -> None:
    sd = model.state_dict()
    torch.save({"params": sd, **({"params_ema": {k: v + 1 for k, v in sd.items()}} if ema else {})}, path)




def _meta_shapes(cls, **kwargs) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = cls(**kwargs)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


# ----------------------------------------------------------------------------- released configurations


def test_uformer_parameter_counts():
    # Uformer paper: B 50.88M (with the modulator); S 20.63M and T 5.23M counted without it
    assert _count(Uformer) == 50_880_946
    assert _count(Uformer, **UFORMER_SIZES["Uformer-S"]) == 20_751_197
    assert _count(Uformer, **UFORMER_SIZES["Uformer-T"]) == 5_291_853
    assert _count(Uformer, **UFORMER_SIZES["Uformer-S"], modulator=False) == 20_628_317
    assert _count(Uformer, **UFORMER_SIZES["Uformer-T"], modulator=False) == 5_230_413


def test_uformer_b_key_layout():
    shapes = _meta_shapes(Uformer)
    assert len(shapes) == 759
    assert shapes["input_proj.proj.0.weight"] == (32, 3, 3, 3)
    assert shapes["encoderlayer_0.blocks.0.attn.relative_position_bias_table"] == (225, 1)
    assert shapes["encoderlayer_0.blocks.0.attn.relative_position_index"] == (64, 64)
    assert shapes["encoderlayer_3.blocks.7.attn.qkv.to_kv.weight"] == (512, 256)
    assert shapes["encoderlayer_0.blocks.0.mlp.dwconv.0.weight"] == (128, 1, 3, 3)
    assert shapes["dowsample_0.conv.0.weight"] == (64, 32, 4, 4)
    assert shapes["conv.blocks.1.attn.relative_position_bias_table"] == (225, 16)
    assert shapes["upsample_0.deconv.0.weight"] == (512, 256, 2, 2)
    assert shapes["upsample_3.deconv.0.weight"] == (128, 32, 2, 2)
    assert shapes["decoderlayer_0.blocks.0.modulator.weight"] == (64, 512)
    assert shapes["decoderlayer_3.blocks.0.mlp.linear2.0.weight"] == (64, 256)
    assert shapes["output_proj.proj.0.weight"] == (3, 64, 3, 3)
    assert not any(k.startswith(("encoderlayer", "conv.")) and "modulator" in k for k in shapes)


def test_uformer_index_buffer_is_the_released_one():
    """The relative-position index is stored in the released files: it must be the authors' layout."""
    index = Uformer(**SMALL_UFORMER).encoderlayer_0.blocks[0].attn.relative_position_index
    win = 4
    for q, k in ((0, 0), (0, 15), (5, 10), (15, 0)):
        dy, dx = q // win - k // win + win - 1, q % win - k % win + win - 1
        assert index[q, k] == dy * (2 * win - 1) + dx


def test_xrestormer_parameter_count_and_layout():
    assert _count(XRestormer) == 26_041_208
    shapes = _meta_shapes(XRestormer)
    assert len(shapes) == 626
    assert shapes["encoder_level1.0.spatial_attn.rel_pos_emb.rel_height"] == (23, 16)
    assert shapes["encoder_level1.0.spatial_attn.qkv.weight"] == (48, 48, 1, 1)
    assert shapes["latent.3.spatial_attn.project_out.weight"] == (384, 128, 1, 1)
    assert shapes["latent.3.channel_attn.temperature"] == (8, 1, 1)
    assert shapes["decoder_level1.1.norm4.body.bias"] == (96,)
    assert shapes["refinement.3.spatial_ffn.project_out.weight"] == (96, 255, 1, 1)


@needs_mprnet
def test_mprnet_parameter_counts():
    from baselines.published.mprnet.arch import MPRNET_DEFAULTS, MPRNET_VARIANTS, build_mprnet

    counts = {}
    for name, widths in MPRNET_VARIANTS.items():
        with torch.device("meta"):
            counts[name] = sum(p.numel() for p in build_mprnet(**{**MPRNET_DEFAULTS, **widths}).parameters())
    assert counts == {"deblur": 20_127_073, "derain": 3_637_249, "denoise": 15_741_025}


# ----------------------------------------------------------------------------- official formats round trip


@needs_mprnet
def test_mprnet_training_pth_round_trip(tmp_path):
    from baselines.published.mprnet.arch import MPRNET_DEFAULTS, MPRNET_VARIANTS, build_mprnet

    torch.manual_seed(0)
    model = _randomised(build_mprnet(**{**MPRNET_DEFAULTS, **MPRNET_VARIANTS["derain"]}), scale=0.01)
    path = tmp_path / "model_deraining.pth"
    _save_training_pth(path, model)
    method = create_method("mprnet:derain", checkpoint=str(path))
    assert method.name == "mprnet:derain" and method.multiple_of == 8
    x = _image(21, 30)  # not a multiple of 8: the harness reflect-pads as demo.py does
    with torch.no_grad():
        expected = model(F.pad(x, (0, 2, 0, 3), mode="reflect"))[0][..., :21, :30]
    assert torch.equal(restore_padded(method, x, CTX), expected)
    cfg = method.config()
    assert cfg["variant"] == "derain" and cfg["released_file"] == "model_deraining.pth" and cfg["tasks"] == ["derain"]
    assert cfg["arch_config"]["n_feat"] == 40 and cfg["pipeline"]["self_ensemble"] is False
    # without a variant any width is accepted; the record names the method alone
    plain = make_mprnet(checkpoint=str(path))
    assert plain.name == "mprnet" and plain.config()["widths_match"] == "derain"
    # the wrong variant names the right one
    with pytest.raises(UserError) as err:
        create_method("mprnet:deblur", checkpoint=str(path))
    assert str(err.value) == (f"checkpoint {path.resolve()} is not MPRNet's deblur model (n_feat 40, scale_unetfeats 20, "
                              "scale_orsnetfeats 16; it is the derain model: use --methods mprnet:derain)")


def test_uformer_training_pth_round_trip(tmp_path):
    torch.manual_seed(0)
    model = _randomised(Uformer(**SMALL_UFORMER))
    path = tmp_path / "Uformer_small.pth"
    _save_training_pth(path, model)
    method = create_method("uformer", checkpoint=str(path), img_size=64)
    assert method.name == "uformer" and method.multiple_of == 1
    cfg = method.config()
    assert cfg["arch_config"]["win_size"] == 4 and cfg["arch_config"]["num_heads"] == [1, 1, 2, 2, 2, 2, 2, 1, 1]
    assert cfg["size"] is None and cfg["pipeline"]["pad"].startswith("zeros, centred")
    x = _image(37, 50)
    with torch.no_grad():
        # the authors' expand2square: zeros, centred, square of side 64 (16 * win)
        square = torch.zeros(1, 3, 64, 64)
        square[:, :, 13:50, 7:57] = x
        expected = model(square)[:, :, 13:50, 7:57]
    out = restore_padded(method, x, CTX)
    assert torch.equal(out, expected)
    # the shifted windows are exercised: the shift changes the output
    model.encoderlayer_0.blocks[1].shift = 0
    with torch.no_grad():
        assert (model(square)[:, :, 13:50, 7:57] - expected).abs().max() > 1e-4


def test_uformer_square_padding_round_trip():
    x = _image(37, 50)
    square, offsets = expand_to_square(x, 64)
    assert square.shape[-2:] == (64, 64) and offsets == (13, 7)
    assert torch.equal(crop_from_square(square, offsets, (37, 50)), x)
    assert torch.count_nonzero(square) == torch.count_nonzero(x)  # zeros everywhere else
    assert expand_to_square(_image(128, 129), 128)[0].shape[-2:] == (256, 256)


def test_uformer_variant_refuses_other_sizes(tmp_path):
    path = tmp_path / "small.pth"
    _save_training_pth(path, Uformer(**SMALL_UFORMER), data_parallel=False)
    with pytest.raises(UserError) as err:
        make_uformer("denoise", checkpoint=str(path))
    assert str(err.value) == (f"checkpoint {path.resolve()} is not a named Uformer size but uformer:denoise is the "
                              "released Uformer-B (Uformer_B_SIDD.pth); run it as --methods uformer")
    with pytest.raises(UserError, match=r"^uformer\.img_size must be an integer of at least 16, got 0$"):
        make_uformer(checkpoint=str(path), img_size=0)


def test_xrestormer_basicsr_round_trip(tmp_path):
    torch.manual_seed(0)
    model = _randomised(XRestormer(**SMALL_XRESTORMER))
    path = tmp_path / "deblur_300k.pth"
    _save_basicsr(path, model, ema=True)  # 'params' is read, as the authors' test options do
    method = create_method("x-restormer:deblur", checkpoint=str(path))
    assert method.name == "x-restormer:deblur" and method.multiple_of == 32
    x = _image(40, 27)
    with torch.no_grad():
        expected = model(F.pad(x, (0, 5, 0, 24), mode="reflect"))[..., :40, :27]
    assert torch.equal(restore_padded(method, x, CTX), expected)
    cfg = method.config()
    assert cfg["arch_config"]["spatial_heads"] == [1, 1, 2, 2] and cfg["arch_config"]["overlap_ratio"] == [0.5] * 4
    assert cfg["variant"] == "deblur" and cfg["released_file"] == "deblur_300k.pth"


def test_xrestormer_relative_positions_and_overlap_matter():
    """The decomposed relative-position term and the overlapping keys both change the output."""
    torch.manual_seed(0)
    model = _randomised(XRestormer(**SMALL_XRESTORMER), scale=0.2)
    x = _image(32, 32)
    with torch.no_grad():
        base = model(x)
        attn = model.encoder_level1[0].spatial_attn
        attn.rel_pos_emb.rel_width.zero_()
        assert (model(x) - base).abs().max() > 1e-5


def test_wrong_architecture_names_the_right_method(tmp_path):
    uformer = tmp_path / "Uformer_B_SIDD.pth"
    _save_training_pth(uformer, Uformer(**SMALL_UFORMER))
    with pytest.raises(UserError) as err:
        make_xrestormer(checkpoint=str(uformer))
    msg = str(err.value)
    assert msg.startswith(f"checkpoint {uformer.resolve()} is not an X-Restormer checkpoint: ") and "\n" not in msg
    assert msg.endswith("(it looks like a Uformer checkpoint: use --methods uformer)")

    xr = tmp_path / "derain_155k.pth"
    _save_basicsr(xr, XRestormer(**SMALL_XRESTORMER))
    with pytest.raises(UserError) as err:
        create_method("restormer", checkpoint=str(xr))
    assert str(err.value).endswith("(it looks like an X-Restormer checkpoint: use --methods x-restormer)")
    if HAS_MPRNET:
        with pytest.raises(UserError) as err:
            make_mprnet(checkpoint=str(xr))
        assert str(err.value).startswith(f"checkpoint {xr.resolve()} is not an MPRNet checkpoint: ")
        assert str(err.value).endswith("(it looks like an X-Restormer checkpoint: use --methods x-restormer)")


def test_broken_files_are_one_line(tmp_path):
    good = tmp_path / "good.pth"
    _save_training_pth(good, Uformer(**SMALL_UFORMER))
    truncated = tmp_path / "Uformer_B_GoPro.pth"
    truncated.write_bytes(good.read_bytes()[:4000])
    with pytest.raises(UserError, match=r"is truncated or corrupt: its zip archive cannot be read \(4000 bytes\); "
                                        r"download it again$"):
        make_uformer("deblur", checkpoint=str(truncated))
    text = tmp_path / "deblur_300k.pth"
    text.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 104857600\n")
    with pytest.raises(UserError) as err:
        make_xrestormer("deblur", checkpoint=str(text))
    assert str(err.value).startswith(f"checkpoint {text.resolve()} is not a checkpoint but ")
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match=r"^method 'mprnet:denoise' needs the authors' weights: pass "
                                        r"--method-arg mprnet:denoise\.checkpoint=PATH \(the release file "
                                        r"model_denoising\.pth; "):
        create_method("mprnet:denoise")


def test_unknown_variant_and_record_names():
    with pytest.raises(UserError) as err:
        create_method("x-restormer:derian", checkpoint="/nowhere.pth")
    assert str(err.value) == ("'x-restormer:derian' is not a variant of x-restormer (did you mean 'derain'?); its "
                              "variants: x-restormer:denoise, x-restormer:deblur, x-restormer:derain, x-restormer:dehaze")
    assert record_name("mprnet:deblur") == "mprnet:deblur"
    assert record_name("uformer") == "uformer"
    assert record_name("x-restormer:sr") is None  # the x4 model is no variant: creating it says why


@needs_mprnet
def test_missing_spandrel_extra_arches_is_one_line(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "spandrel_extra_arches.architectures.MPRNet", None)
    path = tmp_path / "model_deblurring.pth"
    path.write_bytes(b"")
    torch.save({"state_dict": {"shallow_feat1.0.weight": torch.zeros(96, 3, 3, 3)}}, path)
    with pytest.raises(UserError, match=r"^MPRNet runs on the spandrel-extra-arches package, which is not installed: "
                                        r"pip install 'abair-bench\[spandrel\]'$"):
        make_mprnet("deblur", checkpoint=str(path))


# ----------------------------------------------------------------------------- listings and profiling


def test_methods_list_and_info(capsys):
    from bench.cli import main

    rows = {r["name"]: r for r in list_methods()}
    assert rows["mprnet:deblur"]["task"] == "deblur" and rows["mprnet:deblur"]["tables"] == "2"
    assert rows["x-restormer"]["task"] == "denoise/deblur/derain/dehaze" and rows["x-restormer"]["tables"] == "1,3,4,5"
    assert rows["restormer"]["tables"] == "1,2,3,4,5" and rows["uformer:denoise"]["needs"] == "weights: Uformer_B_SIDD.pth"
    assert main(["methods", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("DiffUIR", "DA-CLIP", "DL (tables 2)"):
        assert name in out
    assert main(["methods", "info", "uformer"]) == 0
    out = capsys.readouterr().out
    assert "Uformer-B 50,880,946" in out and "Uformer_B_GoPro.pth: deblur -> uformer:deblur" in out
    assert "forward checked against: model.py of ZhendongWang6/Uformer" in out
    assert main(["methods", "info", "DL"]) == 0
    assert "not runnable here: no weights for the all-in-one setting" in capsys.readouterr().out
    assert main(["methods", "info", "mprnett"]) == 2
    err = capsys.readouterr().err
    assert err == "abair-bench: error: unknown method 'mprnett' (did you mean 'mprnet'?); see 'abair-bench methods list'\n"


def test_profile_times_the_registered_method_as_a_run_restores(tmp_path, monkeypatch):
    """The profiled call of uformer and x-restormer is the registered method through the harness's padding:
    the network of the profile saved in the authors' format and run by ``create_method`` gives the same output."""
    import dataclasses

    from baselines.archs.loading import architecture
    from baselines.ports import port
    from bench.profile import configs as C

    for name, small, save in (("uformer", SMALL_UFORMER, _save_training_pth), ("x-restormer", SMALL_XRESTORMER,
                                                                               _save_basicsr)):
        assert C.CONFIGS[name].family == "baseline"
        spec, module = architecture(name), port(name).arch.partition(":")[0]
        monkeypatch.setattr(f"{module}.ARCH", dataclasses.replace(spec, defaults=lambda s=small, d=spec.defaults: {
            **d(), **s}))
        profiled = C.ModelPool("tiny").baseline(name)
        assert type(profiled).__name__ == ("UformerMethod" if name == "uformer" else "CheckpointMethod")
        path = tmp_path / f"{name}.pth"
        save(path, _randomised(profiled.model))
        run = create_method(name, checkpoint=str(path), **({"img_size": 64} if name == "uformer" else {}))
        x = _image(24, 40)
        fn = C.method_call(profiled)
        with torch.no_grad():
            got, want = fn(x), restore_padded(run, x, CTX)
        assert got.shape == x.shape and torch.equal(got, want)


@pytest.mark.slow
def test_profile_prepares_the_official_sizes():
    from bench.profile import configs as C

    pool = C.ModelPool("tiny")
    x = _image(64, 64)
    for name, params in (("mprnet", 20_127_073), ("uformer", 50_880_946), ("x-restormer", 26_041_208)):
        if name == "mprnet" and not HAS_MPRNET:
            continue
        prepared = C.CONFIGS[name].prepare(pool)
        assert prepared.params == params
        with torch.inference_mode():
            assert prepared.fn(x).shape == x.shape


def test_runner_scores_a_new_baseline(tmp_path):
    """A real run of x-restormer:derain on 128x128 mini tiles (padding, clipping, scoring, the record name)."""
    from bench.runner import RunSpec, run

    torch.manual_seed(0)
    path = tmp_path / "derain_155k.pth"
    model = _randomised(XRestormer(**SMALL_XRESTORMER), scale=0.01)
    with torch.no_grad():  # a small residual: random weights would return values up to ~2, which the runner refuses
        model.output.weight.mul_(0.01)
    _save_basicsr(path, model)
    summary = run(RunSpec(out=str(tmp_path / "run"), methods=["x-restormer:derain"], datasets=["mini-derain"], limit=2,
                          method_args={"x-restormer:derain": {"checkpoint": str(path)}}, progress=False))
    assert set(summary["method"]) == {"x-restormer:derain"} and set(summary["n"]) == {2}
