"""What is known about each published baseline of the paper's tables (no torch import: listings stay fast).

One :class:`Published` entry per method of ``results/paper/results.csv`` other than ABAIR: the tables
it appears in, the files its authors released and the tasks each covers, the checkpoint format, the
size requirement, the authors' test pipeline (with the file it comes from), the parameter count (with
the configuration it was counted at) and what the forward pass was checked against.
``abair-bench methods list`` and ``abair-bench methods info NAME`` print these; docs/BASELINES.md
says the same at length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Release", "Published", "PUBLISHED", "published", "variant_rows"]


@dataclass(frozen=True)
class Release:
    """One file the authors released. ``variant``: the method spec suffix naming it (``mprnet:deblur``)."""

    file: str
    tasks: tuple[str, ...]
    variant: str | None = None
    note: str = ""
    runs: bool = True  # False for a file the method cannot run (X-Restormer's x4 super-resolution model)


@dataclass(frozen=True)
class Published:
    """A published baseline. ``method``: the name ``--methods`` takes, or None when it cannot run here."""

    display: str
    paper: str
    tables: tuple[str, ...]
    method: str | None
    releases: tuple[Release, ...] = ()
    where: str = ""
    checkpoint: str = ""
    size: str = ""
    pipeline: str = ""
    params: str = ""
    checked: str = ""
    why_not: str = ""
    options: dict[str, str] = field(default_factory=dict)
    #: the authors' training settings (name -> tasks) of a method without released files (IDR)
    settings: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def variants(self) -> dict[str, Release]:
        return {r.variant: r for r in self.releases if r.variant}

    @property
    def tasks(self) -> tuple[str, ...]:
        runs = [t for r in self.releases if r.runs for t in r.tasks] or [t for ts in self.settings.values() for t in ts]
        return tuple(dict.fromkeys(runs))


#: the ten degradations of DA-CLIP's universal model (options/test.yml 'distortion'), in this project's task words
_DACLIP_TASKS = ("deblur", "dehaze", "jpeg", "lowlight", "denoise", "raindrop", "derain", "deshadow", "desnow",
                 "inpaint")

_DIFFUIR_TASKS = ("derain", "desnow", "dehaze", "deblur", "lowlight")  # the authors' five-task training
_FOLDER = ("its rows stay scorable from restored images through folder:NAME=/path "
           "(layout /path/<dataset>/<image_id>.png; see docs/BASELINES.md)")

PUBLISHED: dict[str, Published] = {p.display: p for p in (
    Published(
        "AirNet", "Li et al., CVPR 2022", ("1", "2"), "airnet",
        (Release("All.pth", ("denoise", "derain", "dehaze")), Release("Denoise.pth", ("denoise",)),
         Release("Derain.pth", ("derain",)), Release("Dehaze.pth", ("dehaze",))),
        where="Google Drive / Baidu links in the README of XLearning-SCU/2022-CVPR-AirNet",
        checkpoint="bare state dict .pth (R.* restorer, E.E.* MoCo encoders and queue)",
        size="any H, W",
        pipeline="no padding; RGB in [0, 1]; output clipped to [0, 1] (test.py of the authors' repository)",
        params="8,930,313 (both MoCo encoders counted)",
        checked="the authors' net/model.py, net/encoder.py, net/DGRN.py (random weights)",
        options={"deform_conv": "auto|torch|torchvision"},
    ),
    Published(
        "Restormer", "Zamir et al., CVPR 2022", ("1", "2", "3", "4", "5"), "restormer",
        (Release("motion_deblurring.pth", ("deblur",)), Release("single_image_defocus_deblurring.pth", ("deblur",)),
         Release("deraining.pth", ("derain",)), Release("real_denoising.pth", ("denoise",)),
         Release("gaussian_color_denoising_blind.pth", ("denoise",)),
         Release("gaussian_color_denoising_sigma15.pth / _sigma25.pth / _sigma50.pth", ("denoise",))),
        where="release v1.0 of swz30/Restormer",
        checkpoint="BasicSR .pth, {'params': state_dict}",
        size="H, W multiples of 8",
        pipeline="reflect-pad bottom/right to a multiple of 8, crop back, clip to [0, 1]; RGB in [0, 1] "
                 "(Motion_Deblurring/test.py and the other task scripts of swz30/Restormer)",
        params="26,126,644 (dim 48, blocks 4-6-6-8, 4 refinement)",
        checked="basicsr/models/archs/restormer_arch.py of swz30/Restormer (random weights)",
    ),
    Published(
        "PromptIR", "Potlapalli et al., NeurIPS 2023", ("1", "2", "3", "4", "5"), "promptir",
        (Release("model.ckpt", ("denoise", "derain", "dehaze")),),
        where="release v1.0 of va1shn9v/PromptIR",
        checkpoint="PyTorch Lightning .ckpt, state_dict keys prefixed 'net.'",
        size="H, W multiples of 8",
        pipeline="harness reflect-pads to a multiple of 8 (the authors' test data crops to a multiple of 16); "
                 "RGB in [0, 1], clipped (demo.py / test.py of va1shn9v/PromptIR)",
        params="35,592,263 (decoder prompts, prompt length 5)",
        checked="net/model.py of va1shn9v/PromptIR (random weights)",
    ),
    Published(
        "MPRNet", "Zamir et al., CVPR 2021", ("2",), "mprnet",
        (Release("model_deblurring.pth", ("deblur",), "deblur", "GoPro"),
         Release("model_deraining.pth", ("derain",), "derain", "Rain13K"),
         Release("model_denoising.pth", ("denoise",), "denoise", "SIDD")),
        where="the Google Drive links in Deblurring/, Deraining/, Denoising/pretrained_models/README.md of swz30/MPRNet",
        checkpoint="torch .pth {'epoch', 'state_dict', 'optimizer'} (keys may carry 'module.'); "
                   "network from spandrel-extra-arches (pip install 'abair-bench[spandrel]')",
        size="H, W multiples of 8",
        pipeline="reflect-pad bottom/right to a multiple of 8, stage-3 output, crop back, clip to [0, 1]; "
                 "RGB in [0, 1]; no self-ensemble (demo.py and Deblurring/test.py of swz30/MPRNet)",
        params="deblur 20,127,073 (n_feat 96, unet +48, orsnet +32); derain 3,637,249 (40/20/16); "
               "denoise 15,741,025 (80/48/32)",
        checked="Deblurring/, Deraining/, Denoising/MPRNet.py of swz30/MPRNet (random weights)",
    ),
    Published(
        "Uformer", "Wang et al., CVPR 2022", ("1",), "uformer",
        (Release("Uformer_B_SIDD.pth", ("denoise",), "denoise", "Uformer-B trained on SIDD"),
         Release("Uformer_B_GoPro.pth", ("deblur",), "deblur", "Uformer-B trained on GoPro")),
        where="the OneDrive links under 'Pretrained model' in the README of ZhendongWang6/Uformer",
        checkpoint="torch .pth {'epoch', 'state_dict', 'optimizer'} (keys may carry 'module.'); "
                   "Uformer-T/-S/-B read from the shapes",
        size="any H, W (zero-padded, centred, to a square of side a multiple of 128)",
        pipeline="expand2square: zero-pad centred to a square of side ceil(max(h, w) / 128) * 128, run, "
                 "cut the image back out, clip to [0, 1]; RGB in [0, 1]; network built with img_size=128 "
                 "(no shift in the 8x8 bottleneck); no self-ensemble (test/test_sidd.py, test/test_gopro_hide.py "
                 "of ZhendongWang6/Uformer)",
        params="Uformer-B 50,880,946 (embed 32, depths 1-2-8-8-2-8-8-2-1, modulator); Uformer-S 20,751,197 and "
               "Uformer-T 5,291,853 with the modulator (20,628,317 and 5,230,413 without, the paper's 20.63M/5.23M)",
        checked="model.py of ZhendongWang6/Uformer (random weights)",
        options={"img_size": "size the network is built for (default 128, as the test scripts)"},
    ),
    Published(
        "X-Restormer", "Chen et al., ECCV 2024", ("1", "3", "4", "5"), "x-restormer",
        (Release("denoise_300k.pth", ("denoise",), "denoise"), Release("deblur_300k.pth", ("deblur",), "deblur"),
         Release("derain_155k.pth", ("derain",), "derain"), Release("dehaze_300k.pth", ("dehaze",), "dehaze"),
         Release("sr_300k.pth", ("sr",), None, "x4 super-resolution: not a 1x restorer, not run here", runs=False)),
        where="the Google Drive / Baidu links under 'Testing' in the README of Andrew0613/X-Restormer",
        checkpoint="BasicSR .pth, {'params': state_dict}",
        size="H, W multiples of 64",
        pipeline="reflect-pad bottom/right to a multiple of 64 (padding_size: 64), crop back, clip to [0, 1]; "
                 "RGB in [0, 1]; no self-ensemble (xrestormer/models/xrestormer_model.py, options/test/00*.yml "
                 "of Andrew0613/X-Restormer)",
        params="26,041,208 (dim 48, blocks 2-4-4-4, 4 refinement, channel heads 1-2-4-8, spatial heads 1-2-4-8, "
               "window 8, overlap 0.5)",
        checked="xrestormer/archs/xrestormer_arch.py of Andrew0613/X-Restormer (random weights)",
    ),
    Published(
        "IDR", "Zhang et al., CVPR 2023", ("1", "3", "4", "5"), "idr",
        where="no trained weights were released (the README's evaluation points to a local results/models/model.ckpt, "
              "and an open request for the weights is unanswered): train with the authors' code at "
              "JingHao99/IDR-Ingredients-oriented-Degradation-Reformulation (main.py), or score their rows from "
              "restored images through folder:IDR=/path",
        checkpoint="bare state dict .pth, as the authors' training code saves it (<epoch>_G.pth; keys may carry "
                   "'module.'); widths, blocks, heads, key sets and the SAM read from the shapes",
        size="H, W multiples of 8",
        pipeline="the authors' test data is cropped, centred, to a multiple of 32 (crop_HWC_img); here the harness "
                 "reflect-pads to a multiple of 8 and crops back; second-stage forward (no degradation label), "
                 "SVD of the degradation keys on the run's device; output clipped to [0, 1]; RGB in [0, 1]; no "
                 "self-ensemble (inference.py of the authors' repository)",
        params="12,262,448 (the training configuration config/IDR-restormer.yml: dim 30, blocks 2-3-3-4, "
               "2 refinement, 5 x 24 keys); 7,887,130 at dim 24, the network inference.py builds; the paper's "
               "table prints 15M",
        checked="models/archs/IDR_restormer_arch.py and models/utils/module.py of the authors' repository "
                "(random weights)",
        options={"svd_device": "auto (the run's device, as the authors) | cpu",
                 "antialias": "false (torchvision 0.12, pinned by the authors) | true"},
        settings={"5-task": ("denoise", "derain", "dehaze", "deblur", "lowlight"),
                  "3-task": ("denoise", "derain", "dehaze")},
    ),
    Published(
        "DiffUIR", "Zheng et al., CVPR 2024", ("1", "3", "4", "5"), "diffuir",
        tuple(Release(f"model-300.pt of the {size.title()} folder", _DIFFUIR_TASKS, size,
                      f"DiffUIR-{size[0].upper()}, dim {dim}, mults {mults}, {params}; the five-task universal model")
              for size, dim, mults, params in (("tiny", 32, "1-1-1-1", "886,435"), ("small", 32, "1-2-2-4", "3,268,643"),
                                                ("base", 64, "1-2-2-4", "12,406,851"),
                                                ("large", 64, "1-2-4-8", "36,261,187"))),
        where="the Google Drive / OneDrive 'Model Zoo' links (Tiny, Small, Base, Large folders) in the README of "
              "iSEE-Laboratory/DiffUIR",
        checkpoint="torch .pth of the authors' Trainer.save, {'step', 'model', 'opt0', 'ema', 'scaler'}; the EMA "
                   "network (ema_model.model.unet0.*) is read, as test.py samples with it; dim and mults from the shapes",
        size="any H, W of at least 9 (the network reflect-pads to a multiple of 16 at every call and crops back)",
        pipeline="RGB in [0, 1], 2x - 1 to the network, no resizing or padding outside it; low-light inputs "
                 "histogram-equalised per channel (the authors' loader, for LOL); residual diffusion, 3 deterministic "
                 "steps (eta 0) from (1 - delta_cumsum) y + 0.1 z, EMA weights; output (x0 + 1) / 2 (test.py, "
                 "src/model.py, data/universal_dataset.py of iSEE-Laboratory/DiffUIR); per-image seeds",
        params="Tiny 886,435; Small 3,268,643; Base 12,406,851; Large 36,261,187 (the README's 0.89M, 3.27M, "
               "12.41M, 36.26M); test.py builds the Large one",
        checked="src/model.py of iSEE-Laboratory/DiffUIR: UnetRes and ResidualDiffusion.sample after init(), "
                "file written with ema-pytorch 0.4.5 (random weights)",
        options={"steps": "sampling steps (default 3, as test.py; 1..999)",
                 "seed": "base of the per-image seeds (default 0)",
                 "equalize": "lowlight (default: low-light datasets, as the authors' loader) | never | always",
                 "weights": "ema (default, as test.py) | model"},
    ),
    Published(
        "DA-CLIP", "Luo et al., ICLR 2024", ("1",), "daclip",
        (Release("universal-ir.pth", _DACLIP_TASKS, None,
                 "the universal IR-SDE network (motion-blurry, hazy, jpeg-compressed, low-light, noisy, raindrop, "
                 "rainy, shadowed, snowy, uncompleted = inpainting): --method-arg daclip.checkpoint=PATH"),
         Release("daclip_ViT-B-32.pt", _DACLIP_TASKS, None,
                 "the DA-CLIP encoder that conditions it: --method-arg daclip.clip=PATH")),
        where="the 'Pretrained Models' table in the README of Algolzw/daclip-uir (Google Drive, and the Hugging Face model card weblzw/daclip-uir-ViT-B-32-irsde)",
        checkpoint="universal-ir.pth: bare ConditionalUNet state dict (save_network); daclip_ViT-B-32.pt: the "
                   "open_clip DaCLIP state dict, bare or under 'state_dict', keys may carry 'module.'; its image side "
                   "(visual.*, visual_control.*) is read strictly, the text tower, the duplicate clip.visual.* and the "
                   "logit scales are left out",
        size="any H, W (the network reflect-pads to a multiple of 16 at every call and crops back)",
        pipeline="RGB in [0, 1], no padding outside the network; encoder input: uint8 by truncation, bicubic resize "
                 "of the shorter side to 224, centre crop 224, CLIP mean/std; IR-SDE from x_T = mu + (50/255) z, 100 "
                 "posterior steps, cosine schedule, eps 0.005; output clipped to [0, 1] (config/daclip-sde/test.py, "
                 "options/test.yml, data/util.py, utils/sde_utils.py of Algolzw/daclip-uir); per-image seeds",
        params="network 48,975,747 (nf 64, ch_mult 1-2-4-8, context 512); DA-CLIP image side 182,785,536 "
               "(ViT-B/32 87,849,216 + controller 94,936,320); the whole DA-CLIP file with its text tower 246,213,634",
        checked="config/daclip-sde/models/modules/DenoisingUNet_arch.py, open_clip/daclip_model.py, "
                "open_clip/transformer.py, utils/sde_utils.py, data/util.py of Algolzw/daclip-uir (random weights)",
        options={"clip": "the DA-CLIP encoder file daclip_ViT-B-32.pt (required, with checkpoint)",
                 "steps": "reverse steps (default 100, as tested; fewer: the authors' sample_T)",
                 "seed": "base of the per-image seeds (default 0)",
                 "sampling": "posterior (default, as tested) | sde"},
    ),
    Published(
        "DL", "Fan et al., ECCV 2018 / TPAMI 2019 (decouple learning)", ("2",), None,
        where="code for the single-operator setting at fqnchina/DecoupleLearning",
        why_not="no weights for the all-in-one setting of the tables were found (its numbers are those "
                "reported by the AirNet and PromptIR papers for an all-in-one retraining); " + _FOLDER,
    ),
)}


def published(name: str) -> Published | None:
    """The entry for a display name (``"X-Restormer"``, also without its punctuation: ``"daclip"``) or method
    name (``"x-restormer"``, ``"mprnet:deblur"``)."""
    base = name.partition(":")[0].lower()
    for entry in PUBLISHED.values():
        display = entry.display.lower()
        if base in (display, entry.method, "".join(c for c in display if c.isalnum())):
            return entry
    return None


def variant_rows() -> list[dict]:
    """``methods list`` rows for each published method and each named variant of it."""
    rows = []
    for entry in PUBLISHED.values():
        if entry.method is None:
            continue
        tables = ",".join(entry.tables)
        rows.append({"name": entry.method, "task": "/".join(entry.tasks), "tables": tables,
                     "needs": f"weights (--method-arg {entry.method}.checkpoint=PATH)",
                     "summary": f"{entry.display} ({entry.paper}); {entry.checkpoint.split(';')[0]}"})
        for variant, release in entry.variants.items():
            rows.append({"name": f"{entry.method}:{variant}", "task": "/".join(release.tasks), "tables": tables,
                         "needs": f"weights: {release.file}", "summary": f"{entry.display}, the released {release.file}"
                         + (f" ({release.note})" if release.note else "")})
    return rows
