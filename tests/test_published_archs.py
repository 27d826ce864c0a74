"""Published architectures (Restormer, PromptIR, AirNet) load their official checkpoint formats strictly.

For each architecture a randomly initialised model is saved in the authors' exact file format
(Restormer: ``{"params": sd}`` .pth; PromptIR: Lightning .ckpt with ``net.``-prefixed keys; AirNet:
bare state dict .pth), loaded through the registered method, and must give bit-identical outputs.
The default configurations are checked against the published parameter counts, which pins the key
layout to the official one. Small configurations keep the forward passes fast.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os

import pytest
import torch
import torch.nn.functional as F

from abair.errors import UserError
from baselines.base import RestoreContext
from baselines.published import make_spandrel
from baselines.published.airnet.arch import (
    AirNet,
    _deform_conv_torch,
    _torchvision_ops_available,
    deform_conv_backend,
)
from baselines.published.airnet.method import make as make_airnet
from baselines.published.promptir.arch import PromptIR
from baselines.published.promptir.method import make as make_promptir
from baselines.published.restormer.arch import Restormer
from baselines.published.restormer.method import make as make_restormer
from bench.methods import create_method, list_methods
from port_helpers import count as _count
from port_helpers import image as _image
from port_helpers import randomised as _randomised

CTX = RestoreContext(dataset="unit", task="mixed", image_ids=("a",))

SMALL_RESTORMER = {"dim": 8, "num_blocks": (1, 1, 1, 1), "num_refinement_blocks": 1, "heads": (1, 2, 4, 8)}
SMALL_PROMPTIR = {**SMALL_RESTORMER, "prompt_dims": (8, 8, 16), "prompt_sizes": (8, 4, 2), "prompt_len": 5}
SMALL_AIRNET = {"n_feats": 8, "n_groups": 2, "n_blocks": 2, "queue_size": 24, "deform_conv": "torch"}

HAS_TORCHVISION_OPS = _torchvision_ops_available()
HAS_SPANDREL_RESTORMER = (
    importlib.util.find_spec("spandrel") is not None and importlib.util.find_spec("spandrel_extra_arches") is not None
)






def _save_restormer(path, model) -> None:
    torch.save({"params": model.state_dict()}, path)


def _save_promptir(path, model) -> None:
    """Lightning 2.x checkpoint layout, restricted to tensors and primitives (weights-only loadable)."""
    torch.save({
        "epoch": 149, "global_step": 0, "pytorch-lightning_version": "2.0.0",
        "state_dict": {f"net.{k}": v for k, v in model.state_dict().items()},
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 150, "completed": 149}}}},
        "callbacks": {"ModelCheckpoint{'monitor': None}": {"best_model_path": "", "kth_value": torch.tensor(float("inf"))}},
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 2e-4, "betas": (0.9, 0.999), "params": [0]}]}],
        "lr_schedulers": [{"base_lrs": [2e-4], "last_epoch": 149, "_last_lr": [1e-6]}],
    }, path)


def _save_airnet(path, model) -> None:
    torch.save(model.state_dict(), path)




def _meta_state(cls, **kwargs) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = cls(**kwargs)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


# ----------------------------------------------------------------------------- default configurations


def test_parameter_counts_match_the_papers():
    # Restormer paper: 26.13M; PromptIR paper (and its table of AirNet): 35.59M and 8.93M.
    assert _count(Restormer) == 26_126_644
    assert _count(PromptIR) == 35_592_263
    assert _count(AirNet, deform_conv="torch") == 8_930_313
    assert round(_count(Restormer) / 1e6, 2) == 26.13
    assert round(_count(PromptIR) / 1e6, 2) == 35.59
    assert round(_count(AirNet, deform_conv="torch") / 1e6, 2) == 8.93


def test_default_key_layout_restormer():
    shapes = _meta_state(Restormer)
    assert len(shapes) == 494
    assert shapes["patch_embed.proj.weight"] == (48, 3, 3, 3)
    assert shapes["encoder_level1.0.norm1.body.bias"] == (48,)
    assert shapes["encoder_level1.0.ffn.project_in.weight"] == (254, 48, 1, 1)  # 2 * int(48 * 2.66)
    assert shapes["encoder_level1.3.attn.qkv_dwconv.weight"] == (144, 1, 3, 3)
    assert shapes["latent.7.attn.temperature"] == (8, 1, 1)
    assert shapes["down3_4.body.0.weight"] == (96, 192, 3, 3)
    assert shapes["up2_1.body.0.weight"] == (192, 96, 3, 3)
    assert shapes["reduce_chan_level3.weight"] == (192, 384, 1, 1)
    assert shapes["refinement.3.ffn.project_out.weight"] == (96, 255, 1, 1)
    assert shapes["output.weight"] == (3, 96, 3, 3)
    assert "skip_conv.weight" not in shapes and "output.bias" not in shapes


def test_default_key_layout_promptir():
    shapes = _meta_state(PromptIR)
    assert len(shapes) == 548
    assert shapes["prompt1.prompt_param"] == (1, 5, 64, 64, 64)
    assert shapes["prompt2.linear_layer.weight"] == (5, 192)
    assert shapes["prompt3.prompt_param"] == (1, 5, 320, 16, 16)
    assert shapes["prompt3.conv3x3.weight"] == (320, 320, 3, 3)
    assert shapes["noise_level3.attn.qkv.weight"] == (2112, 704, 1, 1)
    assert shapes["noise_level1.attn.temperature"] == (4, 1, 1)  # every interaction block uses heads[2]
    assert shapes["reduce_noise_level2.weight"] == (192, 320, 1, 1)
    assert shapes["up4_3.body.0.weight"] == (384, 192, 3, 3)
    assert shapes["reduce_chan_level3.weight"] == (192, 288, 1, 1)
    # stored in the release although the forward pass never uses them
    assert shapes["chnl_reduce3.weight"] == (256, 320, 1, 1)
    assert shapes["reduce_noise_channel_3.weight"] == (192, 448, 1, 1)


def test_default_key_layout_airnet():
    shapes = _meta_state(AirNet, deform_conv="torch")
    assert len(shapes) == 584
    assert shapes["E.E.queue"] == (256, 1280)
    assert shapes["E.E.queue_ptr"] == (1,)
    assert shapes["E.E.encoder_q.E_pre.backbone.0.weight"] == (64, 3, 3, 3)
    assert shapes["E.E.encoder_k.E.1.shortcut.1.num_batches_tracked"] == ()
    assert shapes["E.E.encoder_q.mlp.2.weight"] == (256, 256)
    assert shapes["R.head.0.weight"] == (64, 3, 3, 3)
    assert shapes["R.body.4.body.4.dgm2.dcn.weight"] == (64, 64, 3, 3)
    assert shapes["R.body.0.body.0.dgm1.dcn.conv_offset_mask.weight"] == (27, 128, 3, 3)
    assert shapes["R.body.0.body.5.bias"] == (64,)
    assert shapes["R.body.5.weight"] == (64, 64, 3, 3)
    assert shapes["R.tail.0.weight"] == (3, 64, 3, 3)
    assert "R.body.0.body.0.dgm1.dcn.bias" not in shapes


@pytest.mark.skipif(not HAS_SPANDREL_RESTORMER, reason="spandrel-extra-arches not installed (pip install 'abair-bench[spandrel]')")
def test_restormer_layout_equals_spandrels_independent_definition():
    from spandrel_extra_arches.architectures.Restormer import Restormer as SpandrelRestormer

    with torch.device("meta"):
        theirs = {k: tuple(v.shape) for k, v in SpandrelRestormer().state_dict().items()}
    assert _meta_state(Restormer) == theirs


# ----------------------------------------------------------------------------- official formats round trip


def test_restormer_official_pth_round_trip(tmp_path):
    torch.manual_seed(0)
    model = _randomised(Restormer(**SMALL_RESTORMER))
    path = tmp_path / "motion_deblurring.pth"
    _save_restormer(path, model)
    method = create_method("restormer", checkpoint=str(path))
    assert method.multiple_of == 8 and method.name == "restormer"
    x = _image()
    with torch.no_grad():
        expected = model(x)
    out = method.restore(x, CTX)
    assert out.shape == x.shape
    assert torch.equal(out, expected)
    cfg = method.config()
    assert cfg["checkpoint_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert cfg["arch_config"]["dim"] == 8 and cfg["arch_config"]["layernorm"] == "WithBias"
    assert cfg["pipeline"]["pad"].startswith("reflect, bottom/right, to a multiple of 8")
    assert cfg["pipeline"]["source"].startswith("swz30/Restormer") and cfg["pipeline"]["self_ensemble"] is False


def test_restormer_denoising_variant_is_inferred(tmp_path):
    """Restormer's denoising releases use the bias-free LayerNorm; bias and FFN width are read too."""
    torch.manual_seed(0)
    model = _randomised(Restormer(**SMALL_RESTORMER, layernorm="BiasFree", bias=True, ffn_expansion_factor=2.0))
    path = tmp_path / "real_denoising.pth"
    _save_restormer(path, model)
    method = make_restormer(checkpoint=str(path))
    x = _image(8, 16)
    with torch.no_grad():
        assert torch.equal(method.restore(x, CTX), model(x))
    assert method.config()["arch_config"]["layernorm"] == "BiasFree"
    assert method.config()["arch_config"]["bias"] is True


def test_restormer_from_safetensors(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = _randomised(Restormer(**SMALL_RESTORMER))
    path = tmp_path / "deraining.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    x = _image()
    with torch.no_grad():
        assert torch.equal(make_restormer(checkpoint=str(path)).restore(x, CTX), model(x))


def test_promptir_lightning_ckpt_round_trip(tmp_path):
    torch.manual_seed(0)
    model = _randomised(PromptIR(**SMALL_PROMPTIR))
    path = tmp_path / "model.ckpt"
    _save_promptir(path, model)
    method = create_method("promptir", checkpoint=str(path))
    assert method.multiple_of == 8
    x = _image(16, 32)
    with torch.no_grad():
        expected = model(x)
    out = method.restore(x, CTX)
    assert out.shape == x.shape
    assert torch.equal(out, expected)
    assert method.config()["arch_config"]["prompt_dims"] == [8, 8, 16]
    assert method.config()["pipeline"]["source"] == "va1shn9v/PromptIR demo.py, test.py"


def test_airnet_pth_round_trip(tmp_path):
    torch.manual_seed(0)
    model = _randomised(AirNet(**SMALL_AIRNET))
    path = tmp_path / "All.pth"
    _save_airnet(path, model)
    method = create_method("airnet", checkpoint=str(path), deform_conv="torch")
    assert method.multiple_of == 1
    assert method.config()["arch_config"]["queue_size"] == 24
    assert method.config()["pipeline"]["pad"] == "none (any H, W)"
    assert method.config()["pipeline"]["source"] == "XLearning-SCU/2022-CVPR-AirNet test.py"
    x = _image(13, 18)  # AirNet takes any size
    with torch.no_grad():
        expected = model(x)
    out = method.restore(x, CTX)
    assert out.shape == x.shape
    assert torch.equal(out, expected)
    # the offsets are not trivial: the deformable path differs from a plain convolution
    dcn = model.R.body[0].body[0].dgm1.dcn
    inter = model.degradation_map(x)
    feat = model.R.head(x)
    with torch.no_grad():
        plain = F.conv2d(feat, dcn.weight, padding=1)
        assert (dcn(feat, inter) - plain).abs().max() > 1e-3


# ----------------------------------------------------------------------------- deformable convolution


def test_deform_conv_closed_forms():
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(2, 4, 7, 9, generator=gen)
    w = torch.randn(5, 4, 3, 3, generator=gen)
    zeros = torch.zeros(2, 18, 7, 9)
    ones = torch.ones(2, 9, 7, 9)
    # zero offsets and unit masks: an ordinary 3x3 convolution
    torch.testing.assert_close(_deform_conv_torch(x, zeros, ones, w, 1), F.conv2d(x, w, padding=1), atol=1e-5, rtol=0)
    # every tap moved one pixel right (dx = +1): out[., c] = sum_j w[j] x[., c + j], zeros beyond the
    # right edge, i.e. a valid convolution of the image padded by 0 columns left and 2 right
    offset = zeros.clone()
    offset[:, 1::2] = 1.0
    torch.testing.assert_close(_deform_conv_torch(x, offset, ones, w, 1), F.conv2d(F.pad(x, (0, 2, 1, 1)), w),
                               atol=1e-5, rtol=0)
    # and dy = -1 (taps moved one row up): zero rows come in at the top
    offset = zeros.clone()
    offset[:, 0::2] = -1.0
    torch.testing.assert_close(_deform_conv_torch(x, offset, ones, w, 1), F.conv2d(F.pad(x, (1, 1, 2, 0)), w),
                               atol=1e-5, rtol=0)
    # masks scale each tap: mask 0.5 everywhere halves the output
    torch.testing.assert_close(_deform_conv_torch(x, zeros, ones / 2, w, 1), F.conv2d(x, w, padding=1) / 2,
                               atol=1e-5, rtol=0)


@pytest.mark.skipif(not HAS_TORCHVISION_OPS, reason="torchvision.ops does not import here")
def test_deform_conv_torch_matches_torchvision():
    from torchvision.ops import deform_conv2d

    gen = torch.Generator().manual_seed(4)
    x = torch.rand(2, 6, 11, 10, generator=gen)
    w = torch.randn(6, 6, 3, 3, generator=gen)
    offset = 3.0 * torch.randn(2, 18, 11, 10, generator=gen)  # many samples fall outside the map
    mask = torch.rand(2, 9, 11, 10, generator=gen)
    torch.testing.assert_close(_deform_conv_torch(x, offset, mask, w, 1),
                               deform_conv2d(x, offset, w, padding=1, mask=mask), atol=2e-5, rtol=1e-5)


@pytest.mark.skipif(not HAS_TORCHVISION_OPS, reason="torchvision.ops does not import here")
def test_airnet_backends_agree(tmp_path):
    torch.manual_seed(0)
    model = _randomised(AirNet(**SMALL_AIRNET))
    path = tmp_path / "All.pth"
    _save_airnet(path, model)
    x = _image(12, 12)
    a = make_airnet(checkpoint=str(path), deform_conv="torch").restore(x, CTX)
    b = make_airnet(checkpoint=str(path), deform_conv="torchvision").restore(x, CTX)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_deform_conv_choice(tmp_path):
    assert deform_conv_backend("auto", "cpu") == "torch"  # faster than torchvision's CPU kernel
    assert deform_conv_backend("torchvision", "cpu") == "torchvision"
    if HAS_TORCHVISION_OPS:
        assert deform_conv_backend("auto", "cuda") == "torchvision"
    path = tmp_path / "All.pth"
    _save_airnet(path, AirNet(**SMALL_AIRNET))
    assert make_airnet(checkpoint=str(path)).config()["arch_config"]["deform_conv"] == "torch"
    with pytest.raises(UserError, match=r"^airnet\.deform_conv must be one of auto, torch, torchvision, got 'mmcv'$"):
        make_airnet(checkpoint=str(path), deform_conv="mmcv")


# ----------------------------------------------------------------------------- errors


def test_wrong_architecture_is_one_clear_line(tmp_path):
    restormer_file = tmp_path / "deraining.pth"
    _save_restormer(restormer_file, Restormer(**SMALL_RESTORMER))
    with pytest.raises(UserError) as err:
        make_promptir(checkpoint=str(restormer_file))
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"checkpoint {restormer_file} is not a PromptIR checkpoint: ")
    assert "missing keys (e.g. prompt1.prompt_param" in msg
    assert "keys with another shape (e.g. up4_3.body.0.weight: file 128x64x3x3 vs model 64x32x3x3" in msg
    assert msg.endswith("(it looks like a Restormer checkpoint: use --methods restormer)")

    airnet_file = tmp_path / "All.pth"
    _save_airnet(airnet_file, AirNet(**SMALL_AIRNET))
    with pytest.raises(UserError) as err:
        make_restormer(checkpoint=str(airnet_file))
    msg = str(err.value)
    assert msg.startswith(f"checkpoint {airnet_file} is not a Restormer checkpoint: 494 missing keys (e.g. ")
    assert "unexpected keys (e.g. R.head.0.weight, R.head.0.bias, " in msg and "\n" not in msg
    assert msg.endswith("(it looks like an AirNet checkpoint: use --methods airnet)")


def test_exact_mismatch_message(tmp_path):
    sd = Restormer(**SMALL_RESTORMER).state_dict()
    del sd["refinement.0.ffn.dwconv.weight"]
    sd["extra.weight"] = torch.zeros(1)
    path = tmp_path / "edited.pth"
    torch.save({"params": sd}, path)
    with pytest.raises(UserError) as err:
        make_restormer(checkpoint=str(path))
    assert str(err.value) == (
        f"checkpoint {path} is not a Restormer checkpoint: 1 missing keys (e.g. refinement.0.ffn.dwconv.weight); "
        "1 unexpected keys (e.g. extra.weight)"
    )


def test_checkpoint_flag_is_required():
    for factory, name in ((make_restormer, "restormer"), (make_promptir, "promptir"), (make_airnet, "airnet")):
        with pytest.raises(UserError, match=rf"^method '{name}' needs the authors' weights: pass "
                                            rf"--method-arg {name}\.checkpoint=PATH \("):
            factory()


def test_missing_and_corrupt_files(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(UserError, match="does not exist"):
        make_restormer(checkpoint=str(missing))
    corrupt = tmp_path / "broken.pth"
    corrupt.write_bytes(b"not a checkpoint" * 8)
    with pytest.raises(UserError) as err:
        make_airnet(checkpoint=str(corrupt))
    assert str(err.value) == (f"checkpoint {corrupt.resolve()} is not a checkpoint but a text file (it starts "
                              "'not a checkpointnot a checkpointnot a ch'); pass the .pth, .ckpt or .safetensors "
                              "file itself")
    truncated = tmp_path / "truncated.pth"
    good = tmp_path / "good.pth"
    _save_restormer(good, Restormer(**SMALL_RESTORMER))
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(UserError, match=r"is truncated or corrupt: its zip archive cannot be read \(5000 bytes\); "
                                        r"download it again$"):
        make_restormer(checkpoint=str(truncated))
    bad_st = tmp_path / "x.safetensors"
    bad_st.write_bytes(b"\x00" * 40)
    with pytest.raises(UserError, match="is not a readable safetensors file"):
        make_restormer(checkpoint=str(bad_st))
    no_sd = tmp_path / "meta.pth"
    torch.save({"epoch": 3, "note": "no weights"}, no_sd)
    with pytest.raises(UserError, match=r"holds no state dict of tensors \(top-level keys: epoch, note\)"):
        make_restormer(checkpoint=str(no_sd))


class _Trap:
    """Unpickling this would run code (``__reduce__``); safe loading must refuse it."""

    fired = False

    def __reduce__(self):
        return (_fire, ())


def _fire():
    _Trap.fired = True
    return {}


def test_pickled_code_is_refused_not_run(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"params": Restormer(**SMALL_RESTORMER).state_dict(), "hook": _Trap()}, path)
    with pytest.raises(UserError) as err:
        make_restormer(checkpoint=str(path))
    assert not _Trap.fired
    assert f"was refused for safety: it is a pickle that would call {_fire.__module__}._fire (only tensors" in str(err.value)


class _Shell:
    """A plain pickle (not torch.save) whose loading would run a shell command."""

    def __reduce__(self):
        import os

        return (os.system, ("echo should-never-run",))


@pytest.mark.parametrize("kind", ["plain-pickle", "html", "empty"])
def test_refused_checkpoints_are_explained_in_our_words(tmp_path, kind):
    """Never torch's text ('Re-running torch.load with weights_only set to False ...'), never cut mid-sentence."""
    import pickle

    path = tmp_path / f"{kind}.pth"
    content = {"plain-pickle": lambda: pickle.dumps({"params": _Shell()}),
               "html": lambda: b"<!DOCTYPE html><html><body>404 Not Found</body></html>",
               "empty": lambda: b""}[kind]()
    path.write_bytes(content)
    with pytest.raises(UserError) as err:
        make_restormer(checkpoint=str(path))
    message = str(err.value)
    expected = {
        "plain-pickle": f"was refused for safety: it is a pickle that would call {os.system.__module__}.system (only "
                        "tensors are loaded, never code from a file); if you trust the file, convert it once to "
                        "safetensors (see docs/BASELINES.md) and pass that",
        "html": "is not a checkpoint but an HTML page (a failed download?) (it starts '<!DOCTYPE html><html><body>404 "
                "Not Found'); pass the .pth, .ckpt or .safetensors file itself",
        "empty": "is empty (0 bytes); download or copy it again",
    }[kind]
    assert message == f"checkpoint {path.resolve()} {expected}"
    assert "weights_only" not in message and "torch.load" not in message


def test_grayscale_restormer_is_refused(tmp_path):
    path = tmp_path / "gaussian_gray_denoising_blind.pth"
    _save_restormer(path, Restormer(**SMALL_RESTORMER, in_channels=1, out_channels=1, layernorm="BiasFree"))
    with pytest.raises(UserError, match=r"is a 1-channel Restormer; the benchmark restores RGB images"):
        make_restormer(checkpoint=str(path))


def test_registry_lists_the_published_methods():
    rows = {r["name"]: r for r in list_methods()}
    for name in ("restormer", "promptir", "airnet"):
        assert rows[name]["task"] == "all-in-one"
        assert rows[name]["needs"] == f"weights (--method-arg {name}.checkpoint=PATH)"


# ----------------------------------------------------------------------------- spandrel


def test_spandrel_missing_package_message(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "spandrel", None)  # makes `import spandrel` raise ImportError
    with pytest.raises(UserError) as err:
        make_spandrel("/some/model.pth")
    assert str(err.value) == "the spandrel: methods need the spandrel package: pip install 'abair-bench[spandrel]'"


@pytest.mark.skipif(not HAS_SPANDREL_RESTORMER, reason="spandrel-extra-arches not installed (pip install 'abair-bench[spandrel]')")
def test_restormer_checkpoint_through_spandrel(tmp_path):
    torch.manual_seed(0)
    model = _randomised(Restormer(**SMALL_RESTORMER))
    path = tmp_path / "motion_deblurring.pth"
    _save_restormer(path, model)
    method = create_method(f"spandrel:{path}")
    assert method.name == "spandrel:motion_deblurring.pth"  # a file name: method names become folder names
    assert method.config()["checkpoint"] == str(path.resolve())
    assert method.multiple_of == 8
    assert method.config()["architecture"] == "Restormer"
    x = _image()
    with torch.no_grad():
        expected = model(x)
    # spandrel's Restormer is an independent implementation: equal up to float rounding (spandrel clips
    # to [0, 1], as the harness does for every method)
    out = method.restore(x, CTX)
    assert 0.05 < ((expected < 0) | (expected > 1)).float().mean() < 0.95  # the clipping is exercised
    torch.testing.assert_close(out, expected.clamp(0, 1), atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("spandrel") is None, reason="spandrel not installed")
def test_spandrel_unknown_architecture(tmp_path):
    path = tmp_path / "All.pth"
    _save_airnet(path, AirNet(**SMALL_AIRNET))
    with pytest.raises(UserError, match=r"^spandrel does not recognise the architecture of checkpoint "):
        create_method(f"spandrel:{path}")


# ----------------------------------------------------------------------------- through the harness


def test_runner_scores_restormer_and_spandrel_alike(tmp_path):
    """A real run (padding to 8 on 128x128 mini tiles, clipping, scoring) with the checkpoint flag."""
    from bench.runner import RunSpec, run

    torch.manual_seed(0)
    path = tmp_path / "deraining.pth"
    _save_restormer(path, _randomised(Restormer(**SMALL_RESTORMER)))
    methods = ["restormer"] + ([f"spandrel:{path}"] if HAS_SPANDREL_RESTORMER else [])
    summary = run(RunSpec(out=str(tmp_path / "run"), methods=methods, datasets=["mini-derain"], limit=2,
                          method_args={"restormer": {"checkpoint": str(path)}}, progress=False))
    rows = summary.set_index(["method", "metric"])["mean"]
    assert set(summary["n"]) == {2}
    recorded = json.loads((tmp_path / "run" / "manifest.json").read_text())["methods"]["restormer"]
    assert recorded["pipeline"]["source"].startswith("swz30/Restormer Motion_Deblurring/test.py")
    if HAS_SPANDREL_RESTORMER:
        for metric in ("psnr", "ssim"):
            assert rows[("restormer", metric)] == pytest.approx(rows[("spandrel:deraining.pth", metric)], abs=1e-4)
