"""DiffUIR (``diffuir[:tiny|small|base|large]``): the authors' checkpoint format, the sampler, the seeds.

A tiny network (dim 8) with random weights is saved as the authors' ``Trainer.save`` writes
``model-<n>.pt`` (``step``, ``model``: the diffusion wrapper's state dict, ``opt0``, ``ema``: the
ema-pytorch state dict, ``scaler``), with EMA weights that differ from the online ones; it must load
through the method and give bit-identical results to the reimplementation called directly. The
sampler's steps are checked against the update rule computed independently in float64; the
per-image noise against batch composition; parameter counts at the four released sizes against the
authors' README. (The forward and the sampling were compared with the authors' own code outside the
repository; docs/BASELINES.md reports it.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from abair.errors import UserError
from baselines.base import RestoreContext
from baselines.published.diffuir.arch import (
    DIFFUIR_SIZES,
    DiffUIRNet,
    ResidualSchedule,
    diffuir_config,
    diffuir_size,
    equalize_hist,
)
from baselines.published.diffuir.method import SEED_RULE, image_seed
from baselines.published.diffuir.method import make as make_diffuir
from baselines.published.restormer.arch import Restormer
from bench.methods import create_method, record_name
from port_helpers import quantised as _images
from port_helpers import randomised as _randomised

TINY = {"dim": 8, "dim_mults": (1, 1, 2, 2)}
SMALL_RESTORMER = {"dim": 8, "num_blocks": (1, 1, 1, 1), "num_refinement_blocks": 1, "heads": (1, 2, 4, 8)}
#: the schedule buffers the authors' ResidualDiffusion registers (saved in its state dict)
BUFFERS = ("alphas", "alphas_cumsum", "delta", "delta_cumsum", "one_minus_alphas_cumsum", "betas2", "betas",
           "betas2_cumsum", "betas_cumsum", "posterior_mean_coef1", "posterior_mean_coef2", "posterior_mean_coef3",
           "posterior_variance", "posterior_log_variance_clipped")




def _wrapper_state(net: torch.nn.Module, delta_end: float = 1.8e-3) -> dict:
    """The state dict of the authors' ResidualDiffusion around ``net``: its buffers, then ``model.*``."""
    state = {name: torch.zeros(1000) for name in BUFFERS}
    state["delta"] = torch.linspace(1e-6, delta_end, 1000)
    state["delta_cumsum"] = state["delta"].cumsum(0)
    state.update({f"model.{k}": v.clone() for k, v in net.state_dict().items()})
    return state


def _save_trainer_file(path, online: torch.nn.Module, ema: torch.nn.Module, step: int = 300000) -> None:
    """``torch.save`` of the authors' ``Trainer.save``: the EMA's keys as ema-pytorch writes them."""
    ema_state = {"initted": torch.tensor(True), "step": torch.tensor(step // 10)}
    ema_state.update({f"online_model.{k}": v for k, v in _wrapper_state(online).items()})
    ema_state.update({f"ema_model.{k}": v for k, v in _wrapper_state(ema).items()})
    params = list(online.parameters())[:2]
    opt = {"state": {i: {"step": torch.tensor(float(step)), "exp_avg": torch.zeros_like(p),
                         "exp_avg_sq": torch.zeros_like(p)} for i, p in enumerate(params)},
           "param_groups": [{"lr": 8e-5, "betas": (0.9, 0.99), "eps": 1e-8, "weight_decay": 0, "amsgrad": False,
                             "maximize": False, "foreach": None, "capturable": True, "differentiable": False,
                             "fused": None, "params": [0, 1]}]}
    torch.save({"step": step, "model": _wrapper_state(online), "opt0": opt, "ema": ema_state, "scaler": None}, path)


def _pair(seed: int = 0) -> tuple[DiffUIRNet, DiffUIRNet]:
    online = _randomised(DiffUIRNet(**TINY), seed)
    ema = _randomised(DiffUIRNet(**TINY), seed + 1)
    return online, ema




def _ctx(ids, task: str = "derain", dataset: str = "unit-set") -> RestoreContext:
    return RestoreContext(dataset=dataset, task=task, image_ids=tuple(ids))


def _direct(net, x, z, steps: int = 3) -> torch.Tensor:
    """The sampler called directly on each image (the method samples the images of a batch one by one)."""
    with torch.no_grad():
        return torch.cat([ResidualSchedule(steps=steps).sample(net, 2 * x[i:i + 1] - 1, z[i:i + 1])
                          for i in range(len(x))])


@pytest.fixture(scope="module")
def trainer_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("diffuir") / "model-300.pt"
    online, ema = _pair()
    _save_trainer_file(path, online, ema)
    return path, online, ema


# ----------------------------------------------------------------------------- the file and the outputs


def test_trainer_file_loads_ema_and_gives_identical_outputs(trainer_file):
    path, online, ema = trainer_file
    method = create_method("diffuir", checkpoint=str(path), max_batch=2)
    assert method.name == "diffuir" and method.multiple_of == 1
    assert method.arch_config == {"dim": 8, "dim_mults": (1, 1, 2, 2), "channels": 3, "condition": True,
                                  "resnet_block_groups": 8}
    loaded = method.net.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in ema.state_dict().items())  # the EMA weights, as test.py
    assert not torch.equal(loaded["unet0.init_conv.weight"], online.state_dict()["unet0.init_conv.weight"])

    x = _images(2, 37, 53)  # not a multiple of 16: the network pads and crops itself
    ctx = _ctx(["img-a", "img-b"])
    out = method.restore(x, ctx)
    z = torch.stack([torch.randn((3, 37, 53), generator=torch.Generator().manual_seed(image_seed(0, "unit-set", i)))
                     for i in ("img-a", "img-b")])
    direct = _direct(ema, x, z)
    assert out.shape == x.shape and torch.equal(out, direct)
    assert 0 <= out.min() and out.max() <= 1  # (x0 + 1) / 2 with x0 clipped to [-1, 1]

    cfg = method.config()
    assert cfg["steps"] == 3 and cfg["seed"] == 0 and cfg["seed_rule"] == SEED_RULE and cfg["weights"] == "ema"
    assert cfg["weights_read"] == "'ema', keys ema_model.model.unet0.*" and cfg["checkpoint_step"] == 300000
    assert cfg["checkpoint_delta_end"] == pytest.approx(1.8e-3, rel=1e-6)
    assert cfg["sampler"]["times"] == [999, 665, 332] and cfg["sampler"]["initial_noise_std"] == pytest.approx(0.1)
    assert cfg["pipeline"]["source"].startswith("iSEE-Laboratory/DiffUIR test.py, src/model.py")
    assert cfg["arch_config"]["dim_mults"] == [1, 1, 2, 2] and cfg["size"] is None

    online_method = make_diffuir(checkpoint=str(path), weights="model")
    with torch.no_grad():
        assert torch.equal(online_method.restore(x, ctx), _direct(online, x, z))
    assert online_method.config()["weights_read"] == "'model', keys model.unet0.*"


def test_bare_network_state_dict_and_steps_option(tmp_path, trainer_file):
    _, _, ema = trainer_file
    bare = tmp_path / "net.pth"
    torch.save({f"module.{k}": v for k, v in ema.state_dict().items()}, bare)
    method = create_method("diffuir", checkpoint=str(bare), steps=5, seed=11)
    x = _images(1, 32, 24)
    z = torch.randn((1, 3, 32, 24), generator=torch.Generator().manual_seed(image_seed(11, "unit-set", "q")))
    with torch.no_grad():
        assert torch.equal(method.restore(x, _ctx(["q"])), ResidualSchedule(steps=5).sample(ema, 2 * x - 1, z))
    assert method.config()["sampler"]["times"] == [999, 799, 599, 399, 199]


# ----------------------------------------------------------------------------- the sampler


def _schedule64(delta_end: float = 1.8e-3):
    betas = np.linspace(1e-4, 0.02, 1000)
    abar = np.cumprod(1 - betas)
    return 1 - np.sqrt(abar), np.clip(np.cumsum(np.linspace(1e-6, delta_end, 1000)), 0, 1)


class _Recorder(torch.nn.Module):
    """A stand-in network: out = 1.7 x_t - 0.4 y (it leaves [-1, 1], so the clipping matters); records times."""

    def __init__(self):
        super().__init__()
        self.times = []

    def forward(self, x, t):
        self.times.append(t.clone())
        return 1.7 * x[:, :3] - 0.4 * x[:, 3:]


@pytest.mark.parametrize("steps", [1, 3])
def test_sampler_steps_equal_the_update_rule(steps):
    ac, dc = _schedule64()
    assert dc[-1] == pytest.approx(0.9005, abs=1e-12)  # sum of linspace(1e-6, 1.8e-3, 1000)
    times = {1: [999, -1], 3: [999, 665, 332, -1]}[steps]
    schedule = ResidualSchedule(steps=steps)
    assert schedule.pairs == list(zip(times[:-1], times[1:], strict=True))

    gen = torch.Generator().manual_seed(5)
    y = torch.rand(2, 3, 9, 7, generator=gen) * 2 - 1
    z = torch.randn(2, 3, 9, 7, generator=gen)
    net = _Recorder()
    out = schedule.sample(net, y, z)

    y64, z64 = y.double().numpy(), z.double().numpy()
    x = (1 - dc[999]) * y64 + math.sqrt(0.01) * z64  # the first state
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        res = np.clip(1.7 * x - 0.4 * y64, -1, 1)
        x0 = np.clip(y64 - res, -1, 1)
        x = x0 if t_next < 0 else x - (ac[t] - ac[t_next]) * res + (dc[t] - dc[t_next]) * y64
    expected = (x + 1) / 2
    assert np.abs(out.double().numpy() - expected).max() < 2e-5
    assert len(net.times) == steps
    for recorded, t in zip(net.times, times[:-1], strict=True):
        assert recorded.shape == (2,) and recorded.dtype == torch.float32
        assert recorded.double().numpy() == pytest.approx([1000 * ac[t]] * 2, rel=1e-5)
    assert net.times[0][0].item() == pytest.approx(1000 * (1 - math.sqrt(np.prod(1 - np.linspace(1e-4, 0.02, 1000)))),
                                                   rel=1e-5)


def test_steps_are_checked():
    with pytest.raises(UserError, match=r"^diffuir\.steps must be an integer from 1 to 999, got 1000$"):
        make_diffuir(checkpoint="/nowhere/model-300.pt", steps=1000)
    with pytest.raises(UserError, match=r"^diffuir\.equalize must be one of lowlight, never, always, got 'yes'$"):
        make_diffuir(checkpoint="/nowhere/model-300.pt", equalize="yes")


# ----------------------------------------------------------------------------- per-image seeds


def test_per_image_seeds_do_not_depend_on_the_batch(trainer_file):
    path, _, _ = trainer_file
    method = make_diffuir(checkpoint=str(path), max_batch=3)
    x = _images(3, 24, 40, seed=9)
    ids = ["a-r0c0", "a-r0c1", "b-r1c1"]
    batch = method.restore(x, _ctx(ids))
    alone = method.restore(x[1:2], _ctx(ids[1:2]))
    assert torch.equal(method.noise(_ctx(ids), x)[1], method.noise(_ctx(ids[1:2]), x[1:2])[0])
    assert torch.equal(batch[1:2], alone)  # images of a batch are sampled one by one: bit for bit
    moved = method.restore(x[[1, 0, 2]], _ctx([ids[1], ids[0], ids[2]]))  # the same image elsewhere in a batch
    assert torch.equal(moved[0], alone[0])

    other = make_diffuir(checkpoint=str(path), seed=1)
    assert (other.restore(x[1:2], _ctx(ids[1:2])) - alone).abs().max() > 1e-3
    renamed = method.restore(x[1:2], _ctx(["another-id"]))
    assert (renamed - alone).abs().max() > 1e-3
    assert image_seed(0, "unit-set", "a-r0c1") == int.from_bytes(
        __import__("hashlib").sha256(b"diffuir|0|unit-set|a-r0c1").digest()[:8], "big") & (2 ** 63 - 1)


# ----------------------------------------------------------------------------- the low-light input


def test_equalize_hist_small_example_and_opencv():
    plane = np.array([[0, 0, 50, 60], [70, 80, 90, 100]], dtype=np.uint8)
    x = torch.from_numpy(np.stack([plane, plane, np.full_like(plane, 7)]))[None].float() / 255
    out = torch.round(equalize_hist(x) * 255).to(torch.uint8)[0].numpy()
    # 6 pixels above the lowest level: level k maps to round-half-even(k-th count * 255 / 6) = 42.5 -> 42, ...
    assert out[0].tolist() == [[0, 0, 42, 85], [128, 170, 212, 255]]
    assert out[2].tolist() == [[7] * 4] * 2  # a constant channel is left as it is
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    for low, high in ((0, 256), (3, 40), (200, 202)):
        img = rng.integers(low, high, (2, 3, 21, 17), dtype=np.uint8)
        ours = torch.round(equalize_hist(torch.from_numpy(img).float() / 255) * 255).to(torch.uint8).numpy()
        theirs = np.stack([np.stack([cv2.equalizeHist(np.ascontiguousarray(c)) for c in im]) for im in img])
        assert np.array_equal(ours, theirs)


def test_equalize_only_low_light_sets_by_default(trainer_file):
    path, _, _ = trainer_file
    x = _images(1, 16, 16) * 0.2  # dark
    default, never = make_diffuir(checkpoint=str(path)), make_diffuir(checkpoint=str(path), equalize="never")
    assert torch.equal(default.preprocess(x, _ctx(["i"], task="lowlight")), equalize_hist(x))
    assert torch.equal(default.preprocess(x, _ctx(["i"], task="derain")), x)
    assert torch.equal(never.preprocess(x, _ctx(["i"], task="lowlight")), x)
    assert default.config()["equalize"] == "lowlight"


# ----------------------------------------------------------------------------- sizes and names


def test_parameter_counts_of_the_released_sizes():
    counts = {"tiny": 886_435, "small": 3_268_643, "base": 12_406_851, "large": 36_261_187}  # README: 0.89M .. 36.26M
    for size, expected in counts.items():
        with torch.device("meta"):
            net = DiffUIRNet(**DIFFUIR_SIZES[size])
        assert sum(p.numel() for p in net.parameters()) == expected
        state = net.state_dict()
        assert len(state) == 276
        cfg = diffuir_config(state)
        assert (cfg["dim"], cfg["dim_mults"], cfg["condition"]) == (DIFFUIR_SIZES[size]["dim"],
                                                                   DIFFUIR_SIZES[size]["dim_mults"], True)
        assert diffuir_size(cfg) == size
    assert tuple(state["unet0.init_conv.weight"].shape) == (64, 6, 7, 7)
    assert tuple(state["unet0.downs.2.3.weight"].shape) == (256, 128, 4, 4)
    assert tuple(state["unet0.downs.3.3.weight"].shape) == (512, 256, 3, 3)
    assert tuple(state["unet0.ups.0.3.1.weight"].shape) == (256, 512, 3, 3)
    assert tuple(state["unet0.mid_attn.fn.fn.to_qkv.weight"].shape) == (384, 512, 1, 1)
    assert tuple(state["unet0.downs.0.2.fn.norm.g"].shape) == (1, 64, 1, 1)
    assert tuple(state["unet0.final_res_block.res_conv.weight"].shape) == (64, 128, 1, 1)


def test_variants_and_record_names(tmp_path):
    assert record_name("diffuir") == "diffuir" and record_name("diffuir:large") == "diffuir:large"
    with pytest.raises(UserError) as err:
        create_method("diffuir:lage", checkpoint="/nowhere.pt")
    assert str(err.value) == ("'diffuir:lage' is not a variant of diffuir (did you mean 'large'?); its variants: "
                              "diffuir:tiny, diffuir:small, diffuir:base, diffuir:large")
    with pytest.raises(UserError, match=r"^method 'diffuir:tiny' needs the authors' weights: pass --method-arg "
                                        r"diffuir:tiny\.checkpoint=PATH \(the release file model-300\.pt of the Tiny folder; "):
        create_method("diffuir:tiny")
    path = tmp_path / "model-300.pt"
    tiny = _randomised(DiffUIRNet(**DIFFUIR_SIZES["tiny"]), 4)
    _save_trainer_file(path, tiny, tiny)
    method = create_method("diffuir:tiny", checkpoint=str(path))
    assert method.name == "diffuir:tiny" and method.config()["tasks"] == ["derain", "desnow", "dehaze", "deblur",
                                                                         "lowlight"]
    with pytest.raises(UserError) as err:
        create_method("diffuir:large", checkpoint=str(path))
    assert str(err.value) == (f"checkpoint {path.resolve()} is not DiffUIR-L (dim 64, mults 1-2-4-8): it has dim 32, "
                              "mults 1-1-1-1 (the tiny model: use --methods diffuir:tiny)")


# ----------------------------------------------------------------------------- wrong files


def test_wrong_files_are_one_line(tmp_path, trainer_file):
    good, _, _ = trainer_file
    restormer = tmp_path / "deraining.pth"
    torch.save({"params": Restormer(**SMALL_RESTORMER).state_dict()}, restormer)
    with pytest.raises(UserError) as err:
        make_diffuir(checkpoint=str(restormer))
    msg = str(err.value)
    assert msg.startswith(f"checkpoint {restormer.resolve()} is not a DiffUIR checkpoint: 276 missing keys (e.g. "
                          "unet0.init_conv.weight, ")
    assert msg.endswith("(it looks like a Restormer checkpoint: use --methods restormer)") and "\n" not in msg

    with pytest.raises(UserError) as err:
        create_method("restormer", checkpoint=str(good))
    assert str(err.value).endswith("(it looks like a DiffUIR checkpoint: use --methods diffuir)")

    truncated = tmp_path / "model-300.pt"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(UserError, match=r"is truncated or corrupt: its zip archive cannot be read \(5000 bytes\); "
                                        r"download it again$"):
        make_diffuir("large", checkpoint=str(truncated))
    text = tmp_path / "model-299.pt"
    text.write_text("<!DOCTYPE html><html><body>Google Drive - Virus scan warning</body></html>\n")
    with pytest.raises(UserError) as err:
        make_diffuir(checkpoint=str(text))
    assert str(err.value).startswith(f"checkpoint {text.resolve()} is not a checkpoint but ") and "\n" not in str(err.value)

    only_model = tmp_path / "online-only.pt"
    obj = torch.load(good, weights_only=True)
    del obj["ema"]
    torch.save(obj, only_model)
    with pytest.raises(UserError, match=r"^checkpoint .*online-only\.pt has no 'ema' state dict \(it has 'model': "
                                        r"pass weights=model\)$"):
        make_diffuir(checkpoint=str(only_model))


def test_profile_configuration_runs_the_whole_sampling():
    from baselines.published.diffuir.method import DiffUIRMethod, image_seed
    from bench.profile import configs as C

    assert C.CONFIGS["diffuir"].family == "baseline"
    net = _randomised(DiffUIRNet(**TINY), 2)
    method = DiffUIRMethod(net, None, dict(TINY), {})
    x = _images(1, 20, 28)
    gen = torch.Generator().manual_seed(image_seed(0, "profile", "profile/0"))
    z = torch.randn((1, 3, 20, 28), generator=gen)
    with torch.no_grad():
        assert torch.equal(C.method_call(method)(x), ResidualSchedule().sample(net, 2 * x - 1, z))
