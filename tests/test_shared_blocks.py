"""The ABAIR backbone's Restormer block and prompt generator are kept apart from the published
Restormer/PromptIR re-implementations on purpose: ABAIR's 1x1 convolutions are adapter-hosting
Projections and its norm has its own key names, while the baselines reproduce the authors'
checkpoint keys exactly. These tests pin that the two compute the same function."""

from __future__ import annotations

import torch

from abair.model.blocks import TransformerBlock as AbairBlock
from abair.model.prompt import PromptGen
from baselines.published.promptir.arch import PromptBlock
from baselines.published.restormer.arch import TransformerBlock as RestormerBlock

# ABAIR parameter name -> Restormer parameter name
BLOCK_KEYS = {
    "norm1.weight": "norm1.body.weight", "norm1.bias": "norm1.body.bias",
    "norm2.weight": "norm2.body.weight", "norm2.bias": "norm2.body.bias",
    "attn.temperature": "attn.temperature", "attn.qkv.weight": "attn.qkv.weight",
    "attn.qkv_dw.weight": "attn.qkv_dwconv.weight", "attn.proj.weight": "attn.project_out.weight",
    "ffn.proj_in.weight": "ffn.project_in.weight", "ffn.dw.weight": "ffn.dwconv.weight",
    "ffn.proj_out.weight": "ffn.project_out.weight",
}
PROMPT_KEYS = {"components": "prompt_param", "weights.weight": "linear_layer.weight",
               "weights.bias": "linear_layer.bias", "conv.weight": "conv3x3.weight"}


def _copy(src: torch.nn.Module, dst: torch.nn.Module, keys: dict[str, str]) -> None:
    state = src.state_dict()
    assert set(state) == set(keys), set(state) ^ set(keys)
    dst.load_state_dict({keys[k]: v for k, v in state.items()}, strict=True)


def test_abair_and_restormer_transformer_blocks_compute_the_same_function():
    torch.manual_seed(0)
    ours = AbairBlock(48, heads=2, expansion=2.66, bias=False, norm_bias=True).eval()
    for p in ours.parameters():  # away from the initial values (ones, zeros) that hide mistakes
        torch.nn.init.normal_(p, std=0.2)
    theirs = RestormerBlock(48, 2, 2.66, False, "WithBias").eval()
    _copy(ours, theirs, BLOCK_KEYS)
    x = torch.randn(2, 48, 17, 23)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=2e-5, rtol=1e-5)


def test_abair_prompt_generator_equals_promptir_prompt_block():
    torch.manual_seed(1)
    ours = PromptGen(feat_dim=96, prompt_dim=64, length=5, size=16).eval()
    theirs = PromptBlock(prompt_dim=64, prompt_len=5, prompt_size=16, in_dim=96).eval()
    _copy(ours, theirs, PROMPT_KEYS)
    x = torch.randn(2, 96, 20, 28)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-6, rtol=1e-6)
