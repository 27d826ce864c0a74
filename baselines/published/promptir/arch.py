"""PromptIR (Potlapalli et al., NeurIPS 2023), re-implemented so the released ``model.ckpt`` loads strictly.

PromptIR is a Restormer-shaped U-net whose decoder is conditioned on the degradation through three
*prompt blocks*. A prompt block owns ``prompt_len`` learned tensors (``prompt_dim x size x size``);
from the globally averaged features it predicts softmax weights over them, mixes them, resizes the
mix bilinearly to the feature map and applies a 3x3 conv. The prompt is concatenated to the features,
passed through one transformer block (the "interaction" block, stored as ``noise_levelK``) and reduced
back by a 1x1 conv (``reduce_noise_levelK``).

Key layout notes (reproduced so that strict loading works):

- Only the decoder-prompt configuration (``decoder=True`` in the authors' code) is implemented: it is
  the one the all-in-one checkpoint was trained with, and the only one whose shapes are consistent
  (``up4_3`` expects the ``4*dim``-wide output of ``reduce_noise_level3``).
- The released checkpoint also stores six layers its forward pass never uses (``chnl_reduce1..3``,
  ``reduce_noise_channel_1..3``); they are created here with the same shapes and likewise unused.
- All interaction blocks use ``heads[2]`` heads, whatever their level.

Tensors: float NCHW in [0, 1] in and out (not clipped); H and W multiples of 8.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from baselines.published.restormer.arch import Downsample, TransformerBlock, Upsample, _PatchEmbed, _stage

__all__ = ["PromptBlock", "PromptIR", "PROMPTIR_DEFAULTS"]

#: Hyper-parameters of the released all-in-one checkpoint (noise + rain + haze).
PROMPTIR_DEFAULTS: dict = {
    "in_channels": 3, "out_channels": 3, "dim": 48, "num_blocks": (4, 6, 6, 8),
    "num_refinement_blocks": 4, "heads": (1, 2, 4, 8), "ffn_expansion_factor": 2.66, "bias": False,
    "layernorm": "WithBias", "prompt_dims": (64, 128, 320), "prompt_sizes": (64, 32, 16), "prompt_len": 5,
}


class PromptBlock(nn.Module):
    """Prompt generation: input-conditioned mixture of ``prompt_len`` learned prompts.

    ``forward(x)``: x is (N, in_dim, H, W); returns (N, prompt_dim, H, W).
    """

    def __init__(self, prompt_dim: int, prompt_len: int, prompt_size: int, in_dim: int):
        super().__init__()
        self.prompt_param = nn.Parameter(torch.rand(1, prompt_len, prompt_dim, prompt_size, prompt_size))
        self.linear_layer = nn.Linear(in_dim, prompt_len)
        self.conv3x3 = nn.Conv2d(prompt_dim, prompt_dim, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.linear_layer(x.mean(dim=(-2, -1))), dim=1)  # (N, L)
        mixed = torch.einsum("nl,lchw->nchw", weights, self.prompt_param[0])
        mixed = F.interpolate(mixed, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv3x3(mixed)


class PromptIR(nn.Module):
    """The PromptIR network with decoder prompts; defaults are the released checkpoint's.

    ``forward(x)`` maps a float (N, in_channels, H, W) image in [0, 1] (H, W multiples of 8) to the
    restored image of the same shape: a predicted residual added to the input.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        dim: int = 48,
        num_blocks: Sequence[int] = (4, 6, 6, 8),
        num_refinement_blocks: int = 4,
        heads: Sequence[int] = (1, 2, 4, 8),
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        layernorm: str = "WithBias",
        prompt_dims: Sequence[int] = (64, 128, 320),
        prompt_sizes: Sequence[int] = (64, 32, 16),
        prompt_len: int = 5,
    ):
        super().__init__()
        if len(num_blocks) != 4 or len(heads) != 4 or len(prompt_dims) != 3 or len(prompt_sizes) != 3:
            raise ValueError("num_blocks/heads need 4 entries, prompt_dims/prompt_sizes 3 (levels 1..3)")
        d1, d2, d3, d4 = dim, 2 * dim, 4 * dim, 8 * dim
        p1, p2, p3 = prompt_dims
        f, b, ln = ffn_expansion_factor, bias, layernorm
        unused3 = 2 * p2  # width of the never-used chnl_reduce3 output (256 in the release)

        self.patch_embed = _PatchEmbed(in_channels, d1)
        self.prompt1 = PromptBlock(p1, prompt_len, prompt_sizes[0], d2)
        self.prompt2 = PromptBlock(p2, prompt_len, prompt_sizes[1], d3)
        self.prompt3 = PromptBlock(p3, prompt_len, prompt_sizes[2], d4)
        # present in the released checkpoint, never used by the forward pass
        self.chnl_reduce1 = nn.Conv2d(p1, p1, 1, bias=bias)
        self.chnl_reduce2 = nn.Conv2d(p2, p2, 1, bias=bias)
        self.chnl_reduce3 = nn.Conv2d(p3, unused3, 1, bias=bias)
        self.reduce_noise_channel_1 = nn.Conv2d(d1 + p1, d1, 1, bias=bias)
        self.reduce_noise_channel_2 = nn.Conv2d(d2 + p2, d2, 1, bias=bias)
        self.reduce_noise_channel_3 = nn.Conv2d(d3 + unused3, d3, 1, bias=bias)

        self.encoder_level1 = _stage(d1, num_blocks[0], heads[0], f, b, ln)
        self.down1_2 = Downsample(d1)
        self.encoder_level2 = _stage(d2, num_blocks[1], heads[1], f, b, ln)
        self.down2_3 = Downsample(d2)
        self.encoder_level3 = _stage(d3, num_blocks[2], heads[2], f, b, ln)
        self.down3_4 = Downsample(d3)
        self.latent = _stage(d4, num_blocks[3], heads[3], f, b, ln)

        self.noise_level3 = TransformerBlock(d4 + p3, heads[2], f, b, ln)
        self.reduce_noise_level3 = nn.Conv2d(d4 + p3, d3, 1, bias=bias)
        self.up4_3 = Upsample(d3)
        self.reduce_chan_level3 = nn.Conv2d(d2 + d3, d3, 1, bias=bias)
        self.decoder_level3 = _stage(d3, num_blocks[2], heads[2], f, b, ln)

        self.noise_level2 = TransformerBlock(d3 + p2, heads[2], f, b, ln)
        self.reduce_noise_level2 = nn.Conv2d(d3 + p2, d3, 1, bias=bias)
        self.up3_2 = Upsample(d3)
        self.reduce_chan_level2 = nn.Conv2d(d3, d2, 1, bias=bias)
        self.decoder_level2 = _stage(d2, num_blocks[1], heads[1], f, b, ln)

        self.noise_level1 = TransformerBlock(d2 + p1, heads[2], f, b, ln)
        self.reduce_noise_level1 = nn.Conv2d(d2 + p1, d2, 1, bias=bias)
        self.up2_1 = Upsample(d2)
        self.decoder_level1 = _stage(d2, num_blocks[0], heads[0], f, b, ln)
        self.refinement = _stage(d2, num_refinement_blocks, heads[0], f, b, ln)
        self.output = nn.Conv2d(d2, out_channels, 3, padding=1, bias=bias)

    @staticmethod
    def _prompted(x: torch.Tensor, prompt: PromptBlock, mix: TransformerBlock, reduce: nn.Conv2d) -> torch.Tensor:
        return reduce(mix(torch.cat([x, prompt(x)], 1)))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        enc1 = self.encoder_level1(self.patch_embed(image))
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        lat = self.latent(self.down3_4(enc3))
        lat = self._prompted(lat, self.prompt3, self.noise_level3, self.reduce_noise_level3)

        dec3 = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(lat), enc3], 1)))
        dec3 = self._prompted(dec3, self.prompt2, self.noise_level2, self.reduce_noise_level2)

        dec2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(dec3), enc2], 1)))
        dec2 = self._prompted(dec2, self.prompt1, self.noise_level1, self.reduce_noise_level1)

        dec1 = self.refinement(self.decoder_level1(torch.cat([self.up2_1(dec2), enc1], 1)))
        return self.output(dec1) + image
