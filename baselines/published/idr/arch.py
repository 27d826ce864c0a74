"""IDR (Zhang et al., "Ingredient-oriented Multi-Degradation Learning for Image Restoration", CVPR 2023),
re-implemented so that a checkpoint written by the authors' training code loads strictly.

No trained weights were released; this port is for people who train IDR themselves with the
authors' code (``JingHao99/IDR-Ingredients-oriented-Degradation-Reformulation``). Their training
loop saves ``network.state_dict()`` as a bare ``.pth`` (``<epoch>_G.pth``, the file their
``inference.py`` loads); attribute names here follow it (``degra_key``, ``dmixer.convU.weight``,
``kdp_level1.principle.convolve.convolve.0.0.weight``, ...).

The network is Restormer's 4-level U-net (the blocks of :mod:`baselines.published.restormer.arch`) with a
*degradation-prior* block after each encoder level (``kdp_level1..3``). Only the forward of the
second training stage is implemented, the one the authors' evaluation runs (no degradation label):

1. **Ingredients.** ``degra_key`` holds T = 5 sets (one per training degradation) of Q learned key
   vectors of width 8 * dim. Each set is factorised by a reduced SVD, ``K_t = U_t diag(s_t) V_t^T``.
   The T * Q left singular vectors are mixed by a learned 1x1 convolution (``dmixer.convU``) into Q
   vectors, the T * Q right ones likewise (``dmixer.convV``), giving ``U'`` (Q x Q) and ``V'`` (Q x C).
2. **Per image and level,** a router (``principle.pred``: global pool, two 1x1 convs, softmax over
   5 operations) gives weights ``w``; the keys are ``U' diag(w S) V'`` (S: the T x Q singular values,
   so the router's weights re-scale each ingredient).
3. A supervised-attention module (``SAM``) uses the input image resized to the level's size
   (bilinear, ``align_corners=False``, *no anti-aliasing*: torchvision 0.12's ``Resize`` on tensors,
   the version the authors pin); cross-attention from the features (queries, per pixel) to the keys
   (``attn``) gives a degradation map.
4. Three physically motivated routes act on ``img = mlp_img(x)`` given the channel-interleaved pair
   ``[img, mlp_degra(map)]``: *addition* (``img + f(pair)``), *point* (``gamma * . + beta``) and
   *convolve* (a per-pixel 5x5 kernel per channel, replicate padding). As in the authors' code, the
   addition is done in place, so the point and convolve routes act on ``img + f(pair)``, not on
   ``img``; the output is ``(w2 + w4) point + (w0 + w1) addition + w3 convolve``, then a feed-forward
   network (``ffn``) with a residual.

**Singular-vector signs.** An SVD fixes each pair (u_i, v_i) only up to a common sign. The mixing
convolutions act on U and V separately, so flipping a pair changes ``U' diag(.) V'``, and with it the
output: IDR's result depends on the signs the linear-algebra library picks. The authors' forward calls
``torch.svd`` (the same routine as ``torch.linalg.svd(full_matrices=False)``) on the device the model
runs on, on every call, in float32; their trained mixing weights are tied to the signs of the device
they were trained on. This port does the same by default (``svd_device=None``: the device of
``degra_key``), so on one machine it matches the authors' code; ``svd_device="cpu"`` takes the SVD on
the CPU whatever the run device, so that runs on different devices use the same vectors.
:func:`svd_signature` fingerprints the signs in use (recorded in a run's config), so two runs can
be checked to have used the same ones.

Tensors: float NCHW images in [0, 1] in and out (not clipped), a predicted residual added to the
input. H and W must be multiples of 8 (three 2x down-samplings); the authors' test data is instead
cropped (centred) to a multiple of 32.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from baselines.published.restormer.arch import ChannelNorm, Downsample, Upsample, _PatchEmbed, _stage

__all__ = ["IDR", "IDR_DEFAULTS", "IDR_INFERENCE", "svd_signature", "kernel_filter", "interleave"]

#: the ``network_g`` of the authors' training configuration (config/IDR-restormer.yml)
IDR_DEFAULTS: dict = {
    "inp_channels": 3, "out_channels": 3, "dim": 30, "num_blocks": (2, 3, 3, 4), "num_refinement_blocks": 2,
    "heads": (1, 2, 4, 8), "ffn_expansion_factor": 2.66, "bias": False, "LayerNorm_type": "WithBias",
    "num_degra_queries": 24, "keep_degra": 48, "degra_type": 5, "sam": True, "ops_type": 5, "pred": True,
}
#: the network the authors' inference.py builds (dim 24; otherwise the same)
IDR_INFERENCE: dict = {**IDR_DEFAULTS, "dim": 24}

#: the prior blocks' feed-forward expansion (fixed in the authors' network, whatever ``ffn_expansion_factor``)
_KEY_FFN_EXPANSION = 2.66
_KERNEL = 5  # the convolve route's per-pixel kernel size


def interleave(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) x2 -> (N, 2C, H, W) with channels a0, b0, a1, b1, ..."""
    n, c, h, w = a.shape
    return torch.stack((a, b), dim=2).reshape(n, 2 * c, h, w)


def kernel_filter(x: torch.Tensor, kernels: torch.Tensor, size: int = _KERNEL) -> torch.Tensor:
    """Filter each pixel of each channel of ``x`` (N, C, H, W) with its own ``size`` x ``size`` kernel.

    ``kernels``: (N, C * size * size, H, W); channel ``c * size**2 + i * size + j`` weighs the input
    at offset (i - size // 2, j - size // 2) (row, column) of channel c. The image is extended by
    replicating its border.
    """
    n, c, h, w = x.shape
    r = size // 2
    patches = F.unfold(F.pad(x, (r, r, r, r), mode="replicate"), size)  # (N, C * size^2, H * W)
    return (patches * kernels.reshape(n, c * size * size, h * w)).reshape(n, c, size * size, h * w).sum(2).reshape(
        n, c, h, w)


def _conv_act(c_in: int, c_out: int, k: int) -> nn.Sequential:
    """A convolution (padding k // 2, with bias) followed by a PReLU (one slope, initialised at 0.2)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2), nn.PReLU(1, init=0.2))


class _ResBlock(nn.Module):
    """``x + conv2(relu(conv1(x)))``, 3x3 convolutions with bias, no normalisation."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class _Additive(nn.Module):
    """The addition route's residual (features from the interleaved pair)."""

    def __init__(self, dim: int):
        super().__init__()
        self.add = nn.Sequential(_conv_act(2 * dim, dim, 3), _ResBlock(dim), _ResBlock(dim))


class _Affine(nn.Module):
    """The point route's (gamma, beta) from the interleaved pair."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Sequential(_conv_act(2 * dim, 2 * dim, 3), _ResBlock(2 * dim), _ResBlock(2 * dim))


class _Kernels(nn.Module):
    """The convolve route's per-pixel kernels from the interleaved pair."""

    def __init__(self, dim: int):
        super().__init__()
        self.convolve = nn.Sequential(_conv_act(2 * dim, dim, 3), _ResBlock(dim), _ResBlock(dim),
                                      _conv_act(dim, dim * _KERNEL * _KERNEL, 1))


class _Routes(nn.Module):
    """The three degradation routes and the router (``principle``)."""

    def __init__(self, dim: int, ops_type: int):
        super().__init__()
        self.mlp_img = nn.Conv2d(dim, dim, 1)
        self.mlp_degra = nn.Conv2d(dim, dim, 1)
        self.convolve = _Kernels(dim)
        self.addition = _Additive(dim)
        self.point = _Affine(dim)
        self.pred = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, dim, 1), nn.Conv2d(dim, ops_type, 1),
                                  nn.Softmax(dim=1))

    def forward(self, x: torch.Tensor, degra_map: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``w``: the router's (N, ops) weights for ``x``."""
        img = self.mlp_img(x)
        pair = interleave(img, self.mlp_degra(degra_map))
        added = img + self.addition.add(pair)  # the routes below see it (the authors add in place)
        gamma, beta = self.point.weight(pair).chunk(2, dim=1)
        pointed = gamma * added + beta
        filtered = kernel_filter(added, self.convolve.convolve(pair))
        w = w[:, :, None, None]
        return (w[:, 2:3] + w[:, 4:5]) * pointed + (w[:, 0:1] + w[:, 1:2]) * added + w[:, 3:4] * filtered


class _SAM(nn.Module):
    """Supervised attention: ``x + conv1(x) * sigmoid(conv3(conv2(x) + image))`` (1x1 convolutions)."""

    def __init__(self, dim: int, bias: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 1, bias=bias)
        self.conv2 = nn.Conv2d(dim, 3, 1, bias=bias)
        self.conv3 = nn.Conv2d(3, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(x) * torch.sigmoid(self.conv3(self.conv2(x) + image))


class _KeyAttention(nn.Module):
    """Cross-attention from every pixel (queries) to the Q degradation keys, per head, scaled by dim**-0.5.

    ``temperature``, ``qkv`` and ``qkv_dwconv`` are stored in the authors' checkpoints but unused by
    their forward; they are kept so the keys match.
    """

    def __init__(self, dim: int, dimkey: int, num_heads: int, bias: bool):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.scale = dim ** -0.5
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.q = nn.Sequential(nn.Conv2d(dim, dim, 1, bias=bias), nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=bias))
        self.kv = nn.Linear(dimkey, 2 * dim)
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(3 * dim, 3 * dim, 3, padding=1, groups=3 * dim, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        heads = self.num_heads
        q = self.q(x).reshape(n, heads, c // heads, h * w).transpose(-2, -1)  # (N, heads, HW, c)
        k, v = (t.reshape(n, -1, heads, c // heads).transpose(1, 2) for t in self.kv(keys).chunk(2, dim=-1))
        attn = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1)  # (N, heads, HW, Q)
        out = torch.matmul(attn, v).transpose(-2, -1).reshape(n, c, h, w)
        return self.project_out(out)


class _FFN(nn.Module):
    """1x1 conv, 3x3 depth-wise conv (with bias), GELU, 1x1 conv."""

    def __init__(self, dim: int, expansion: float, bias: bool):
        super().__init__()
        hidden = int(dim * expansion)
        self.fc1 = nn.Conv2d(dim, hidden, 1, bias=bias)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.fc2 = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.dwconv(self.fc1(x))))


class _PriorBlock(nn.Module):
    """The degradation-prior block after an encoder level (``kdp_level1..3``)."""

    def __init__(self, dim: int, dimkey: int, num_heads: int, bias: bool, layernorm: str, sam: bool, ops_type: int):
        super().__init__()
        self.dimkey = dimkey
        self.norm1 = ChannelNorm(dim, layernorm)
        self.attn = _KeyAttention(dim, dimkey, num_heads, bias)
        self.norm2 = ChannelNorm(dim, layernorm)
        self.ffn = _FFN(dim, _KEY_FFN_EXPANSION, bias)
        self.principle = _Routes(dim, ops_type)
        if sam:
            self.SAM = _SAM(dim, bias)

    def forward(self, x: torch.Tensor, left: torch.Tensor, values: torch.Tensor, right: torch.Tensor,
                image: torch.Tensor) -> torch.Tensor:
        """``left`` (Q, Q'), ``values`` (T, Q'), ``right`` (Q', C): the mixed ingredients; ``image`` the
        input resized to this level."""
        w = self.principle.pred(x).flatten(1)  # (N, ops)
        keys = torch.matmul(left * torch.matmul(w, values)[:, None, :], right)  # U' diag(w S) V', (N, Q, C)
        keys = F.layer_norm(keys, (self.dimkey,))
        feats = self.SAM(x, image) if hasattr(self, "SAM") else x
        degra_map = self.attn(self.norm1(feats), keys)
        x = self.principle(x, degra_map, w)
        return x + self.ffn(self.norm2(x))


class _Mixer(nn.Module):
    """Mixes the T * Q singular vectors into Q (``dmixer``): one 1x1 convolution for each side."""

    def __init__(self, num_degra: int):
        super().__init__()
        self.convU = nn.Conv2d(num_degra, num_degra // 5, 1)
        self.convV = nn.Conv2d(num_degra, num_degra // 5, 1)


def svd_signature(model: IDR) -> str:
    """The signs of the left singular vectors in use: for each vector, '+' when its entry of largest
    magnitude is positive, else '-' (T * Q characters; two runs with equal strings used the same vectors)."""
    with torch.no_grad():
        u, _, _ = model.singular_vectors()
    u = u.transpose(1, 2).reshape(-1, u.shape[1])  # one row per vector
    picked = u.gather(1, u.abs().argmax(dim=1, keepdim=True)).flatten()
    return "".join("+" if v > 0 else "-" for v in picked.tolist())


class IDR(nn.Module):
    """The IDR network (the authors' ``IDR_restormer``), second-stage forward; arguments as theirs.

    ``forward(x)`` maps a float (N, 3, H, W) image in [0, 1], H and W multiples of 8, to a restored
    (N, 3, H, W) image (not clipped). ``keep_degra`` is accepted and unused, as in the authors' code.
    ``svd_device``: where the SVD of ``degra_key`` is taken (None: where the model is; see the module
    docstring). ``antialias``: resize the input to the levels with anti-aliasing (False: torchvision
    0.12, which the authors pin; True: torchvision 0.17 or later, where it became the default).
    """

    def __init__(self, inp_channels: int = 3, out_channels: int = 3, dim: int = 30,
                 num_blocks: Sequence[int] = (2, 3, 3, 4), num_refinement_blocks: int = 2,
                 heads: Sequence[int] = (1, 2, 4, 8), ffn_expansion_factor: float = 2.66, bias: bool = False,
                 LayerNorm_type: str = "WithBias", num_degra_queries: int = 24, keep_degra: int = 48,
                 degra_type: int = 5, sam: bool = True, ops_type: int = 5, pred: bool = True,
                 svd_device: str | None = None, antialias: bool = False):
        super().__init__()
        if len(num_blocks) != 4 or len(heads) != 4:
            raise ValueError("num_blocks and heads need one entry per level (4)")
        if degra_type != 5 or ops_type != 5 or not pred:
            # the authors' forward mixes T * Q vectors into T * Q // 5 and weighs T sets of singular values
            # by the router's 5 outputs: it runs only with 5 of each and the router present
            raise ValueError(f"IDR's forward needs degra_type = ops_type = 5 and pred (got {degra_type}, {ops_type}, {pred})")
        d1, d2, d3, d4 = dim, 2 * dim, 4 * dim, 8 * dim
        f, b, ln = ffn_expansion_factor, bias, LayerNorm_type
        self.svd_device = svd_device
        self.antialias = antialias
        self.patch_embed = _PatchEmbed(inp_channels, d1)
        self.encoder_level1 = _stage(d1, num_blocks[0], heads[0], f, b, ln)
        self.down1_2 = Downsample(d1)
        self.encoder_level2 = _stage(d2, num_blocks[1], heads[1], f, b, ln)
        self.down2_3 = Downsample(d2)
        self.encoder_level3 = _stage(d3, num_blocks[2], heads[2], f, b, ln)
        self.down3_4 = Downsample(d3)
        self.latent = _stage(d4, num_blocks[3], heads[3], f, b, ln)
        self.up4_3 = Upsample(d4)
        self.reduce_chan_level3 = nn.Conv2d(d4, d3, 1, bias=bias)
        self.decoder_level3 = _stage(d3, num_blocks[2], heads[2], f, b, ln)
        self.up3_2 = Upsample(d3)
        self.reduce_chan_level2 = nn.Conv2d(d3, d2, 1, bias=bias)
        self.decoder_level2 = _stage(d2, num_blocks[1], heads[1], f, b, ln)
        self.up2_1 = Upsample(d2)
        self.decoder_level1 = _stage(d2, num_blocks[0], heads[0], f, b, ln)
        self.refinement = _stage(d2, num_refinement_blocks, heads[0], f, b, ln)
        self.output = nn.Conv2d(d2, out_channels, 3, padding=1, bias=bias)
        self.degra_key = nn.Parameter(torch.randn(degra_type, num_degra_queries, d4))
        self.dmixer = _Mixer(num_degra_queries * degra_type)
        self.kdp_level1 = _PriorBlock(d1, d4, heads[0], bias, ln, sam, ops_type)
        self.kdp_level2 = _PriorBlock(d2, d4, heads[1], bias, ln, sam, ops_type)
        self.kdp_level3 = _PriorBlock(d3, d4, heads[2], bias, ln, sam, ops_type)

    def singular_vectors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reduced SVD of each key set, ``(U (T, Q, Q), S (T, Q), Vh (T, Q, C))``, on ``svd_device``,
        returned on the keys' device."""
        keys = self.degra_key.detach()
        u, s, vh = torch.linalg.svd(keys.to(self.svd_device) if self.svd_device else keys, full_matrices=False)
        return u.to(keys.device), s.to(keys.device), vh.to(keys.device)

    def ingredients(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(U' (Q, Q'), S (T, Q), V' (Q', C))``: the singular vectors mixed by ``dmixer``."""
        u, s, vh = self.singular_vectors()
        t, q, c = vh.shape
        left = self.dmixer.convU(u.transpose(1, 2).reshape(1, t * q, q, 1))[0, :, :, 0]  # (Q', Q)
        right = self.dmixer.convV(vh.reshape(1, t * q, c, 1))[0, :, :, 0]  # (Q', C)
        return left.transpose(0, 1), s, right

    def _resized(self, image: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(image, size=like.shape[-2:], mode="bilinear", align_corners=False,
                             antialias=self.antialias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        left, values, right = self.ingredients()
        enc1 = self.encoder_level1(self.patch_embed(image))
        enc1 = self.kdp_level1(enc1, left, values, right, self._resized(image, enc1))
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc2 = self.kdp_level2(enc2, left, values, right, self._resized(image, enc2))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        enc3 = self.kdp_level3(enc3, left, values, right, self._resized(image, enc3))
        lat = self.latent(self.down3_4(enc3))
        dec3 = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(lat), enc3], 1)))
        dec2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(dec3), enc2], 1)))
        dec1 = self.refinement(self.decoder_level1(torch.cat([self.up2_1(dec2), enc1], 1)))
        return self.output(dec1) + image
