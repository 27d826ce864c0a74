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

These are private operators, so each one is checked once per process, at its first use, against its
plain-PyTorch definition on a small input: an exception or a result off by more than float32
rounding switches that helper to the plain ops for the rest of the process, with one warning line.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

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


def _plain_conv(x, weight, bias=None, groups=1):
    return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2, groups=groups)


def _fast_conv(x, weight, bias=None, groups=1):
    pad = weight.shape[-1] // 2
    return torch.mkldnn_convolution(x, weight.to(x.dtype), bias, (pad, pad), (1, 1), (1, 1), groups)


def _fast_gelu(x, weight, bias=None, groups=1):
    return _fused_ops()(x, weight, bias, *_geometry(weight, groups), "gelu", [None], "none")


def _fast_mul(x, other, weight, bias=None, groups=1):
    return _fused_ops().binary(x, other, weight, bias, *_geometry(weight, groups), "mul", None, None, [], None)


def _fast_add_(out, x, weight, bias=None, groups=1):
    torch.ops.mkldnn._convolution_pointwise_.binary(out, x, weight, bias, *_geometry(weight, groups), "add",
                                                     None, None, [], None)
    return out


#: Each private-op path: (its fused form, its plain-PyTorch definition); both take (x, other, w, b, groups).
_PATHS = {
    "convolution": (lambda x, o, w, b, g: _fast_conv(x, w, b, g), lambda x, o, w, b, g: _plain_conv(x, w, b, g)),
    "convolution+gelu": (lambda x, o, w, b, g: _fast_gelu(x, w, b, g),
                         lambda x, o, w, b, g: F.gelu(_plain_conv(x, w, b, g))),
    "convolution*other": (lambda x, o, w, b, g: _fast_mul(x, o, w, b, g),
                          lambda x, o, w, b, g: _plain_conv(x, w, b, g) * o),
    "other+=convolution": (lambda x, o, w, b, g: _fast_add_(o.clone(), x, w, b, g),
                           lambda x, o, w, b, g: o + _plain_conv(x, w, b, g)),
}


@functools.cache
def path_ok(name: str) -> bool:
    """Whether the fused path ``name`` (a key of ``_PATHS``) computes its plain definition in this process.

    Checked once, on a seeded 1x4x5x7 channels-last input with a grouped 3x3 kernel and a bias; any
    exception, or a difference beyond 1e-4 (absolute and relative), gives False and one warning line.
    """
    if name != "convolution" and _fused_ops() is None:
        return False
    fast, plain = _PATHS[name]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 5, 7, generator=g).contiguous(memory_format=torch.channels_last)
    other = torch.randn(1, 4, 5, 7, generator=g).contiguous(memory_format=torch.channels_last)
    w, b = torch.randn(4, 2, 3, 3, generator=g), torch.randn(4, generator=g)
    problem = None
    try:
        with torch.no_grad(), _outside_dispatch_modes():  # a FLOP counter active at first use must not see it
            got, want = fast(x, other, w, b, 2), plain(x, other, w, b, 2)
        if got.shape != want.shape or not torch.allclose(got, want, rtol=1e-4, atol=1e-4):
            problem = "gave a wrong result"
    except Exception as exc:  # noqa: BLE001 - any failure of a private op means: do not use it
        problem = f"failed ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})"
    if problem is None:
        return True
    warnings.warn(f"oneDNN fused {name} {problem} in this PyTorch {torch.__version__}; "
                  "using the plain PyTorch ops for it in this process", RuntimeWarning, stacklevel=3)
    return False


def _outside_dispatch_modes():
    """A context without the active tensor-dispatch modes (e.g. ``FlopCounterMode``), where torch has one."""
    try:
        from torch.utils._python_dispatch import _disable_current_modes

        return _disable_current_modes()
    except ImportError:  # pragma: no cover - a torch without it: the check is seen by the mode
        return contextlib.nullcontext()


def conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, groups: int = 1) -> torch.Tensor:
    """Stride-1 'same' convolution (odd square kernel, zero padding) of NCHW ``x``."""
    if not (onednn_ok(x) and path_ok("convolution")):
        return _plain_conv(x, weight, bias, groups)
    return _fast_conv(x, weight, bias, groups)


def conv_gelu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, groups: int = 1) -> torch.Tensor:
    """``gelu(conv(x))`` (exact erf GELU) in one pass."""
    if not (onednn_ok(x) and path_ok("convolution+gelu")):
        return F.gelu(conv(x, weight, bias, groups))
    return _fast_gelu(x, weight, bias, groups)


def conv_mul(x: torch.Tensor, other: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
             groups: int = 1) -> torch.Tensor:
    """``conv(x) * other`` (``other`` of the output's shape) in one pass."""
    if not (onednn_ok(x) and path_ok("convolution*other")):
        return conv(x, weight, bias, groups) * other
    return _fast_mul(x, other, weight, bias, groups)


def conv_add_(out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
              groups: int = 1) -> torch.Tensor:
    """``out += conv(x)`` in place (``out`` of the convolution's output shape); returns ``out``."""
    if not (onednn_ok(x) and out.dtype == x.dtype and _same_layout(out, x) and path_ok("other+=convolution")):
        return out.add_(conv(x, weight, bias, groups))
    return _fast_add_(out, x, weight, bias, groups)


def _same_layout(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Both dense in the same memory format (what oneDNN's in-place sum needs of its destination)."""
    cl = torch.channels_last
    return (a.is_contiguous() and b.is_contiguous()) or (a.is_contiguous(memory_format=cl)
                                                         and b.is_contiguous(memory_format=cl))
