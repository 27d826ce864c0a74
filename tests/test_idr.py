"""IDR (Zhang et al., CVPR 2023) loads a checkpoint of its authors' training code strictly and runs as ``idr``.

No weights were released, so a randomly initialised model is saved as the authors' training code
saves it (``torch.save(network.state_dict())`` with CPU tensors, ``<epoch>_G.pth``; also with
DataParallel's ``module.`` prefix), loaded through the method and must give bit-identical outputs
through the method's pipeline. The parameter counts and key shapes of the authors' configurations
were read off their own model code (docs/BASELINES.md); the forward was compared with it outside the
repository. The SVD of the degradation keys is checked against ``torch.svd`` (the authors' call), and
its sign ambiguity is shown to change the output. Small configurations keep it fast.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from abair.errors import UserError
from baselines.base import RestoreContext
from baselines.published.idr.arch import (
    IDR,
    IDR_DEFAULTS,
    IDR_INFERENCE,
    interleave,
    kernel_filter,
    svd_signature,
)
from baselines.published.restormer.arch import Restormer
from bench.methods import create_method, list_methods, record_name
from bench.padding import restore_padded
from port_helpers import image as _image
from port_helpers import randomised as _randomised

CTX = RestoreContext(dataset="unit", task="mixed", image_ids=("a",))
SMALL = {"dim": 8, "num_blocks": (1, 1, 1, 1), "num_refinement_blocks": 1, "heads": (1, 2, 4, 8),
         "num_degra_queries": 4}




def _small(seed: int = 0, **kwargs) -> IDR:
    torch.manual_seed(seed)
    return _randomised(IDR(**{**SMALL, **kwargs}), seed)




def _save_authors(path, model: IDR, data_parallel: bool = False) -> None:
    """What the authors' ``save_network`` writes: the bare state dict, every tensor on the CPU."""
    prefix = "module." if data_parallel else ""
    torch.save({prefix + k: v.cpu() for k, v in model.state_dict().items()}, path)


def _meta(**kwargs) -> IDR:
    with torch.device("meta"):
        return IDR(**kwargs)


# ----------------------------------------------------------------------------- the authors' configurations


def test_parameter_counts_of_the_authors_configurations():
    # config/IDR-restormer.yml (training) and the network inference.py builds, both counted on the authors' code
    assert sum(p.numel() for p in _meta(**IDR_DEFAULTS).parameters()) == 12_262_448
    assert sum(p.numel() for p in _meta(**IDR_INFERENCE).parameters()) == 7_887_130
    assert IDR_DEFAULTS["dim"] == 30 and IDR_INFERENCE["dim"] == 24


def test_key_layout_of_the_training_configuration():
    shapes = {k: tuple(v.shape) for k, v in _meta(**IDR_DEFAULTS).state_dict().items()}
    assert len(shapes) == 446
    assert shapes["degra_key"] == (5, 24, 240)
    assert shapes["dmixer.convU.weight"] == (24, 120, 1, 1) and shapes["dmixer.convV.bias"] == (24,)
    assert shapes["kdp_level1.attn.kv.weight"] == (60, 240) and shapes["kdp_level3.attn.kv.bias"] == (240,)
    assert shapes["kdp_level2.attn.q.1.weight"] == (60, 1, 3, 3)
    assert shapes["kdp_level1.attn.qkv_dwconv.weight"] == (90, 1, 3, 3)  # stored, unused by the forward
    assert shapes["kdp_level1.ffn.fc1.weight"] == (79, 30, 1, 1) and shapes["kdp_level1.ffn.dwconv.bias"] == (79,)
    assert shapes["kdp_level1.principle.convolve.convolve.3.0.weight"] == (750, 30, 1, 1)
    assert shapes["kdp_level1.principle.convolve.convolve.0.1.weight"] == (1,)  # PReLU
    assert shapes["kdp_level2.principle.point.weight.2.conv2.weight"] == (120, 120, 3, 3)
    assert shapes["kdp_level3.principle.addition.add.0.0.weight"] == (120, 240, 3, 3)
    assert shapes["kdp_level3.principle.pred.2.weight"] == (5, 120, 1, 1)
    assert shapes["kdp_level1.SAM.conv2.weight"] == (3, 30, 1, 1)
    assert shapes["encoder_level1.0.ffn.project_in.weight"] == (158, 30, 1, 1)
    assert shapes["decoder_level1.1.attn.temperature"] == (1, 1, 1)
    assert "kdp_level1.normkey.weight" not in shapes and "output.bias" not in shapes


def test_only_the_runnable_setting_builds():
    with pytest.raises(ValueError, match=r"needs degra_type = ops_type = 5"):
        IDR(**{**SMALL, "degra_type": 3})


# ----------------------------------------------------------------------------- building blocks


def test_kernel_filter_equals_a_depthwise_convolution_for_constant_kernels():
    x = _image(9, 11, n=2)
    weights = torch.randn(3, 1, 5, 5, generator=torch.Generator().manual_seed(3))
    per_pixel = weights.reshape(1, 75, 1, 1).expand(2, 75, 9, 11)
    expected = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), weights, groups=3)
    assert torch.allclose(kernel_filter(x, per_pixel), expected, atol=1e-6)
    # a kernel that picks the pixel one row down and two columns left (replicated at the border)
    pick = torch.zeros(1, 75, 9, 11)
    pick[:, [c * 25 + 3 * 5 + 0 for c in range(3)]] = 1
    shifted = F.pad(x[:1], (2, 0, 0, 1), mode="replicate")[..., 1:, :11]
    assert torch.equal(kernel_filter(x[:1], pick), shifted)


def test_interleave():
    a, b = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    assert interleave(a, b)[0, :, 0, 0].tolist() == [0, 1, 0, 1, 0, 1]


def test_singular_vectors_are_torch_svd_and_ingredients_follow_the_formula():
    model = _small()
    u, s, vh = model.singular_vectors()
    ref_u, ref_s, ref_v = torch.svd(model.degra_key.detach())  # the authors' call
    assert torch.equal(u, ref_u) and torch.equal(s, ref_s) and torch.equal(vh, ref_v.transpose(1, 2))
    left, values, right = model.ingredients()
    t, q, c = vh.shape
    wu, bu = model.dmixer.convU.weight[:, :, 0, 0], model.dmixer.convU.bias
    wv, bv = model.dmixer.convV.weight[:, :, 0, 0], model.dmixer.convV.bias
    rows_u = torch.cat([u[i].T for i in range(t)])  # the T * Q left singular vectors, one per row
    rows_v = torch.cat([vh[i] for i in range(t)])
    assert torch.allclose(left, (wu @ rows_u + bu[:, None]).T, atol=1e-6)
    assert torch.allclose(right, wv @ rows_v + bv[:, None], atol=1e-6)
    assert torch.equal(values, s) and left.shape == (q, q) and right.shape == (q, c)


def test_singular_vector_signs_change_the_output():
    """Flipping one pair (u, v) leaves the keys U S V^T unchanged but not IDR's output: the signs matter."""
    model = _small()
    x = _image(16, 24)
    with torch.no_grad():
        base = model(x)
        u, s, vh = model.singular_vectors()
        u, vh = u.clone(), vh.clone()
        u[0, :, 0] *= -1
        vh[0, 0, :] *= -1
        assert torch.allclose(u @ torch.diag_embed(s) @ vh, model.degra_key, atol=1e-5)
        signs = svd_signature(model)
        model.singular_vectors = lambda: (u, s, vh)
        flipped = model(x)
        assert (flipped - base).abs().max() > 1e-3
        assert svd_signature(model) == ("-" if signs[0] == "+" else "+") + signs[1:]
    assert len(signs) == 5 * SMALL["num_degra_queries"] and set(signs) <= {"+", "-"}


def test_antialias_changes_the_levels_input():
    model = _small()
    x = _image(16, 24)
    with torch.no_grad():
        base = model(x)
        model.antialias = True
        assert (model(x) - base).abs().max() > 1e-6


def test_batch_equals_single_images():
    model = _small()
    x = _image(16, 24, n=3)
    with torch.no_grad():
        batch = model(x)
        for i in range(3):
            assert torch.allclose(model(x[i:i + 1]), batch[i:i + 1], atol=1e-5)


# ----------------------------------------------------------------------------- the method


@pytest.mark.parametrize("data_parallel", [False, True])
def test_authors_checkpoint_round_trip(tmp_path, data_parallel):
    model = _small()
    path = tmp_path / "1200_G.pth"
    _save_authors(path, model, data_parallel)
    method = create_method("idr", checkpoint=str(path))
    assert method.name == "idr" and method.multiple_of == 8
    x = _image(21, 30)  # not a multiple of 8: the harness reflect-pads the bottom/right
    with torch.no_grad():
        expected = model(F.pad(x, (0, 2, 0, 3), mode="reflect"))[..., :21, :30]
    assert torch.equal(restore_padded(method, x, CTX), expected)
    cfg = method.config()
    arch = cfg["arch_config"]
    assert (arch["dim"], arch["num_blocks"], arch["num_refinement_blocks"]) == (8, [1, 1, 1, 1], 1)
    assert (arch["num_degra_queries"], arch["degra_type"], arch["ops_type"], arch["sam"]) == (4, 5, 5, True)
    assert arch["LayerNorm_type"] == "WithBias" and arch["svd_device"] == "cpu" and arch["antialias"] is False
    assert cfg["svd_signs"] == svd_signature(model)
    assert cfg["pipeline"]["source"].endswith("inference.py") and cfg["pipeline"]["self_ensemble"] is False


def test_configuration_read_from_the_shapes(tmp_path):
    torch.manual_seed(0)
    model = IDR(**{**SMALL, "dim": 12, "heads": (1, 2, 2, 4), "sam": False, "LayerNorm_type": "BiasFree"}).eval()
    path = tmp_path / "model.ckpt"  # the name the authors' README gives
    _save_authors(path, model)
    method = create_method("idr", checkpoint=str(path), svd_device="cpu", antialias=True)
    arch = method.config()["arch_config"]
    assert (arch["dim"], arch["heads"], arch["sam"], arch["LayerNorm_type"]) == (12, [1, 2, 2, 4], False, "BiasFree")
    assert arch["svd_device"] == "cpu" and arch["antialias"] is True
    x = _image(16, 16)
    model.antialias = True
    with torch.no_grad():
        assert torch.equal(method.restore(x, CTX), model(x))


def test_options_are_checked(tmp_path):
    path = tmp_path / "1200_G.pth"
    _save_authors(path, _small())
    with pytest.raises(UserError, match=r"^idr\.svd_device must be auto or cpu, got 'gpu'$"):
        create_method("idr", checkpoint=str(path), svd_device="gpu")
    with pytest.raises(UserError, match=r"^idr\.antialias must be true or false, got 'yes'$"):
        create_method("idr", checkpoint=str(path), antialias="yes")
    with pytest.raises(UserError) as err:
        create_method("idr")
    assert str(err.value).startswith("method 'idr' needs the authors' weights: pass --method-arg idr.checkpoint=PATH "
                                     "(a checkpoint of the authors' training code, e.g. 1200_G.pth; no weights were released")


def test_wrong_files_are_one_line(tmp_path):
    restormer = tmp_path / "deraining.pth"
    torch.save({"params": Restormer(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1).state_dict()}, restormer)
    with pytest.raises(UserError) as err:
        create_method("idr", checkpoint=str(restormer))
    msg = str(err.value)
    assert msg.startswith(f"checkpoint {restormer.resolve()} is not an IDR checkpoint: ") and "\n" not in msg
    assert msg.endswith("(it looks like a Restormer checkpoint: use --methods restormer)")

    idr = tmp_path / "1200_G.pth"
    _save_authors(idr, _small())
    with pytest.raises(UserError) as err:
        create_method("restormer", checkpoint=str(idr))
    assert str(err.value).endswith("(it looks like an IDR checkpoint: use --methods idr)")

    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(idr.read_bytes()[:3000])
    with pytest.raises(UserError) as err:
        create_method("idr", checkpoint=str(truncated))
    assert str(err.value) == (f"checkpoint {truncated.resolve()} is truncated or corrupt: its zip archive cannot be "
                              "read (3000 bytes); download it again")

    text = tmp_path / "1100_G.pth"
    text.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 49049600\n")
    with pytest.raises(UserError) as err:
        create_method("idr", checkpoint=str(text))
    assert str(err.value).startswith(f"checkpoint {text.resolve()} is not a checkpoint but ")
    assert "\n" not in str(err.value)

    state = tmp_path / "1200.state"  # the training state the authors' code writes next to the network
    torch.save({"epoch": 1200, "iter": 5, "schedulers": [], "optimizers": []}, state)
    with pytest.raises(UserError, match=r"holds no state dict of tensors \(top-level keys: epoch, iter, optimizers, "
                                        r"schedulers\)$"):
        create_method("idr", checkpoint=str(state))


def test_listed_with_its_tables_and_settings(capsys):
    from bench.cli import main

    rows = {r["name"]: r for r in list_methods()}
    assert rows["idr"]["tables"] == "1,3,4,5" and rows["idr"]["task"] == "all-in-one"
    assert record_name("idr") == "idr"
    assert main(["methods", "info", "idr"]) == 0
    out = capsys.readouterr().out
    assert "released files: none (self-trained weights)" in out
    assert "the authors' 5-task setting: denoise, derain, dehaze, deblur, lowlight" in out
    assert "the authors' 3-task setting: denoise, derain, dehaze" in out
    assert "parameters: 12,262,448" in out


def test_profile_configuration():
    from baselines.published.idr.method import method as idr_method
    from bench.profile import configs as C

    assert C.CONFIGS["idr"].family == "baseline"
    model = _small()
    method = idr_method(model, {"inp_channels": 3, "out_channels": 3, "svd_device": "auto"}, None)
    x = _image(16, 24)
    with torch.no_grad():
        assert torch.equal(C.method_call(method)(x), model(x))
