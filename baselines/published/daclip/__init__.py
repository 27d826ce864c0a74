"""DA-CLIP: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/Algolzw/daclip-uir (compared at commit c2cc14146faac85680b4cb39ece4ef9e2a7c7c24).
Licence of the upstream code: MIT (LICENSE; its da-clip/ folder keeps open_clip's own licence).
Paper: Controlling Vision-Language Models for Multi-Task Image Restoration (Luo et al., ICLR 2024).
"""

from __future__ import annotations

from baselines.catalog import Published, Release
from baselines.ports import Port
from baselines.published.daclip.method import PROFILE_STEPS


def _signature(sd) -> bool:
    """Keys only DA-CLIP's released files have."""
    return "visual_control.transformer.zero_modules.0.weight" in sd or (
        "init_conv.weight" in sd and "downs.0.0.block1.proj.weight" in sd and "time_mlp.1.weight" in sd)


#: the ten degradations of DA-CLIP's universal model (options/test.yml 'distortion'), in this project's task words
_TASKS = ("deblur", "dehaze", "jpeg", "lowlight", "denoise", "raindrop", "derain", "deshadow", "desnow",
          "inpaint")

#: what is known of it (methods list/info, docs/BASELINES.md): paper tables, released files and variants,
#: checkpoint format, the authors' test pipeline, parameter counts, what the port was checked against
CATALOG = Published(
    "DA-CLIP", "Luo et al., ICLR 2024", ("1",), "daclip",
    (Release("universal-ir.pth", _TASKS, None,
             "the universal IR-SDE network (motion-blurry, hazy, jpeg-compressed, low-light, noisy, raindrop, "
             "rainy, shadowed, snowy, uncompleted = inpainting): --method-arg daclip.checkpoint=PATH"),
     Release("daclip_ViT-B-32.pt", _TASKS, None,
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
)

PORT = Port(
    name="daclip",
    display="DA-CLIP",
    factory="baselines.published.daclip.method:make",
    summary="DA-CLIP universal IR (ICLR 2024): DA-CLIP encoder + IR-SDE, 100 posterior steps, per-image seeds",
    rank=90,
    signature=_signature,
    detect_rank=90,
    needs="weights (--method-arg daclip.checkpoint=universal-ir.pth --method-arg daclip.clip=daclip_ViT-B-32.pt)",
    profile=f"DA-CLIP baseline: encoder (182.8M) + IR-SDE network (49.0M), {PROFILE_STEPS} of the authors' 100 "
            "reverse steps (one restoration costs about 10x)",
    profile_builder="baselines.published.daclip.method:profile_method",
    upstream="Algolzw/daclip-uir",
    licence="MIT (LICENSE; its da-clip/ folder keeps open_clip's own licence)",
    paper="Controlling Vision-Language Models for Multi-Task Image Restoration (Luo et al., ICLR 2024)",
    catalog=CATALOG,
)
