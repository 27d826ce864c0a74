"""AirNet (Li et al., CVPR 2022), re-implemented so the released ``.pth`` files load strictly.

AirNet has two parts (the attribute names are the checkpoint's top-level keys):

- ``E``: the contrastive degradation encoder (CBDE), a MoCo pair of small ResNet encoders
  (``E.E.encoder_q``, ``E.E.encoder_k``) with the negative-key queue (``E.E.queue``,
  ``E.E.queue_ptr``). At inference only the query encoder's first residual block matters: its
  full-resolution feature map ("inter", ``n_feats`` channels) is the degradation representation fed
  to the restorer. The key encoder, the queue and the pooled/MLP features exist only for training
  and are kept so the checkpoint loads strictly.
- ``R``: the degradation-guided restoration network (DGRN): a 3x3 head conv, ``n_groups`` groups of
  ``n_blocks`` blocks, each block applying two degradation-guided modules (a modulated deformable
  3x3 conv whose offsets and masks are predicted from [features, inter], plus an SFT affine
  modulation predicted from inter), and a 3x3 tail conv. Long and short residual connections as in
  RCAN-style group/block nesting.

The queue length is ``batch_size * 256`` in the authors' training script, so it differs between the
released files (All.pth: 1280, Denoise.pth: 768, Derain/Dehaze.pth: 256); the loader reads it from
the checkpoint.

Tensors: float NCHW in [0, 1] in and out (the output is not clipped and is *not* a residual on the
input: the tail conv predicts the image). Any H and W work.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AirNet", "AIRNET_DEFAULTS", "DEFORM_CONV_CHOICES", "modulated_deform_conv2d", "deform_conv_backend"]

AIRNET_DEFAULTS: dict = {"n_feats": 64, "n_groups": 5, "n_blocks": 5, "queue_size": 1280}


# --------------------------------------------------------------------------------------------------
# modulated deformable convolution (DCNv2)


def _deform_conv_torch(x, offset, mask, weight, padding: int) -> torch.Tensor:
    """Pure-PyTorch modulated deformable convolution, stride 1, dilation 1, one offset group.

    ``offset`` is (N, 2*K, H, W) with the (dy, dx) pair of kernel tap k at channels (2k, 2k+1), taps in
    row-major order; ``mask`` is (N, K, H, W). Samples are bilinear; image samples outside the map
    count as zero (the convention of the DCNv2 CUDA kernels used by mmcv and torchvision).
    """
    n, c, h, w = x.shape
    out_c, _, kh, kw = weight.shape
    taps = kh * kw
    ky, kx = torch.meshgrid(
        torch.arange(kh, device=x.device, dtype=x.dtype), torch.arange(kw, device=x.device, dtype=x.dtype),
        indexing="ij",
    )
    base_y = torch.arange(h, device=x.device, dtype=x.dtype).view(1, 1, h, 1) - padding + ky.reshape(1, taps, 1, 1)
    base_x = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, 1, w) - padding + kx.reshape(1, taps, 1, 1)
    off = offset.view(n, taps, 2, h, w)
    py = base_y + off[:, :, 0]
    px = base_x + off[:, :, 1]
    # grid_sample with align_corners=False maps pixel index p to (2p + 1) / size - 1
    grid = torch.stack(((2 * px + 1) / w - 1, (2 * py + 1) / h - 1), dim=-1)  # (N, K, H, W, 2)
    sampled = F.grid_sample(
        x, grid.view(n, taps * h, w, 2), mode="bilinear", padding_mode="zeros", align_corners=False,
    ).view(n, c, taps, h, w)
    sampled = sampled * mask.unsqueeze(1)
    return torch.einsum("nckhw,ock->nohw", sampled, weight.reshape(out_c, c, taps))


def _deform_conv_torchvision(x, offset, mask, weight, padding: int) -> torch.Tensor:
    from torchvision.ops import deform_conv2d

    return deform_conv2d(x, offset, weight, None, stride=1, padding=padding, mask=mask)


_BACKENDS = {"torch": _deform_conv_torch, "torchvision": _deform_conv_torchvision}
DEFORM_CONV_CHOICES = ("auto", *_BACKENDS)


@functools.lru_cache(maxsize=1)
def _torchvision_ops_available() -> bool:
    try:
        from torchvision.ops import deform_conv2d  # noqa: F401
    except Exception:  # torchvision missing, or a build that fails to import on this machine
        return False
    return True


def deform_conv_backend(preference: str = "auto", device_type: str = "cpu") -> str:
    """The implementation used for ``preference`` on a ``device_type`` ("cpu", "cuda", ...) tensor.

    ``"auto"`` means torchvision's kernel on GPUs (fast, little memory) when ``torchvision.ops``
    imports, and the pure-PyTorch path otherwise: on CPUs it is several times faster than
    torchvision's CPU kernel (measured 1.0 s vs 6.7 s for the full AirNet on a 64x64 image).
    """
    if preference not in DEFORM_CONV_CHOICES:
        raise ValueError(f"deform_conv must be one of {', '.join(DEFORM_CONV_CHOICES)}; got {preference!r}")
    if preference != "auto":
        return preference
    return "torchvision" if device_type != "cpu" and _torchvision_ops_available() else "torch"


def modulated_deform_conv2d(x, offset, mask, weight, padding: int = 1, backend: str = "auto") -> torch.Tensor:
    """DCNv2 convolution (stride 1, no bias) through ``backend`` ("auto", "torch" or "torchvision")."""
    return _BACKENDS[deform_conv_backend(backend, x.device.type)](x, offset, mask, weight, padding)


class DeformableConv(nn.Module):
    """Modulated deformable conv whose offsets/masks come from [features, degradation map].

    ``conv_offset_mask`` predicts 3*K channels: dy/dx halves (concatenated as the offset) and K mask
    logits (through a sigmoid). The offset predictor starts at zero, so an untrained layer is a plain conv.
    """

    def __init__(self, channels: int, kernel_size: int = 3, backend: str = "auto"):
        super().__init__()
        self.padding = (kernel_size - 1) // 2
        self.backend = backend
        self.weight = nn.Parameter(torch.empty(channels, channels, kernel_size, kernel_size))
        nn.init.uniform_(self.weight, -(channels * kernel_size**2) ** -0.5, (channels * kernel_size**2) ** -0.5)
        self.conv_offset_mask = nn.Conv2d(2 * channels, 3 * kernel_size**2, kernel_size, padding=self.padding)
        nn.init.zeros_(self.conv_offset_mask.weight)
        nn.init.zeros_(self.conv_offset_mask.bias)

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        dy_dx_a, dy_dx_b, mask_logits = self.conv_offset_mask(torch.cat([x, inter], 1)).chunk(3, dim=1)
        offset = torch.cat([dy_dx_a, dy_dx_b], 1)
        return modulated_deform_conv2d(x.contiguous(), offset, torch.sigmoid(mask_logits), self.weight,
                                       self.padding, self.backend)


def _two_layer_1x1(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.LeakyReLU(0.1), nn.Conv2d(c_out, c_out, 1, bias=False))


class SFT(nn.Module):
    """Spatial feature transform: ``x * gamma(inter) + beta(inter)`` with two-layer 1x1 predictors."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv_gamma = _two_layer_1x1(channels, channels)
        self.conv_beta = _two_layer_1x1(channels, channels)

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        return x * self.conv_gamma(inter) + self.conv_beta(inter)


class DGM(nn.Module):
    """Degradation-guided module: ``x + dcn(x, inter) + sft(x, inter)``."""

    def __init__(self, channels: int, backend: str):
        super().__init__()
        self.dcn = DeformableConv(channels, 3, backend)
        self.sft = SFT(channels)

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        return x + self.dcn(x, inter) + self.sft(x, inter)


def _conv3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1, bias=True)


class DGB(nn.Module):
    """Degradation-guided block: DGM, conv, DGM, conv (leaky ReLU 0.1 between), plus a skip."""

    def __init__(self, channels: int, backend: str):
        super().__init__()
        self.dgm1 = DGM(channels, backend)
        self.dgm2 = DGM(channels, backend)
        self.conv1 = _conv3(channels, channels)
        self.conv2 = _conv3(channels, channels)

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.dgm1(x, inter), 0.1)
        out = F.leaky_relu(self.conv1(out), 0.1)
        out = F.leaky_relu(self.dgm2(out, inter), 0.1)
        return self.conv2(out) + x


class DGG(nn.Module):
    """A group: ``n_blocks`` DGBs then a 3x3 conv, with a skip over the group (``body.{i}``, ``body.{n}``)."""

    def __init__(self, channels: int, n_blocks: int, backend: str):
        super().__init__()
        self.body = nn.Sequential(*(DGB(channels, backend) for _ in range(n_blocks)), _conv3(channels, channels))

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        res = x
        for block in self.body[:-1]:
            res = block(res, inter)
        return self.body[-1](res) + x


class DGRN(nn.Module):
    """The restorer ``R``: head conv, ``n_groups`` DGGs + a conv (global skip), tail conv to 3 channels."""

    def __init__(self, n_feats: int, n_groups: int, n_blocks: int, backend: str):
        super().__init__()
        self.head = nn.Sequential(_conv3(3, n_feats))
        self.body = nn.Sequential(*(DGG(n_feats, n_blocks, backend) for _ in range(n_groups)), _conv3(n_feats, n_feats))
        self.tail = nn.Sequential(_conv3(n_feats, 3))

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        res = x
        for group in self.body[:-1]:
            res = group(res, inter)
        return self.tail(self.body[-1](res) + x)


class _ResBlock(nn.Module):
    """conv3x3-BN-LReLU-conv3x3-BN plus a (1x1 conv-BN) shortcut, then leaky ReLU 0.1."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.LeakyReLU(0.1),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.backbone(x) + self.shortcut(x), 0.1)


class _ResEncoder(nn.Module):
    """One MoCo branch: ``E_pre`` (full resolution, gives "inter"), two stride-2 blocks + pooling, MLP head."""

    def __init__(self, n_feats: int):
        super().__init__()
        c1, c2, c3 = n_feats, 2 * n_feats, 4 * n_feats
        self.E_pre = _ResBlock(3, c1)
        self.E = nn.Sequential(_ResBlock(c1, c2, 2), _ResBlock(c2, c3, 2), nn.AdaptiveAvgPool2d(1))
        self.mlp = nn.Sequential(nn.Linear(c3, c3), nn.LeakyReLU(0.1), nn.Linear(c3, c3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        inter = self.E_pre(x)
        fea = self.E(inter).flatten(1)
        return fea, self.mlp(fea), inter


class _MoCo(nn.Module):
    """Holds the two encoder branches and the training queue (inference uses ``encoder_q.E_pre`` only)."""

    def __init__(self, n_feats: int, queue_size: int):
        super().__init__()
        self.encoder_q = _ResEncoder(n_feats)
        self.encoder_k = _ResEncoder(n_feats)
        self.encoder_k.load_state_dict(self.encoder_q.state_dict())
        for p in self.encoder_k.parameters():
            p.requires_grad_(False)
        self.register_buffer("queue", F.normalize(torch.randn(4 * n_feats, queue_size), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))


class _CBDE(nn.Module):
    def __init__(self, n_feats: int, queue_size: int):
        super().__init__()
        self.E = _MoCo(n_feats, queue_size)


class AirNet(nn.Module):
    """AirNet for inference; defaults are the released All.pth (:data:`AIRNET_DEFAULTS`).

    ``forward(x)``: float (N, 3, H, W) in [0, 1] -> restored (N, 3, H, W). Use in ``eval()`` mode
    (the encoder has batch norms). ``deform_conv`` picks the deformable-conv implementation:
    "torchvision" (``torchvision.ops.deform_conv2d``), "torch" (pure PyTorch; a (C, 9, H, W)
    temporary per layer) or "auto" (see :func:`deform_conv_backend`). They agree to float rounding.
    """

    def __init__(self, n_feats: int = 64, n_groups: int = 5, n_blocks: int = 5, queue_size: int = 1280,
                 deform_conv: str = "auto"):
        super().__init__()
        deform_conv_backend(deform_conv)  # validates the choice
        self.deform_conv = deform_conv
        self.R = DGRN(n_feats, n_groups, n_blocks, self.deform_conv)
        self.E = _CBDE(n_feats, queue_size)

    def degradation_map(self, x: torch.Tensor) -> torch.Tensor:
        """The full-resolution degradation representation ("inter"), (N, n_feats, H, W)."""
        return self.E.E.encoder_q.E_pre(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.R(x, self.degradation_map(x))
