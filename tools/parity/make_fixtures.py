"""Write the parity fixtures of the published ports from their AUTHORS' code (tests/fixtures/parity/<name>/).

For each port: the authors' repository at a pinned commit (:data:`REPOS`), a reduced configuration of their
network (small widths and depths, every block type), seeded random weights saved in the checkpoint layout
their test script loads, one small odd-sized input, and the output of the authors' own network through
their test pipeline. ``tests/test_parity.py`` loads each fixture through the registered method and compares.

Nothing of the authors' code is committed or imported by the package: this script checks their files out
into a scratch folder (``--work``) and imports them from there. Run it with any Python that has torch,
einops, timm and safetensors (the project's venv has them)::

    python tools/parity/make_fixtures.py --work WORKDIR [--mirror DIR] [--only restormer,promptir]

``--mirror DIR`` reads the repositories from local git directories ``DIR/<owner>+<name>[/repo]``; without
it they are cloned from GitHub. See tools/parity/README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "parity"
SEED = 0
NOISE = 0.02  # std of the Gaussian noise added to every initialised weight (LayerNorm scales off 1, biases off 0)


@dataclass(frozen=True)
class Repo:
    """An authors' repository at the commit the fixtures were made from, and the files they need."""

    github: str
    commit: str
    paths: tuple[str, ...]


REPOS: dict[str, Repo] = {
    "restormer": Repo("swz30/Restormer", "df766d5521afd21cce56e24159f300b30ebf3fb0",
                      ("basicsr/models/archs/restormer_arch.py",)),
    "restormer-biasfree": Repo("swz30/Restormer", "df766d5521afd21cce56e24159f300b30ebf3fb0",
                               ("basicsr/models/archs/restormer_arch.py", "Denoising/test_gaussian_color_denoising.py",
                                "Denoising/Options/GaussianColorDenoising_Restormer.yml")),
    "promptir": Repo("va1shn9v/PromptIR", "106159ab809101f2e25b6714195cd6fa9a938d36", ("net/model.py",)),
    "airnet": Repo("XLearning-SCU/2022-CVPR-AirNet", "bedea82f7f7a71f135bcc026fd02ea9f2feaa710",
                   ("net/model.py", "net/encoder.py", "net/moco.py", "net/DGRN.py", "net/deform_conv.py")),
    "uformer": Repo("ZhendongWang6/Uformer", "65fc970a8ffc09605faca74ed016ee93c9ad8a36",
                    ("model.py", "test/test_sidd.py")),
    "x-restormer": Repo("Andrew0613/X-Restormer", "e096da6bf5f640f8a0d1fde3eec893ded1feac6f",
                        ("xrestormer/archs/xrestormer_arch.py", "options/test/004_xrestormer_derain.yml")),
    "mprnet": Repo("swz30/MPRNet", "43feb2aed45f5e0b9082c78c8c455160e30a3a82", ("Deraining/MPRNet.py", "demo.py")),
    "idr": Repo("JingHao99/IDR-Ingredients-oriented-Degradation-Reformulation",
                "0fbeb88fbc625ba82f811f207b4a973197914aad",
                ("models/archs/IDR_restormer_arch.py", "models/utils/arch_util.py", "models/utils/module.py",
                 "models/utils/transformerBCHW_util.py", "models/utils/transformerBLC_util.py", "inference.py")),
    "diffuir": Repo("iSEE-Laboratory/DiffUIR", "c71437ce86ad1b098aa9be4678dc82e8b99649df", ("src/model.py", "test.py")),
    "daclip": Repo("Algolzw/daclip-uir", "c2cc14146faac85680b4cb39ece4ef9e2a7c7c24",
                   tuple(f"universal-image-restoration/{p}" for p in (
                       "open_clip", "config/daclip-sde/models/modules", "config/daclip-sde/test.py",
                       "config/daclip-sde/options/test.yml", "utils/sde_utils.py", "data/util.py",
                       "data/LQGT_dataset.py", "config/daclip-sde/models/denoising_model.py"))),
}


@dataclass
class Fixture:
    """What one port's fixture holds (written by :func:`write`)."""

    method: str  # the registered name the test creates
    checkpoint_name: str  # the authors' file name
    checkpoint: Any  # the object torch.save writes, in the authors' layout
    input: torch.Tensor  # (1, 3, H, W) in [0, 1]
    output: torch.Tensor  # the authors' pipeline's output (not clipped)
    config: dict  # the reduced configuration, as the authors' constructor takes it
    pipeline: str  # what the authors' test script does around the network
    perturb: str  # a parameter the output depends on (the test perturbs one element of it)
    options: dict = field(default_factory=dict)  # extra create_method options
    extra_files: dict = field(default_factory=dict)  # option -> (file name, object to torch.save): a second file
    tolerance: float = 1e-5
    tensors: dict = field(default_factory=dict)  # extra tensors: "noise", a sampler's draws (k, 3, H, W)
    noise_seed: list = field(default_factory=list)  # seed_from_string parts of the generator that drew "noise"
    # an encoder's outputs (names in ``tensors``, in the order the port's ``pipeline.encode`` returns them) and
    # the encoder weights the test perturbs: {"outputs": [...], "perturb": [...]}
    encoder: dict = field(default_factory=dict)
    notes: str = ""


# ------------------------------------------------------------------------------------------ sources


def checkout(name: str, work: Path, mirror: Path | None) -> Path:
    """The authors' files for ``name`` at the pinned commit, under ``work/src/<owner>+<repo>``."""
    repo = REPOS[name]
    slug = repo.github.replace("/", "+")
    target = work / "src" / slug / repo.commit
    if all((target / p).exists() for p in repo.paths):
        return target
    gitdir = _gitdir(repo, slug, work, mirror)
    target.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "--git-dir", str(gitdir), "archive", repo.commit, "--", *repo.paths],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def _gitdir(repo: Repo, slug: str, work: Path, mirror: Path | None) -> Path:
    if mirror is not None:
        for candidate in (mirror / slug / "repo", mirror / slug / "repo" / ".git", mirror / slug):
            if (candidate / "objects").is_dir():
                return candidate
    gitdir = work / "git" / f"{slug}.git"
    if not gitdir.is_dir():
        subprocess.run(["git", "clone", "--bare", "--filter=blob:limit=1m", f"https://github.com/{repo.github}.git",
                        str(gitdir)], check=True)
    return gitdir


def import_file(path: Path, name: str, root: Path | None = None):
    """Import the authors' module at ``path`` (with ``root`` on sys.path for its own imports)."""
    if root is not None and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------ helpers


def randomise(model: torch.nn.Module, seed: int = SEED, std: float = NOISE) -> torch.nn.Module:
    """Add seeded Gaussian noise of ``std`` to every floating parameter (after the authors' own init)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)
    return model.eval()


def image(h: int, w: int, seed: int = SEED + 1) -> torch.Tensor:
    """A seeded (1, 3, h, w) input in [0, 1] with some structure (a ramp plus noise)."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, w).view(1, 1, 1, w) * torch.linspace(0.2, 0.9, h).view(1, 1, h, 1)
    return (0.6 * ramp + 0.4 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)


def pad_crop(net: Callable, x: torch.Tensor, factor: int) -> torch.Tensor:
    """The authors' test scripts' reflect pad (bottom/right) to a multiple of ``factor``, forward, crop."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    padh, padw = (-h) % factor, (-w) % factor
    out = net(F.pad(x, (0, padw, 0, padh), "reflect"))
    return out[..., :h, :w]


def patched_copy(src: Path, dest: Path, replacements: dict[str, list[tuple[str, str]]]) -> Path:
    """Copy the authors' files under ``src`` to ``dest`` with each ``(old, new)`` applied (every ``old`` must
    occur: a changed upstream file stops the script); the other files of ``src`` are copied unchanged."""
    import shutil

    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    for name, pairs in replacements.items():
        text = (dest / name).read_text()
        for old, new in pairs:
            if old not in text:
                raise SystemExit(f"{src / name}: '{old}' not found; the authors' file changed, update the script")
            text = text.replace(old, new)
        (dest / name).write_text(text)
    return dest


def function_from(path: Path, name: str, **namespace):
    """The top-level function ``name`` of the authors' script ``path``, without running the script."""
    import ast

    source = path.read_text()
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name)
    exec(compile(ast.Module([node], []), str(path), "exec"), namespace)
    return namespace[name]


def forget_modules(*packages: str) -> None:
    """Drop ``packages`` (and their submodules) from sys.modules: two repositories both have a ``net``."""
    for name in [m for m in sys.modules if m.split(".")[0] in packages]:
        del sys.modules[name]


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------------------------ ports


def make_restormer(src: Path, layernorm: str = "WithBias", checkpoint_name: str = "deraining.pth",
                   script: str = "Deraining/test.py", perturb: str = "patch_embed.proj.weight") -> Fixture:
    """Restormer reduced, with ``layernorm`` 'WithBias' (deraining, deblurring releases) or 'BiasFree'
    (denoising releases); ``script``: the authors' test script of such a release (the same pad and crop)."""
    arch = import_file(src / "basicsr/models/archs/restormer_arch.py", "authors_restormer_arch")
    config = dict(inp_channels=3, out_channels=3, dim=4, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1,
                  heads=[1, 2, 2, 4], ffn_expansion_factor=2.66, bias=False, LayerNorm_type=layernorm,
                  dual_pixel_task=False)
    torch.manual_seed(SEED)
    net = randomise(arch.Restormer(**config))
    x = image(19, 27)
    with torch.no_grad():
        y = pad_crop(net, x, 8)
    return Fixture(method="restormer", checkpoint_name=checkpoint_name, checkpoint={"params": cpu_state(net)},
                   input=x, output=y, config=config, perturb=perturb,
                   pipeline=f"{script}: reflect-pad bottom/right to a multiple of 8, network, crop back")


def make_restormer_biasfree(src: Path) -> Fixture:
    """The denoising releases' Restormer: LayerNorm 'BiasFree', read from the authors' blind colour denoising
    options (the widths and depths reduced as :func:`make_restormer`'s); the test perturbs a LayerNorm scale."""
    import yaml

    options = yaml.safe_load((src / "Denoising/Options/GaussianColorDenoising_Restormer.yml").read_text())
    return make_restormer(src, layernorm=options["network_g"]["LayerNorm_type"],
                          checkpoint_name="gaussian_color_denoising_blind.pth",
                          script="Denoising/test_gaussian_color_denoising.py (the noise it adds left out)",
                          perturb="encoder_level1.0.norm1.body.weight")


# PromptIR's constructor writes its prompt widths and sizes as numbers that hold at dim 48 only (the
# decoder-prompt network does not build at another width), so its source is parametrised before it is
# imported: each literal is replaced by the expression it stands for (d1..d4 = dim * 1, 2, 4, 8, prompt
# widths P1..P3, sizes S1..S3, length L), nothing else. At the released values the constructor builds
# exactly the authors' network (checked: same keys and shapes).
_PROMPTIR_WIDTHS = (
    ("PromptGenBlock(prompt_dim=64,prompt_len=5,prompt_size = 64,lin_dim = 96)",
     "PromptGenBlock(prompt_dim=P1,prompt_len=L,prompt_size = S1,lin_dim = int(dim*2**1))"),
    ("PromptGenBlock(prompt_dim=128,prompt_len=5,prompt_size = 32,lin_dim = 192)",
     "PromptGenBlock(prompt_dim=P2,prompt_len=L,prompt_size = S2,lin_dim = int(dim*2**2))"),
    ("PromptGenBlock(prompt_dim=320,prompt_len=5,prompt_size = 16,lin_dim = 384)",
     "PromptGenBlock(prompt_dim=P3,prompt_len=L,prompt_size = S3,lin_dim = int(dim*2**3))"),
    ("nn.Conv2d(64,64,", "nn.Conv2d(P1,P1,"),
    ("nn.Conv2d(128,128,", "nn.Conv2d(P2,P2,"),
    ("nn.Conv2d(320,256,", "nn.Conv2d(P3,2*P2,"),
    ("nn.Conv2d(dim + 64,", "nn.Conv2d(dim + P1,"),
    ("nn.Conv2d(int(dim*2**1) + 128,", "nn.Conv2d(int(dim*2**1) + P2,"),
    ("nn.Conv2d(int(dim*2**2) + 256,", "nn.Conv2d(int(dim*2**2) + 2*P2,"),
    ("nn.Conv2d(int(dim*2**1)+192,", "nn.Conv2d(int(dim*2**1)+int(dim*2**2),"),
    ("int(dim*2**2) + 512,", "int(dim*2**3) + P3,"),
    ("nn.Conv2d(int(dim*2**2)+512,", "nn.Conv2d(int(dim*2**3)+P3,"),
    ("int(dim*2**1) + 224,", "int(dim*2**2) + P2,"),
    ("nn.Conv2d(int(dim*2**1)+224,", "nn.Conv2d(int(dim*2**2)+P2,"),
    ("int(dim*2**1)+64,", "int(dim*2**1)+P1,"),
)
PROMPTIR_RELEASED = dict(P1=64, P2=128, P3=320, S1=64, S2=32, S3=16, L=5)


def import_parametrised(path: Path, name: str, replacements, constants: dict):
    """Import ``path`` with each ``(old, new)`` of ``replacements`` applied to its source (every ``old`` must
    occur) and ``constants`` defined at module level."""
    source = path.read_text()
    for old, new in replacements:
        if old not in source:
            raise SystemExit(f"{path}: '{old}' not found; the authors' file changed, update the replacements")
        source = source.replace(old, new)
    module = type(sys)(name)
    module.__dict__.update(constants)
    sys.modules[name] = module
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def make_promptir(src: Path) -> Fixture:
    path = src / "net/model.py"
    original = import_file(path, "authors_promptir_model")
    released = import_parametrised(path, "authors_promptir_released", _PROMPTIR_WIDTHS, PROMPTIR_RELEASED)
    with torch.device("meta"):
        a, b = original.PromptIR(decoder=True).state_dict(), released.PromptIR(decoder=True).state_dict()
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}, "parametrisation changed the net"
    widths = dict(P1=4, P2=8, P3=12, S1=7, S2=5, S3=3, L=3)
    arch = import_parametrised(path, "authors_promptir_reduced", _PROMPTIR_WIDTHS, widths)
    config = dict(inp_channels=3, out_channels=3, dim=4, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1,
                  heads=[1, 2, 4, 4], ffn_expansion_factor=2.66, bias=False, LayerNorm_type="WithBias", decoder=True)
    torch.manual_seed(SEED)
    net = randomise(arch.PromptIR(**config))
    x = image(19, 27)
    with torch.no_grad():
        y = pad_crop(net, x, 8)
    ckpt = {"epoch": 0, "global_step": 0, "pytorch-lightning_version": "2.0.0",
            "state_dict": {f"net.{k}": v for k, v in cpu_state(net).items()}}
    return Fixture(method="promptir", checkpoint_name="model.ckpt", checkpoint=ckpt, input=x, output=y,
                   config={**config, "prompt_widths": widths}, perturb="patch_embed.proj.weight",
                   pipeline="test.py runs the network on images cropped to a multiple of 16; here the input is "
                            "reflect-padded bottom/right to a multiple of 8 around it and cropped back, as the "
                            "harness does for the port",
                   notes="the prompt widths, sizes and length are literals at dim 48 in the authors' constructor; "
                         "they were replaced by the expressions they stand for (see _PROMPTIR_WIDTHS), the "
                         "forward is theirs unchanged")


_MMCV_STANDIN = '''"""Stand-in for mmcv.ops (mmcv-full 1.3.11, a CUDA build, is not installable here): torchvision's
DCNv2 kernel, which has mmcv's offset layout ((dy, dx) per kernel point) and sigmoid-mask convention."""
from torchvision.ops import deform_conv2d


def modulated_deform_conv2d(input, offset, mask, weight, bias, stride, padding, dilation, groups, deform_groups):
    assert groups == 1
    return deform_conv2d(input, offset, weight, bias, stride=stride, padding=padding, dilation=dilation, mask=mask)
'''


def make_airnet(src: Path) -> Fixture:
    feats, groups, blocks = 4, 2, 2
    f1, f2, f4 = feats, 2 * feats, 4 * feats
    root = patched_copy(src, src.parent / f"{src.name}-reduced", {
        "net/DGRN.py": [("self.n_groups = 5", f"self.n_groups = {groups}"), ("n_blocks = 5", f"n_blocks = {blocks}"),
                        ("n_feats = 64", f"n_feats = {f1}")],
        "net/encoder.py": [("ResBlock(in_feat=3, out_feat=64, stride=1)", f"ResBlock(in_feat=3, out_feat={f1}, stride=1)"),
                           ("ResBlock(in_feat=64, out_feat=128, stride=2)",
                            f"ResBlock(in_feat={f1}, out_feat={f2}, stride=2)"),
                           ("ResBlock(in_feat=128, out_feat=256, stride=2)",
                            f"ResBlock(in_feat={f2}, out_feat={f4}, stride=2)"),
                           ("nn.Linear(256, 256)", f"nn.Linear({f4}, {f4})"), ("dim = 256", f"dim = {f4}")],
    })
    (root / "mmcv").mkdir(exist_ok=True)
    (root / "mmcv" / "__init__.py").write_text("")
    (root / "mmcv" / "ops.py").write_text(_MMCV_STANDIN)
    forget_modules("net", "mmcv")
    sys.path.insert(0, str(root))
    try:
        from net.model import AirNet
    finally:
        sys.path.remove(str(root))
    torch.manual_seed(SEED)
    net = randomise(AirNet(argparse.Namespace(batch_size=1)))
    g = torch.Generator().manual_seed(SEED + 2)
    for name, buf in net.named_buffers():  # BatchNorm statistics off their initial 0 and 1
        if name.endswith("running_mean"):
            buf.copy_(torch.randn(buf.shape, generator=g) * 0.1)
        elif name.endswith("running_var"):
            buf.copy_(0.5 + torch.rand(buf.shape, generator=g))
    with torch.no_grad():  # offsets of a few pixels, so the deformable convolutions sample between pixels
        for name, p in net.named_parameters():
            if "conv_offset_mask" in name:
                p.add_(torch.randn(p.shape, generator=g) * 1.0)
    forget_modules("net", "mmcv")
    x = image(19, 27)
    with torch.no_grad():
        y = net(x_query=x, x_key=x)
    return Fixture(method="airnet", checkpoint_name="All.pth", checkpoint=cpu_state(net), input=x, output=y,
                   config=dict(n_feats=feats, n_groups=groups, n_blocks=blocks, batch_size=1),
                   perturb="R.head.0.weight",
                   pipeline="test.py: net(x_query=x, x_key=x) in eval mode at the image's own size, no padding",
                   notes="the widths (64, 128, 256), groups and blocks are literals in the authors' DGRN.py and "
                         "encoder.py; they were replaced by reduced numbers, nothing else. mmcv-full 1.3.11 "
                         "(CUDA) is not installable here: its modulated_deform_conv2d was stood in for by "
                         "torchvision's deform_conv2d (same DCNv2 convention)")


def make_uformer(src: Path) -> Fixture:
    import math

    arch = import_file(src / "model.py", "authors_uformer_model")
    expand2square = function_from(src / "test/test_sidd.py", "expand2square", math=math, torch=torch)
    # Uformer-B's options (test/test_sidd.py builds it with img_size = train_ps = 128), reduced widths and
    # depths; two blocks at the first level (above the window size), so shifted windows run
    config = dict(img_size=128, embed_dim=2, win_size=8, token_projection="linear", token_mlp="leff",
                  depths=[2, 1, 1, 1, 1, 1, 1, 1, 1], num_heads=[1, 2, 4, 8, 16, 16, 8, 4, 2], mlp_ratio=2.0,
                  modulator=True, dd_in=3)
    torch.manual_seed(SEED)
    net = randomise(arch.Uformer(**config))
    x = image(19, 27)
    with torch.no_grad():
        h, w = x.shape[-2:]
        square, mask = expand2square(x, factor=128)
        y = torch.masked_select(net(square), mask.bool()).reshape(1, 3, h, w)
    return Fixture(method="uformer", checkpoint_name="Uformer_B_SIDD.pth", checkpoint=training_pth(net), input=x, output=y,
                   config=config, perturb="input_proj.proj.0.weight", options={"img_size": 128},
                   pipeline="test/test_sidd.py: expand2square(factor=128) (zeros, centred), network, "
                            "masked_select of the image back",
                   notes="window 8 as released: the authors' scripts use a square of a multiple of 128 whatever "
                         "the window, the port a multiple of 16 x window, which agree only at window 8 (at window "
                         "4 the port differed by 1e-3 from the authors' pipeline)")


def stub_modules(**modules: dict) -> None:
    """Put minimal stand-ins for training-only imports into sys.modules (``name={"attr": value}``; dotted
    names as ``basicsr__utils__registry``)."""
    import types

    for dotted, attrs in modules.items():
        parts = dotted.split("__")
        for i in range(1, len(parts) + 1):
            sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
        sys.modules[".".join(parts)].__dict__.update(attrs)


class _Registry:
    def register(self, obj=None):
        return obj if obj is not None else (lambda o: o)


def make_x_restormer(src: Path) -> Fixture:
    stub_modules(basicsr__utils__registry={"ARCH_REGISTRY": _Registry()}, torchstat={"stat": None})
    arch = import_file(src / "xrestormer/archs/xrestormer_arch.py", "authors_xrestormer_arch")
    # options/test/004_xrestormer_derain.yml's network with reduced widths, depths and heads
    config = dict(inp_channels=3, out_channels=3, dim=4, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1,
                  channel_heads=[1, 2, 2, 4], spatial_heads=[1, 1, 2, 2], overlap_ratio=[0.5, 0.5, 0.5, 0.5],
                  window_size=8, spatial_dim_head=4, ffn_expansion_factor=2.66, bias=False,
                  LayerNorm_type="WithBias", dual_pixel_task=False, scale=1)
    torch.manual_seed(SEED)
    net = randomise(arch.XRestormer(**config))
    x = image(37, 45)  # reflect padding to 64 needs sides over 32
    with torch.no_grad():
        y = pad_crop(net, x, 64)
    return Fixture(method="x-restormer", checkpoint_name="derain_155k.pth", checkpoint={"params": cpu_state(net)},
                   input=x, output=y, config=config, perturb="patch_embed.proj.weight",
                   pipeline="xrestormer_model.py pre_process/post_process with padding_size 64 (004_xrestormer_"
                            "derain.yml): reflect-pad bottom/right to a multiple of 64, network, crop back",
                   notes="basicsr's ARCH_REGISTRY and torchstat (imported, unused by the network) are stubbed")


def training_pth(net: torch.nn.Module) -> dict:
    """What the authors' train.py saves (MPRNet, Uformer): epoch, the DataParallel-wrapped state dict, optimizer."""
    return {"epoch": 1, "state_dict": {f"module.{k}": v for k, v in cpu_state(net).items()}, "optimizer": {}}


def make_mprnet(src: Path) -> Fixture:
    arch = import_file(src / "Deraining/MPRNet.py", "authors_mprnet_derain")
    # the deraining network (n_feat 40, scale_unetfeats 20, scale_orsnetfeats 16, 8 CABs) reduced
    config = dict(in_c=3, out_c=3, n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=2, kernel_size=3,
                  reduction=4, bias=False)
    torch.manual_seed(SEED)
    net = randomise(arch.MPRNet(**config))
    x = image(19, 27)
    with torch.no_grad():
        y = pad_crop(lambda t: net(t)[0], x, 8)
    return Fixture(method="mprnet", checkpoint_name="model_deraining.pth", checkpoint=training_pth(net), input=x,
                   output=y, config=config, perturb="shallow_feat1.0.weight",
                   pipeline="demo.py: reflect-pad bottom/right to a multiple of 8, network, its first output "
                            "(stage 3), crop back")


def bare_packages(root: Path, *names: str) -> None:
    """Register ``names`` as packages rooted in ``root`` without running their ``__init__.py`` (the IDR
    repository's scan and import every model module, training code included)."""
    import types

    for name in names:
        module = types.ModuleType(name)
        module.__path__ = [str(root / name.replace(".", "/"))]
        sys.modules[name] = module


def make_idr(src: Path) -> Fixture:
    import functools

    import torchvision.transforms

    (src / "mmcv").mkdir(exist_ok=True)
    (src / "mmcv" / "__init__.py").write_text("")
    (src / "mmcv" / "ops.py").write_text(_MMCV_STANDIN)  # imported by arch_util.py, unused by this network
    forget_modules("models", "mmcv")
    bare_packages(src, "models", "models.utils", "models.archs")
    sys.path.insert(0, str(src))
    try:
        import importlib

        arch = importlib.import_module("models.archs.IDR_restormer_arch")
    finally:
        sys.path.remove(str(src))
    # the authors pin torchvision 0.12, whose tensor Resize does not anti-alias (later versions do by default)
    arch.Resize = functools.partial(torchvision.transforms.Resize, antialias=False)
    # config/IDR-restormer.yml's network reduced (5 degradation key sets, SAM, 5 routes, stage-2 forward)
    config = dict(inp_channels=3, out_channels=3, dim=4, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1,
                  heads=[1, 2, 4, 8], ffn_expansion_factor=2.66, bias=False, LayerNorm_type="WithBias",
                  num_degra_queries=4, keep_degra=8, degra_type=5, sam=True, ops_type=5, pred=True)
    torch.manual_seed(SEED)
    net = randomise(arch.IDR_restormer(**config))
    forget_modules("models", "mmcv")
    x = image(19, 27)
    with torch.no_grad():
        y = pad_crop(net, x, 8)
    return Fixture(method="idr", checkpoint_name="1200_G.pth", checkpoint=cpu_state(net), input=x, output=y,
                   config=config, perturb="patch_embed.proj.weight", options={"svd_device": "cpu"},
                   pipeline="inference.py: net(x) (stage-2 forward, no degradation label) on images the authors "
                            "crop to a multiple of 32; here reflect-padded bottom/right to a multiple of 8 around "
                            "it and cropped back, as the harness does for the port",
                   notes="torchvision's Resize without anti-aliasing, as 0.12 (the authors' pin); torch.svd on "
                         "the CPU. mmcv (imported by arch_util.py, not used by IDR) is stood in for")


class _Draws:
    """Replace ``torch.randn`` while the authors' sampler runs: it returns the port's recorded draws, in order."""

    def __init__(self, *draws: torch.Tensor):
        self.draws, self.real = list(draws), torch.randn

    def __enter__(self):
        def randn(*shape, **kwargs):
            shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
            draw = self.draws.pop(0)
            assert tuple(draw.shape) == shape, f"the sampler drew {shape}, the fixture has {tuple(draw.shape)}"
            return draw.clone()

        self.real_like = torch.randn_like
        torch.randn = randn
        torch.randn_like = lambda t, **kwargs: randn(tuple(t.shape))
        return self

    def __exit__(self, *exc):
        torch.randn, torch.randn_like = self.real, self.real_like
        assert exc[0] is not None or not self.draws, "the sampler drew fewer times than recorded"


#: what a sampler's fixture notes about its draws
DRAWS_NOTE = ("the draws (tensor 'noise') are the port's for dataset 'parity', image 'parity', seed 0, handed to "
              "the authors' sampler in place of torch.randn / randn_like")


def port_seed(name: str, seed: int = 0) -> list:
    """The ``seed_from_string`` parts of the generator a seeded port (DiffUIR, DA-CLIP) gives the test's one
    image (dataset and image id 'parity', as tests/test_parity.py restores it)."""
    return [name, seed, "parity", "parity"]


def port_generator(parts: list) -> torch.Generator:
    from abair.degradations import seed_from_string

    return torch.Generator().manual_seed(seed_from_string(*parts))


def make_diffuir(src: Path) -> Fixture:
    import copy

    stub_modules(Augmentor={}, thop={"profile": None}, ema_pytorch={"EMA": None}, metrics={})
    model = import_file(src / "src/model.py", "authors_diffuir_model")
    # test.py's UnetRes / ResidualDiffusion settings with a reduced U-net (DiffUIR-L is dim 64, mults 1-2-4-8)
    unet_config = dict(dim=8, dim_mults=(1, 1), num_unet=1, condition=True, objective="pred_res",
                       test_res_or_noise="res")
    torch.manual_seed(SEED)
    diffusion = model.ResidualDiffusion(model.UnetRes(**unet_config), image_size=64, timesteps=1000, delta_end=1.8e-3,
                                        sampling_timesteps=3, ddim_sampling_eta=0.0, objective="pred_res",
                                        loss_type="l1", condition=True, sum_scale=0.01, test_res_or_noise="res")
    randomise(diffusion.model)
    ema = copy.deepcopy(diffusion)
    randomise(ema.model, seed=SEED + 3)  # the EMA weights differ from the online ones: the test reads the EMA
    online, averaged = cpu_state(diffusion), cpu_state(ema)
    ckpt = {"step": 300, "model": online, "opt0": {},  # Trainer.save with ema-pytorch's EMA state dict
            "ema": {"initted": torch.tensor(True), "step": torch.tensor(300),
                    **{f"online_model.{k}": v for k, v in online.items()},
                    **{f"ema_model.{k}": v for k, v in averaged.items()}},
            "scaler": None}
    x = image(19, 27)
    z = torch.randn((3, 19, 27), generator=port_generator(port_seed("diffuir"))).unsqueeze(0)
    ema.init()  # Trainer.test: self.ema.ema_model.init(), then sample
    ema.eval()
    with torch.no_grad(), _Draws(z):
        y = list(ema.sample(x, batch_size=1, last=True))[-1]
    return Fixture(method="diffuir", checkpoint_name="model-300.pt", checkpoint=ckpt, input=x, output=y,
                   config=unet_config, perturb="unet0.init_conv.weight", options={"equalize": "never"},
                   tensors={"noise": z}, noise_seed=port_seed("diffuir"),
                   pipeline="test.py / Trainer.test: the EMA model's init() and sample() (3 DDIM steps, eta 0, "
                            "sum_scale 0.01, delta_end 1.8e-3, pred_res), 2x - 1 in, the last image of the list "
                            "out; the network reflect-pads to a multiple of 16 inside",
                   notes=f"one draw, the initial noise z; {DRAWS_NOTE}. Augmentor, thop, ema_pytorch and metrics "
                         "(training and evaluation imports) are stubbed")


def make_daclip(src: Path) -> Fixture:
    import importlib

    import numpy as np

    root = src / "universal-image-restoration"
    # ControlTransformer moves its zero-initialised linears to CUDA at construction; built here on the CPU
    patched_copy(root / "open_clip", src.parent / f"{src.name}-cpu" / "open_clip",
                 {"transformer.py": [("for _ in range(self.layers)]).cuda()", "for _ in range(self.layers)])")]})
    forget_modules("models", "open_clip")
    bare_packages(src.parent / f"{src.name}-cpu", "open_clip")
    bare_packages(root / "config/daclip-sde", "models", "models.modules")
    clip_model = importlib.import_module("open_clip.model")
    daclip_model = importlib.import_module("open_clip.daclip_model")
    unet_arch = importlib.import_module("models.modules.DenoisingUNet_arch")
    forget_modules("models", "open_clip")
    sde_utils = import_file(root / "utils/sde_utils.py", "authors_daclip_sde_utils")
    from PIL import Image
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

    clip_transform = function_from(root / "data/util.py", "clip_transform", Image=Image, np=np, Compose=Compose,
                                   Resize=Resize, InterpolationMode=InterpolationMode, CenterCrop=CenterCrop,
                                   ToTensor=ToTensor, Normalize=Normalize)
    # ViT-B-32 (laion2b, GELU) reduced: width 64 (one head of open_clip's head_width 64), 2 layers, patch 16,
    # 224 input; a small text tower (the method leaves it out, the file has it)
    embed = 32
    vision = dict(layers=2, width=64, head_width=64, mlp_ratio=1.0, patch_size=16, image_size=224)
    text = dict(context_length=8, vocab_size=64, width=32, heads=1, layers=1)
    torch.manual_seed(SEED)
    encoder = daclip_model.DaCLIP(clip_model.CLIP(embed, clip_model.CLIPVisionCfg(**vision),
                                                  clip_model.CLIPTextCfg(**text), quick_gelu=False))
    randomise(encoder)  # the controller's zero linears too, so its residuals reach the frozen tower
    # options/test.yml's ConditionalUNet (nf 64, ch_mult 1-2-4-8, both contexts) reduced: the bottleneck
    # keeps one head (32 channels, the smallest width its attention builds at), one level
    unet_config = dict(in_nc=3, out_nc=3, nf=32, ch_mult=[1], context_dim=embed, use_degra_context=True,
                       use_image_context=True)
    unet = randomise(unet_arch.ConditionalUNet(**unet_config), seed=SEED + 4)
    g = torch.Generator().manual_seed(SEED + 5)
    with torch.no_grad():  # a degradation prompt strong enough that the controller's embedding shows in x_0
        for name, p in unet.named_parameters():
            if name.startswith(("prompt", "text_mlp")):
                p.add_(torch.randn(p.shape, generator=g) * 0.5)
    steps = 5
    sde = sde_utils.IRSDE(max_sigma=50, T=100, sample_T=steps, schedule="cosine", eps=0.005, device="cpu")
    sde.set_model(unet)
    x = image(19, 27)
    g = port_generator(port_seed("daclip"))
    draws = torch.stack([torch.randn((3, 19, 27), generator=g) for _ in range(steps + 1)])
    with torch.no_grad():
        lq4clip = clip_transform(x[0].permute(1, 2, 0).numpy()).unsqueeze(0)  # LQGT_dataset: RGB HWC in [0, 1]
        image_context, degra_context = encoder.encode_image(lq4clip, control=True)  # what the network sees
        with _Draws(*draws[:, None]):
            state = sde.noise_state(x)
            sde.set_mu(x)
            y = sde.reverse_posterior(state, text_context=degra_context, image_context=image_context)
    return Fixture(method="daclip", checkpoint_name="universal-ir.pth", checkpoint=cpu_state(unet), input=x,
                   output=y, config={"unet": unet_config, "vision": vision, "text": text, "embed_dim": embed},
                   perturb="final_conv.weight", options={"steps": steps, "seed": 0},
                   # the file holds the frozen tower twice (visual.*, clip.visual.*: the same tensors, stored once)
                   extra_files={"clip": ("daclip_ViT-B-32.pt", {"epoch": 1, "state_dict": encoder.state_dict()})},
                   tensors={"noise": draws, "image_context": image_context, "degra_context": degra_context},
                   noise_seed=port_seed("daclip"),
                   # the patch embeddings of the frozen tower (the content embedding) and of the controller (both)
                   encoder={"outputs": ["image_context", "degra_context"],
                            "perturb": ["visual.conv1.weight", "visual_control.conv1.weight"]},
                   pipeline="config/daclip-sde/test.py: clip_transform of the RGB input, encode_image(control="
                            "True), noise_state (x_T = mu + 50/255 z), reverse_posterior of IRSDE(max_sigma 50, "
                            "T 100, sample_T 5, cosine, eps 0.005); the network reflect-pads inside",
                   notes=f"5 of the 100 steps (the method's steps=5, the authors' sample_T) to keep the draws "
                         f"small: x_T's z, then one per step; {DRAWS_NOTE}. ControlTransformer's .cuda() removed "
                         "to build on the CPU")


MAKERS: dict[str, Callable[[Path], Fixture]] = {
    "restormer": make_restormer,
    "restormer-biasfree": make_restormer_biasfree,
    "promptir": make_promptir,
    "airnet": make_airnet,
    "uformer": make_uformer,
    "x-restormer": make_x_restormer,
    "mprnet": make_mprnet,
    "idr": make_idr,
    "diffuir": make_diffuir,
    "daclip": make_daclip,
}


# ------------------------------------------------------------------------------------------ writing


def write(name: str, fx: Fixture, out: Path) -> Path:
    """Write ``out/<name>/``: the checkpoint (torch.save of tensors only), io.safetensors and meta.json."""
    from safetensors.torch import save_file

    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    files = {"checkpoint": (fx.checkpoint_name, fx.checkpoint), **fx.extra_files}
    for file_name, obj in files.values():
        torch.save(obj, folder / file_name)
        torch.load(folder / file_name, weights_only=True)  # the test reads it so
    save_file({"input": fx.input.contiguous(), "output": fx.output.contiguous(),
               **{k: v.contiguous() for k, v in fx.tensors.items()}}, str(folder / "io.safetensors"))
    repo = REPOS[name]
    meta = {
        "method": fx.method, "options": fx.options, "checkpoint": fx.checkpoint_name,
        "file_options": {option: file_name for option, (file_name, _) in fx.extra_files.items()},
        "tolerance": fx.tolerance, "perturb": fx.perturb,
        "upstream": repo.github, "commit": repo.commit, "files": list(repo.paths),
        "config": fx.config, "pipeline": fx.pipeline, "seed": SEED, "weight_noise": NOISE,
        "input_shape": list(fx.input.shape), "torch": torch.__version__, "notes": fx.notes,
        **({"noise_seed": fx.noise_seed} if fx.noise_seed else {}),
        **({"encoder": fx.encoder} if fx.encoder else {}),
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="scratch folder for the authors' code")
    parser.add_argument("--mirror", type=Path, help="local git directories <owner>+<name> instead of GitHub")
    parser.add_argument("--only", default="", help="comma-separated ports (default: all)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(MAKERS)
    torch.set_num_threads(1)
    for name in names:
        fx = MAKERS[name](checkout(name, args.work, args.mirror))
        folder = write(name, fx, args.out)
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"{name}: {folder} ({size / 1024:.0f} KB), output {fx.output.min():.3f}..{fx.output.max():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
