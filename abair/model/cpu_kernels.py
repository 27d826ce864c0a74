"""oneDNN convolutions for CPU inference, with the element-wise op that follows fused in.

At the tiny model's full resolution every feature map is larger than a core's L2 cache, so an
element-wise pass (GELU, a product, adding a branch) costs about as much as the convolution before
it: it streams the whole map through memory again. oneDNN applies such an op to each block of the
convolution's output while it is still in cache ("post-ops"); PyTorch exposes this as
``torch.ops.mkldnn._convolution_pointwise`` (the kernels its CPU compiler fuses into), which these
helpers call directly.

Every helper takes NCHW-shaped float tensors (any memory format; channels-last is the fast one) and
falls back to the plain PyTorch ops with gradients enabled, off the CPU, for other dtypes, or where
this PyTorch build lacks the fused kernels, so training and other devices never take this path.
Results equal the unfused ops within float32 rounding (oneDNN's GELU is the exact erf form;
``tests/test_inference_paths.py``).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


def onednn_ok(x: torch.Tensor) -> bool:
    """True when ``x`` may go to oneDNN's convolution directly: CPU float32 inference, oneDNN on."""
    return (not torch.is_grad_enabled() and x.device.type == "cpu" and x.dtype == torch.float32
            and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)


@functools.cache
def _fused_ops():
    """The fused-convolution operators, or None on a build without them."""
    try:
        return torch.ops.mkldnn._convolution_pointwise
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return None


def _geometry(weight: torch.Tensor, groups: int) -> tuple[list[int], list[int], list[int], int]:
    pad = weight.shape[-1] // 2
    return [pad, pad], [1, 1], [1, 1], groups


def conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, groups: int = 1) -> torch.Tensor:
    """Stride-1 'same' convolution (odd square kernel, zero padding) of NCHW ``x``."""
    if not onednn_ok(x):
        return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2, groups=groups)
    pad = weight.shape[-1] // 2
    return torch.mkldnn_convolution(x, weight.to(x.dtype), bias, (pad, pad), (1, 1), (1, 1), groups)


def conv_gelu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, groups: int = 1) -> torch.Tensor:
    """``gelu(conv(x))`` (exact erf GELU) in one pass."""
    op = _fused_ops() if onednn_ok(x) else None
    if op is None:
        return F.gelu(conv(x, weight, bias, groups))
    return op(x, weight, bias, *_geometry(weight, groups), "gelu", [None], "none")


def conv_mul(x: torch.Tensor, other: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
             groups: int = 1) -> torch.Tensor:
    """``conv(x) * other`` (``other`` of the output's shape) in one pass."""
    op = _fused_ops() if onednn_ok(x) else None
    if op is None:
        return conv(x, weight, bias, groups) * other
    return op.binary(x, other, weight, bias, *_geometry(weight, groups), "mul", None, None, [], None)


def conv_add_(out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
              groups: int = 1) -> torch.Tensor:
    """``out += conv(x)`` in place (``out`` of the convolution's output shape); returns ``out``."""
    op = _fused_ops() if onednn_ok(x) and out.dtype == x.dtype else None
    if op is None or not _same_layout(out, x):
        return out.add_(conv(x, weight, bias, groups))
    torch.ops.mkldnn._convolution_pointwise_.binary(out, x, weight, bias, *_geometry(weight, groups), "add",
                                                     None, None, [], None)
    return out


def _same_layout(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Both dense in the same memory format (what oneDNN's in-place sum needs of its destination)."""
    cl = torch.channels_last
    return (a.is_contiguous() and b.is_contiguous()) or (a.is_contiguous(memory_format=cl)
                                                         and b.is_contiguous(memory_format=cl))
