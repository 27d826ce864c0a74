"""PromptIR: the published method's facts for the registry (:mod:`baselines.ports`).

Upstream: https://github.com/va1shn9v/PromptIR (compared at commit 106159ab809101f2e25b6714195cd6fa9a938d36).
Licence of the upstream code: Academic Public License (LICENSE.md: non-commercial use, modification and distribution; modified copies under the same licence; commercial use by arrangement with the authors).
Paper: PromptIR: Prompting for All-in-One Blind Image Restoration (Potlapalli et al., NeurIPS 2023).
"""

from __future__ import annotations

from baselines.catalog import Published, Release
from baselines.ports import Port


def _signature(sd) -> bool:
    """Keys only PromptIR's released files have."""
    return "prompt1.prompt_param" in sd and "patch_embed.proj.weight" in sd


#: what is known of it (methods list/info, docs/BASELINES.md): paper tables, released files and variants,
#: checkpoint format, the authors' test pipeline, parameter counts, what the port was checked against
CATALOG = Published(
    "PromptIR", "Potlapalli et al., NeurIPS 2023", ("1", "2", "3", "4", "5"), "promptir",
    (Release("model.ckpt", ("denoise", "derain", "dehaze")),),
    where="release v1.0 of va1shn9v/PromptIR",
    checkpoint="PyTorch Lightning .ckpt, state_dict keys prefixed 'net.'",
    size="H, W multiples of 8",
    pipeline="harness reflect-pads to a multiple of 8 (the authors' test data crops to a multiple of 16); "
             "RGB in [0, 1], clipped (demo.py / test.py of va1shn9v/PromptIR)",
    params="35,592,263 (decoder prompts, prompt length 5)",
    checked="net/model.py of va1shn9v/PromptIR (random weights)",
)

PORT = Port(
    name="promptir",
    display="PromptIR",
    factory="baselines.published.promptir.method:make",
    summary="PromptIR all-in-one (NeurIPS 2023), official Lightning model.ckpt",
    rank=20,
    signature=_signature,
    detect_rank=20,
    profile="PromptIR baseline, official size (35.6M), same input",
    released_as="baselines.published.promptir.method:method",
    arch="baselines.published.promptir.method:ARCH",
    upstream="va1shn9v/PromptIR",
    licence="Academic Public License (LICENSE.md: non-commercial use, modification and distribution; modified copies under the same licence; commercial use by arrangement with the authors)",
    paper="PromptIR: Prompting for All-in-One Blind Image Restoration (Potlapalli et al., NeurIPS 2023)",
    catalog=CATALOG,
)
