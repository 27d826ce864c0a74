"""The private oneDNN operators behind abair.model.cpu_kernels are checked once per process at first
use: an operator that raises or computes something else leaves the process on the plain PyTorch ops,
with one warning line, and the helpers' outputs stay those of the plain ops."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from abair.model import cpu_kernels


class _BrokenOps:
    """Stands in for torch.ops.mkldnn._convolution_pointwise: raises, or returns zeros of the right shape."""

    def __init__(self, mode: str):
        self.mode = mode

    def _result(self, x, weight):
        if self.mode == "raise":
            raise RuntimeError("unexpected argument 'algorithm'\nsecond line")
        return x.new_zeros(x.shape[0], weight.shape[0], *x.shape[2:])

    def __call__(self, x, weight, *args):
        return self._result(x, weight)

    def binary(self, x, other, weight, *args):
        return self._result(x, weight)


@pytest.fixture
def broken_ops(monkeypatch):
    def install(mode):
        monkeypatch.setattr(cpu_kernels, "_fused_ops", lambda: _BrokenOps(mode))
        cpu_kernels.path_ok.cache_clear()
    yield install
    cpu_kernels.path_ok.cache_clear()


def _inputs():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 6, 9, 11, generator=g).contiguous(memory_format=torch.channels_last)
    return x, torch.randn(1, 6, 9, 11, generator=g), torch.randn(6, 3, 3, 3, generator=g), torch.randn(6, generator=g)


@pytest.mark.parametrize("mode, says", [("raise", "failed (RuntimeError: unexpected argument 'algorithm')"),
                                        ("wrong", "gave a wrong result")])
def test_a_broken_private_op_ends_on_the_plain_path_with_one_warning(broken_ops, mode, says):
    x, other, w, b = _inputs()
    plain_conv = F.conv2d(x, w, b, padding=1, groups=2)
    broken_ops(mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.no_grad():
            gelu = cpu_kernels.conv_gelu(x, w, b, groups=2)
            product = cpu_kernels.conv_mul(x, other, w, b, groups=2)
            again = cpu_kernels.conv_gelu(x, w, b, groups=2)  # checked once: no second warning
    lines = [str(c.message) for c in caught if issubclass(c.category, RuntimeWarning)]
    assert len(lines) == 2, lines  # one line per broken path, gelu and product
    assert all("\n" not in line and says in line and "using the plain PyTorch ops" in line for line in lines)
    assert "convolution+gelu" in lines[0] and "convolution*other" in lines[1]
    torch.testing.assert_close(gelu, F.gelu(plain_conv), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(product, plain_conv * other, atol=1e-5, rtol=1e-5)
    assert torch.equal(gelu, again)
    assert not cpu_kernels.path_ok("convolution+gelu") and not cpu_kernels.path_ok("convolution*other")


def test_working_ops_pass_their_check_silently():
    cpu_kernels.path_ok.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = {name: cpu_kernels.path_ok(name) for name in cpu_kernels._PATHS}
    if cpu_kernels._fused_ops() is not None and torch.backends.mkldnn.is_available():
        assert all(results.values()), results
