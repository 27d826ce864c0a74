"""DA-CLIP (``daclip``) runs from its authors' two files: the encoder, the IR-SDE network, the sampler.

Tiny configurations of both networks with random weights are saved in the authors' exact formats
(the open_clip training checkpoint of the whole DaCLIP module, with its text tower, the duplicate
``clip.visual.*`` tower and DistributedDataParallel's ``module.``; the bare state dict of the
ConditionalUNet), loaded through the method and compared with the re-implementation called
directly. The reverse process is checked against a float64 computation of the authors' formulas,
the encoder input against torchvision's transforms (the authors' own calls), per-image seeding
against batch composition, the parameter counts at the released configuration against the
authors' code (counted there: network 48,975,747; DaCLIP 246,213,634 with the text tower).
"""

from __future__ import annotations

import hashlib
import math

import pytest
import torch

from abair.errors import UserError
from baselines.base import RestoreContext
from baselines.published.daclip.arch import ConditionalUNet
from baselines.published.daclip.encoder import DaCLIPImageEncoder, select_image_side
from baselines.published.daclip.irsde import IRSDESchedule
from baselines.published.daclip.load import clip_preprocess
from baselines.published.daclip.method import image_seed
from baselines.published.restormer.arch import Restormer
from bench.methods import create_method, list_methods
from port_helpers import quantised as _image
from port_helpers import randomised as _randomised

TINY_ENCODER = {"image_size": 64, "patch_size": 32, "width": 128, "layers": 2, "output_dim": 32}
TINY_UNET = {"nf": 8, "ch_mult": (1, 2, 4, 8), "context_dim": 32}
CTX = RestoreContext(dataset="mini-derain", task="derain", image_ids=("a",))


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: threads only add contention
    yield
    torch.set_num_threads(threads)




def _networks():
    torch.manual_seed(0)
    return (_randomised(DaCLIPImageEncoder(**TINY_ENCODER), 1, 0.02),
            _randomised(ConditionalUNet(**TINY_UNET), 2, 0.05))


def _text_side(width: int = 32) -> dict[str, torch.Tensor]:
    """A few tensors standing for the text tower and logit scales of the authors' DaCLIP state dict."""
    return {"clip.transformer.resblocks.0.attn.in_proj_weight": torch.randn(3 * width, width),
            "clip.token_embedding.weight": torch.randn(10, width), "clip.positional_embedding": torch.randn(7, width),
            "clip.ln_final.weight": torch.ones(width), "clip.ln_final.bias": torch.zeros(width),
            "clip.text_projection": torch.randn(width, 32), "clip.logit_scale": torch.tensor(4.6),
            "logit_scale": torch.tensor(4.6)}


def _save_daclip(path, encoder: DaCLIPImageEncoder) -> int:
    """The open_clip training checkpoint of the authors' DaCLIP module (DDP keys, optimizer state): the frozen
    tower under both ``visual.`` and ``clip.visual.``, the controller, the text side. Returns the keys left out."""
    sd = encoder.state_dict()
    full = {**sd, **{"clip." + k: v for k, v in sd.items() if k.startswith("visual.")}, **_text_side()}
    first = next(iter(encoder.parameters()))
    torch.save({"epoch": 30, "name": "daclip_ViT-B-32",
                "state_dict": {"module." + k: v for k, v in full.items()},
                "optimizer": {"state": {0: {"step": torch.tensor(9.0), "exp_avg": torch.zeros_like(first)}},
                              "param_groups": [{"lr": 3e-5, "betas": (0.9, 0.98), "params": [0]}]}}, path)
    return len(full) - len(sd)


def _files(tmp_path):
    encoder, unet = _networks()
    clip, ckpt = tmp_path / "daclip_ViT-B-32.pt", tmp_path / "universal-ir.pth"
    left_out = _save_daclip(clip, encoder)
    torch.save(unet.state_dict(), ckpt)  # the authors' save_network: the bare state dict
    return encoder, unet, clip, ckpt, left_out




# ----------------------------------------------------------------------------- the released configuration


def test_parameter_counts_at_the_released_configuration():
    with torch.device("meta"):
        unet, encoder = ConditionalUNet(), DaCLIPImageEncoder()
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(unet) == 48_975_747  # the authors' ConditionalUNet(3, 3, 64, [1, 2, 4, 8], 512, True, True)
    assert count(encoder.visual) == 87_849_216  # open_clip ViT-B/32 image tower
    assert count(encoder.visual_control) == 94_936_320  # the same + 12 linear layers of 768 x 768 + 768
    assert count(encoder.visual_control) - count(encoder.visual) == 12 * (768 * 768 + 768)
    assert count(encoder) == 182_785_536
    assert len(unet.state_dict()) == 224 and len(encoder.state_dict()) == 152 + 176  # the authors' key counts
    shapes = {k: tuple(v.shape) for k, v in encoder.state_dict().items()}
    assert shapes["visual.positional_embedding"] == (50, 768) and shapes["visual.proj"] == (768, 512)
    assert shapes["visual_control.transformer.transformer.resblocks.11.attn.in_proj_weight"] == (2304, 768)
    assert shapes["visual_control.transformer.zero_modules.11.bias"] == (768,)
    ushapes = {k: tuple(v.shape) for k, v in unet.state_dict().items()}
    assert ushapes["init_conv.weight"] == (64, 6, 7, 7) and ushapes["prompt"] == (1, 256)
    assert ushapes["downs.3.2.fn.fn.transformer_blocks.0.attn2.to_k.weight"] == (256, 512)
    assert ushapes["mid_attn.fn.fn.transformer_blocks.0.ff.net.0.proj.weight"] == (4096, 512)
    assert ushapes["downs.2.2.fn.fn.to_qkv.weight"] == (384, 128, 1, 1)  # linear attention, 4 heads of 32
    assert ushapes["ups.0.3.1.weight"] == (256, 512, 3, 3)


# ----------------------------------------------------------------------------- the authors' files, through the method


def test_released_formats_load_and_match_the_direct_computation(tmp_path):
    encoder, unet, clip, ckpt, left_out = _files(tmp_path)
    method = create_method("daclip", checkpoint=str(ckpt), clip=str(clip), steps=4, seed=7)
    assert method.name == "daclip" and method.multiple_of == 1
    x = _image(1, 21, 30)  # not a multiple of 16: the network pads and crops inside
    out = method.restore(x, CTX)

    # the same computation written out with the original modules
    with torch.no_grad():
        content, degradation = encoder(clip_preprocess(x, 64))
        schedule = IRSDESchedule(steps=4)
        gen = torch.Generator().manual_seed(image_seed(7, "mini-derain", "a"))
        state = x + torch.randn((3, 21, 30), generator=gen)[None] * (50 / 255)
        for t in (4, 3, 2, 1):
            noise = unet(state, x, t * 25.0, text_context=degradation, image_context=content)
            state = schedule.posterior_step(state, x, noise, t, torch.randn((3, 21, 30), generator=gen)[None])
    assert out.shape == x.shape
    assert torch.equal(out, state)

    cfg = method.config()
    assert cfg["checkpoint_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert cfg["clip_sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert cfg["steps"] == 4 and cfg["seed"] == 7 and cfg["sampler"]["sampling"] == "posterior"
    assert cfg["sampler"]["network_time"] == "t * 100/4 for t = 4..1"
    assert cfg["seed_rule"].startswith("per image: torch.Generator (CPU) seeded with seed_from_string('daclip', seed, ")
    assert cfg["arch_config"]["unet"] == {"in_nc": 3, "out_nc": 3, "nf": 8, "ch_mult": [1, 2, 4, 8], "context_dim": 32,
                                          "use_degra_context": True, "use_image_context": True}
    assert cfg["arch_config"]["encoder"] == {**TINY_ENCODER, "head_width": 64, "mlp_ratio": 4.0,
                                             "keys_left_out": left_out}
    assert left_out == (8 + 2 * 12) + 8  # the duplicate frozen tower (8 + 12 per block) and the 8 text-side tensors
    assert "config/daclip-sde/test.py" in cfg["pipeline"]["source"]


def test_the_frozen_tower_takes_the_controller_layers_in_reverse_order():
    encoder, _ = _networks()
    x = clip_preprocess(_image(2, 40, 33), 64)
    with torch.no_grad():
        content, degradation = encoder(x)
        ctrl, tower = encoder.visual_control, encoder.visual
        h, residuals = ctrl.tokens(x), []
        for block, linear in zip(ctrl.transformer.resblocks, ctrl.transformer.zero_modules, strict=True):
            h = block(h)
            residuals.append(linear(h))
        assert torch.equal(degradation, ctrl.ln_post(h[:, 0]) @ ctrl.proj)

        def frozen(order):
            y = tower.tokens(x)
            for block, r in zip(tower.transformer.resblocks, order, strict=True):
                y = block(y) + r
            return tower.ln_post(y[:, 0]) @ tower.proj

        assert torch.equal(content, frozen(residuals[::-1]))
        assert (content - frozen(residuals)).abs().max() > 1e-3  # the order matters with these weights


def test_clip_input_equals_torchvisions_transforms():
    """The authors' clip_transform: PIL image of (x * 255).astype(uint8), Resize(224, bicubic), CenterCrop(224),
    ToTensor, Normalize (data/util.py); computed here with torchvision itself."""
    np = pytest.importorskip("numpy")
    transforms = pytest.importorskip("torchvision.transforms")
    from PIL import Image

    theirs = transforms.Compose([
        transforms.Resize(224, interpolation=transforms.InterpolationMode.BICUBIC), transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))])
    for h, w in ((21, 30), (300, 250), (224, 225)):
        x = _image(1, h, w, seed=h)
        array = (x[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        expected = theirs(Image.fromarray(array))[None]
        assert torch.equal(clip_preprocess(x, 224), expected), (h, w)


# ----------------------------------------------------------------------------- the sampler


def _schedule_float64(steps: int, max_sigma: float = 50 / 255, eps: float = 0.005, s: float = 0.008):
    """The authors' IRSDE schedule (cosine_theta_schedule, get_sigma_bars, dt) in float64 from the formulas."""
    n = steps + 2
    abar = [math.cos(((i / n) + s) / (1 + s) * math.pi / 2) ** 2 for i in range(n + 1)]
    thetas = [1 - a / abar[0] for a in abar[1:-1]]
    cumsum = [sum(thetas[: t + 1]) - thetas[0] for t in range(steps + 1)]
    dt = -math.log(eps) / cumsum[-1]
    sigma_bars = [max_sigma * math.sqrt(1 - math.exp(-2 * c * dt)) for c in cumsum]
    return thetas, cumsum, dt, sigma_bars


def test_schedule_and_reverse_steps_equal_the_formulas():
    sched = IRSDESchedule(steps=100)
    thetas, cumsum, dt, sigma_bars = _schedule_float64(100)
    assert len(sched.thetas) == 101
    assert torch.allclose(sched.thetas.double(), torch.tensor(thetas, dtype=torch.float64), rtol=1e-5, atol=1e-7)
    assert float(sched.dt) == pytest.approx(dt, rel=1e-5)
    assert torch.allclose(sched.sigma_bars.double(), torch.tensor(sigma_bars, dtype=torch.float64), atol=1e-6)
    assert math.exp(-cumsum[-1] * dt) == pytest.approx(0.005)  # the process ends at eps of the way
    lam = 50 / 255
    gen = torch.Generator().manual_seed(0)
    xt, mu, noise, z = (torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64) for _ in range(4))
    for t in (100, 57, 2, 1):
        th, c_t, c_prev = thetas[t], cumsum[t], cumsum[t - 1]
        # posterior sampling: x0 from the predicted noise, the optimal mean, the posterior standard deviation
        x0 = (xt - mu - sigma_bars[t] * noise) * math.exp(c_t * dt) + mu
        a, b, c = math.exp(-th * dt), math.exp(-c_t * dt), math.exp(-c_prev * dt)
        mean = a * (1 - c * c) / (1 - b * b) * (xt - mu) + c * (1 - a * a) / (1 - b * b) * (x0 - mu) + mu
        var = (1 - a * a) * (1 - c * c) / (1 - b * b)
        expected = mean + lam * math.sqrt(max(var, 1e-20 * dt)) * z
        got = sched.posterior_step(xt.float(), mu.float(), noise.float(), t, z.float())
        # float32 as the authors compute it: 1 - B^2 loses digits near t = 1 (relative error about 1e-4)
        assert torch.allclose(got.double(), expected, rtol=1e-3, atol=1e-4), t
        # the reverse SDE's Euler-Maruyama step
        sigma2 = lam * lam * 2 * th
        expected = xt - (th * (mu - xt) + sigma2 * noise / sigma_bars[t]) * dt - math.sqrt(sigma2) * math.sqrt(dt) * z
        got = sched.sde_step(xt.float(), mu.float(), noise.float(), t, z.float())
        assert torch.allclose(got.double(), expected, atol=1e-4), t
    # with the true noise of x_t, the posterior mean step recovers x0 exactly where it is defined
    x0 = torch.rand(1, 3, 4, 4, generator=gen)
    t = 40
    xt = mu[:1, :, :4, :4].float() + (x0 - mu[:1, :, :4, :4].float()) * math.exp(-cumsum[t] * dt)
    true_noise = torch.randn(1, 3, 4, 4, generator=gen)
    xt = xt + sigma_bars[t] * true_noise
    assert torch.allclose(sched.x0_from_noise(xt, mu[:1, :, :4, :4].float(), true_noise, t), x0, atol=1e-4)


def test_fewer_steps_rescale_the_network_time():
    sched = IRSDESchedule(steps=20)
    assert sched.model_time(20) == 100.0 and sched.model_time(1) == 5.0
    thetas, _, dt, _ = _schedule_float64(20)
    assert float(sched.dt) == pytest.approx(dt, rel=1e-5) and len(sched.thetas) == 21


# ----------------------------------------------------------------------------- seeding


def test_seed_rule_is_sha256_of_the_names():
    digest = hashlib.sha256(b"daclip|0|mini-derain|astronaut-r0c0").digest()
    assert image_seed(0, "mini-derain", "astronaut-r0c0") == int.from_bytes(digest[:8], "big") & (2 ** 63 - 1)
    assert len({image_seed(0, "d", "a"), image_seed(1, "d", "a"), image_seed(0, "e", "a"), image_seed(0, "d", "b")}) == 4


def test_per_image_seeding_is_independent_of_the_batch(tmp_path):
    _, _, clip, ckpt, _ = _files(tmp_path)
    method = create_method("daclip", checkpoint=str(ckpt), clip=str(clip), steps=3)
    x = _image(3, 20, 24)
    ids = ("a", "b", "c")
    together = method.restore(x, RestoreContext("mini-derain", "derain", ids))
    alone = torch.cat([method.restore(x[i:i + 1], RestoreContext("mini-derain", "derain", (ids[i],))) for i in range(3)])
    assert torch.equal(together, alone)
    reordered = method.restore(x[[2, 0]], RestoreContext("mini-derain", "derain", ("c", "a")))
    assert torch.equal(reordered, together[[2, 0]])
    # another base seed, another dataset name: other draws, other outputs; the same seed: the same output
    other = create_method("daclip", checkpoint=str(ckpt), clip=str(clip), steps=3, seed=1)
    assert (other.restore(x[:1], RestoreContext("mini-derain", "derain", ("a",))) - together[:1]).abs().max() > 1e-3
    assert (method.restore(x[:1], RestoreContext("mini-dehaze", "dehaze", ("a",))) - together[:1]).abs().max() > 1e-3
    assert torch.equal(method.restore(x[:1], RestoreContext("mini-derain", "derain", ("a",))), together[:1])


def test_sde_sampling_option(tmp_path):
    _, _, clip, ckpt, _ = _files(tmp_path)
    post = create_method("daclip", checkpoint=str(ckpt), clip=str(clip), steps=2)
    sde = create_method("daclip", checkpoint=str(ckpt), clip=str(clip), steps=2, sampling="sde")
    x = _image(1, 16, 16)
    assert sde.config()["sampler"]["sampling"] == "sde"
    assert (sde.restore(x, CTX) - post.restore(x, CTX)).abs().max() > 1e-3
    with pytest.raises(UserError, match=r"^daclip\.sampling must be one of posterior, sde, got 'ode'$"):
        create_method("daclip", checkpoint=str(ckpt), clip=str(clip), sampling="ode")
    with pytest.raises(UserError, match=r"^daclip\.steps must be a positive integer, got 0$"):
        create_method("daclip", checkpoint=str(ckpt), clip=str(clip), steps=0)


# ----------------------------------------------------------------------------- wrong files: one line


def test_missing_and_swapped_files(tmp_path):
    _, _, clip, ckpt, _ = _files(tmp_path)
    with pytest.raises(UserError) as err:
        create_method("daclip", checkpoint=str(ckpt))
    assert str(err.value) == ("method 'daclip' needs the authors' two files: pass --method-arg daclip.clip=PATH "
                              "(daclip_ViT-B-32.pt) (see docs/BASELINES.md, nothing is downloaded)")
    with pytest.raises(UserError) as err:
        create_method("daclip", checkpoint=str(clip), clip=str(ckpt))
    assert str(err.value) == (f"daclip.checkpoint: checkpoint {clip} is not DA-CLIP's restoration network but the "
                              "DA-CLIP encoder (daclip_ViT-B-32.pt): pass it as daclip.clip=PATH")
    with pytest.raises(UserError) as err:
        create_method("daclip", checkpoint=str(ckpt), clip=str(ckpt))
    assert str(err.value) == (f"daclip.clip: checkpoint {ckpt} is not DA-CLIP's encoder but the restoration network "
                              "(universal-ir.pth): pass it as daclip.checkpoint=PATH")
    with pytest.raises(UserError, match=r"^daclip\.clip: checkpoint \S+nowhere\.pt does not exist"):
        create_method("daclip", checkpoint=str(ckpt), clip=str(tmp_path / "nowhere.pt"))


def test_another_architectures_file_truncated_and_text_files(tmp_path):
    _, _, clip, ckpt, _ = _files(tmp_path)
    restormer = tmp_path / "deraining.pth"
    torch.save({"params": Restormer(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1).state_dict()}, restormer)
    for option, display in (("checkpoint", "DA-CLIP restoration network"), ("clip", "DA-CLIP encoder")):
        files = {"checkpoint": str(ckpt), "clip": str(clip), option: str(restormer)}
        with pytest.raises(UserError) as err:
            create_method("daclip", **files)
        text = str(err.value)
        assert text.startswith(f"daclip.{option}: checkpoint {restormer} is not a {display} checkpoint: ")
        assert text.endswith("(it looks like a Restormer checkpoint: use --methods restormer)") and "\n" not in text
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes(clip.read_bytes()[:4000])
    with pytest.raises(UserError) as err:
        create_method("daclip", checkpoint=str(ckpt), clip=str(truncated))
    assert str(err.value) == (f"daclip.clip: checkpoint {truncated} is truncated or corrupt: its zip archive cannot "
                              "be read (4000 bytes); download it again")
    text_file = tmp_path / "universal-ir.txt"
    text_file.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 195000000\n")
    with pytest.raises(UserError) as err:
        create_method("daclip", checkpoint=str(text_file), clip=str(clip))
    assert str(err.value).startswith(f"daclip.checkpoint: checkpoint {text_file} is not a checkpoint but ")
    assert "\n" not in str(err.value)
    # and the other way round: DA-CLIP's network given to another method is named
    with pytest.raises(UserError) as err:
        create_method("restormer", checkpoint=str(ckpt))
    assert str(err.value).endswith("(it looks like a DA-CLIP checkpoint: use --methods daclip)")


def test_image_side_selection_keeps_every_unknown_key():
    sd = {"visual.proj": 1, "clip.visual.proj": 1, "visual_control.proj": 2, "clip.token_embedding.weight": 3,
          "logit_scale": 4, "something.else": 5}
    kept, dropped = select_image_side(sd)
    assert kept == {"visual.proj": 1, "visual_control.proj": 2, "something.else": 5}
    assert sorted(dropped) == ["clip.token_embedding.weight", "clip.visual.proj", "logit_scale"]
    kept, _ = select_image_side({"clip.visual.proj": 1, "visual_control.proj": 2})  # only the clip.visual copy
    assert kept == {"visual.proj": 1, "visual_control.proj": 2}


# ----------------------------------------------------------------------------- listings and profiling


def test_listed_with_its_table_and_files(capsys):
    from bench.cli import main

    rows = {r["name"]: r for r in list_methods()}
    assert rows["daclip"]["tables"] == "1"
    assert rows["daclip"]["task"] == "all-in-one"
    assert main(["methods", "info", "daclip"]) == 0
    out = capsys.readouterr().out
    assert "network 48,975,747" in out and "DA-CLIP image side 182,785,536" in out
    assert "universal-ir.pth: deblur, dehaze, jpeg, lowlight, denoise, raindrop, derain, deshadow, desnow, inpaint" in out
    assert "option clip: the DA-CLIP encoder file daclip_ViT-B-32.pt" in out


def test_profile_configuration_runs_a_pipeline():
    from baselines.published.daclip.method import DaCLIPPipeline
    from bench.profile import configs as C

    assert C.CONFIGS["daclip"].family == "baseline" and "10 of the authors' 100" in C.CONFIGS["daclip"].summary
    encoder, unet = _networks()
    pipeline = DaCLIPPipeline(encoder, unet, steps=2)
    x = _image(2, 16, 24)
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    assert pipeline.restore(x, gens).shape == x.shape


@pytest.mark.slow
def test_profile_prepares_the_released_sizes():
    """In a process of its own: the released-size encoder and network hold 0.9 GB."""
    from isolated import run_isolated

    result = run_isolated(
        "import torch\n"
        "from bench.profile import configs as C\n"
        "from port_helpers import quantised\n"
        "prepared = C.CONFIGS['daclip'].prepare(C.ModelPool('tiny'))\n"
        "with torch.inference_mode():\n"
        "    shape = list(prepared.fn(quantised(1, 32, 48)).shape)\n"
        "result = {'params': prepared.params, 'shape': shape}\n")
    assert result["params"] == 48_975_747 + 182_785_536
    assert result["shape"] == [1, 3, 32, 48]
