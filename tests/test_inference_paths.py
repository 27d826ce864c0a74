"""CPU inference kernels (channels-last memory, oneDNN 1x1 convolutions, GDFN halves, NHWC attention)
compute the same function as the training kernels, for every blending mode and adapter type."""

from __future__ import annotations

import pytest
import torch

from abair.model.adapters import AdapterSpec, ConvLoRA, LoRA, Projection, VeRA, pointwise
from abair.model.backbone import Backbone, BackboneConfig
from abair.model.blocks import ChannelAttention, GatedFFN
from abair.model.presets import build

TOL = dict(atol=1e-5, rtol=1e-5)


def _training_kernels(module, *args, **kwargs):
    """The module's output through the training kernels: gradients enabled, nothing requiring them."""
    with torch.enable_grad():
        return module(*args, **kwargs)


def _mixed_model():
    torch.manual_seed(0)
    model = build("tiny", adapters=0)
    for name, kind in (("rain", "lora"), ("haze", "vera"), ("noise", "lora"), ("blur", "conv-lora")):
        model.add_adapter(AdapterSpec(name=name, type=kind, rank=4))
    for module in model.modules():
        if isinstance(module, LoRA | VeRA | ConvLoRA):  # trained-looking adapters (fresh ones add zero)
            for p in module.parameters():
                torch.nn.init.normal_(p, std=0.05)
    model.eval().requires_grad_(False)
    model.reset_estimator()
    model.estimator.requires_grad_(False)
    return model


@pytest.mark.parametrize("mode, merged", [("none", None), ("sw", False), ("sw", True), ("sw", None), ("oh", False),
                                          ("oh", True), ("oh", None), ("sum", False), ("sum", None), ("avg", None),
                                          ("fixed:blur", False), ("fixed:rain", None)])
def test_every_mode_equals_the_training_kernels(mode, merged):
    model = _mixed_model()
    x = torch.rand(3, 3, 40, 24, generator=torch.Generator().manual_seed(1))
    # merged paths are inference-only: the reference is the unmerged blend through the training kernels
    slow = _training_kernels(model, x, mode, merged=False if merged is None else merged)
    if mode == "oh":
        slow = _training_kernels(model, x, "oh", merged=False)
    with torch.inference_mode():
        fast = model(x, mode, merged=merged)
    assert fast.is_contiguous() and fast.shape == x.shape
    torch.testing.assert_close(fast, slow, **TOL)
    assert (fast - slow).abs().max() > 0 or mode == "none"  # the kernels do differ (else this test tests nothing)


def test_backbone_with_bias_and_features():
    torch.manual_seed(2)
    net = Backbone(BackboneConfig(dim=8, blocks=(1, 1, 1, 1), refinement=1, heads=(1, 2, 2, 4), bias=True,
                                  prompt_dims=(8, 8, 4), prompt_sizes=(4, 8, 8), prompt_heads=(2, 2, 1))).eval()
    net.requires_grad_(False)
    x = torch.rand(2, 3, 16, 32)
    slow, slow_feats = _training_kernels(net, x, return_features=True)
    with torch.no_grad():
        fast, fast_feats = net(x, return_features=True)
    torch.testing.assert_close(fast, slow, **TOL)
    torch.testing.assert_close(fast_feats, slow_feats, **TOL)


@pytest.mark.parametrize("heads", [1, 3])
def test_nhwc_attention_equals_the_reference_formula(heads):
    """MDTA on channels-last memory against Restormer's formula written out independently."""
    torch.manual_seed(3)
    att = ChannelAttention(12, heads).eval().requires_grad_(False)
    torch.nn.init.uniform_(att.temperature, 0.5, 2.0)
    x = torch.rand(2, 12, 9, 7).contiguous(memory_format=torch.channels_last)
    qkv = att.qkv_dw(torch.nn.functional.conv2d(x, att.qkv.weight))
    q, k, v = qkv.reshape(2, 3, heads, 12 // heads, 63).unbind(1)
    q, k = q / q.norm(dim=-1, keepdim=True), k / k.norm(dim=-1, keepdim=True)
    attn = torch.softmax(q @ k.transpose(-2, -1) * att.temperature, dim=-1)
    expected = torch.nn.functional.conv2d((attn @ v).reshape(2, 12, 9, 7), att.proj.weight)
    with torch.no_grad():
        out = att(x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, expected, **TOL)


def test_gdfn_halves_equal_the_chunked_output():
    torch.manual_seed(4)
    ffn = GatedFFN(8, 2.66).eval().requires_grad_(False)
    x = torch.rand(1, 8, 12, 12).contiguous(memory_format=torch.channels_last)
    slow = _training_kernels(ffn, x)
    with torch.no_grad():
        fast = ffn(x)
    torch.testing.assert_close(fast, slow, **TOL)


def test_projection_parts_are_the_slices_of_the_whole_output():
    torch.manual_seed(5)
    proj = Projection(6, 10, True, "ffn_in")
    for name, kind in (("a", "lora"), ("b", "conv-lora")):
        proj.add_adapter(AdapterSpec(name=name, type=kind, rank=2, targets=("ffn_in",)), "p")
    for p in proj.parameters():
        torch.nn.init.normal_(p, std=0.3)
    proj.state.names, proj.state.weights = ("a", "b"), torch.tensor([[0.3, 0.7], [1.0, 0.0]])
    x = torch.rand(2, 6, 5, 5)
    with torch.no_grad():
        whole = proj(x)
        first, second = proj(x, parts=2)
        proj.state.per_image_merge = True
        merged_first, merged_second = proj(x, parts=2)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.cat([merged_first, merged_second], 1), whole, **TOL)


def test_pointwise_is_conv2d():
    torch.manual_seed(6)
    x = torch.rand(2, 5, 7, 3).contiguous(memory_format=torch.channels_last)
    w, b = torch.rand(4, 5), torch.rand(4)
    expected = torch.einsum("oi,nihw->nohw", w, x) + b[:, None, None]
    with torch.no_grad():
        torch.testing.assert_close(pointwise(x, w, b), expected, **TOL)
        torch.testing.assert_close(pointwise(x.contiguous(), w[:, :, None, None]), expected - b[:, None, None], **TOL)
    torch.testing.assert_close(pointwise(x, w, b), expected, **TOL)  # the training kernel


def test_blend_fast_path_merges_the_linear_adapters_and_branches_only_conv_lora(monkeypatch):
    """CPU inference of a blend: per image, LoRA/VeRA merged into the weights (no low-rank branch is
    computed) and the Conv-LoRA adapter as the only side branch, with that image's weight."""
    model = _mixed_model()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    seen = []
    real = Projection.forward

    def forward(self, inp, parts=1):
        if self.state.weights is not None and self.adapters:
            seen.append((tuple(self.state.names), tuple(self.state.weights.shape)))
        return real(self, inp, parts)

    monkeypatch.setattr(Projection, "forward", forward)
    with torch.no_grad():
        model(x, "sum")
    assert seen and set(seen) == {(("blur",), (1, 1))}  # one image at a time, Conv-LoRA alone
    seen.clear()
    with torch.no_grad():
        model(x, "fixed:rain")
    assert seen == []  # a LoRA alone: merged, no branch at all


@pytest.mark.parametrize("groups, bias", [(6, True), (1, False)])
def test_fused_convolutions_equal_the_separate_ops(groups, bias):
    """conv + GELU and conv x other as one oneDNN call: the unfused values within float32 rounding;
    with gradients enabled (training) exactly the plain PyTorch ops."""
    import torch.nn.functional as F

    from abair.model import cpu_kernels

    g = torch.Generator().manual_seed(8)
    x = torch.randn(1, 6, 9, 11, generator=g).contiguous(memory_format=torch.channels_last)
    w = torch.randn(6, 6 // groups, 3, 3, generator=g)
    b = torch.randn(6, generator=g) if bias else None
    other = torch.randn(1, 6, 9, 11, generator=g)
    conv = F.conv2d(x, w, b, padding=1, groups=groups)
    with torch.no_grad():
        gelu, product = cpu_kernels.conv_gelu(x, w, b, groups), cpu_kernels.conv_mul(x, other, w, b, groups)
    torch.testing.assert_close(gelu, F.gelu(conv), **TOL)
    torch.testing.assert_close(product, conv * other, **TOL)
    assert cpu_kernels._fused_ops() is None or not torch.equal(gelu, torch.zeros_like(gelu))
    assert torch.equal(cpu_kernels.conv_gelu(x, w, b, groups), F.gelu(conv))  # grad enabled: plain ops
    assert torch.equal(cpu_kernels.conv_mul(x, other, w, b, groups), conv * other)
    for layout in (torch.channels_last, torch.contiguous_format):
        out = other.clone(memory_format=layout)
        with torch.no_grad():
            summed = cpu_kernels.conv_add_(out, x.contiguous(memory_format=layout), w, b, groups)
        assert summed is out  # in place
        torch.testing.assert_close(summed, other + conv, **TOL)


def test_cpu_inference_keeps_every_feature_map_channels_last():
    """One NCHW operand (the prompt, a pixel-shuffled map) would turn every later op NCHW: each
    transformer block's input must stay channels-last through the encoder, prompts and decoder."""
    from abair.model.blocks import TransformerBlock

    model = _mixed_model()
    seen = []
    hooks = [m.register_forward_pre_hook(lambda mod, args, name=name: seen.append(
        (name, args[0].is_contiguous(memory_format=torch.channels_last))))
        for name, m in model.backbone.named_modules() if isinstance(m, TransformerBlock)]
    with torch.no_grad():
        model.backbone(torch.rand(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert len(seen) >= 10 and any(name.startswith("prompts") for name, _ in seen)
    assert [name for name, cl in seen if not cl] == []


def test_merge_reuses_its_work_only_while_the_weights_are_unchanged():
    """Merging per image keeps the stacked factors and the last single-adapter weight; the result is
    always the freshly computed ``W + sum_k c_k up_k down_k``, bit for bit, also after an in-place
    update of an adapter (the optimiser's) or of the base weight (load_state_dict)."""
    torch.manual_seed(9)
    proj = Projection(6, 10, False, "qkv")
    for name, kind in (("a", "lora"), ("b", "vera"), ("c", "lora")):
        proj.add_adapter(AdapterSpec(name=name, type=kind, rank=2 if name != "c" else 3, targets=("qkv",)), "p")
    for p in proj.parameters():
        torch.nn.init.normal_(p, std=0.3)

    def fresh(coefficients):
        factors = [(proj.adapters[n].factors(), c) for n, c in coefficients.items() if c != 0]
        up = torch.cat([u * c for (_, u), c in factors], 1)
        down = torch.cat([d for (d, _), _ in factors], 0)
        return torch.addmm(proj.weight[:, :, 0, 0], up, down)[:, :, None, None]

    def merged(coefficients):
        proj.merge(coefficients)
        weight = proj._merged_weight
        proj.unmerge()
        return weight

    with torch.no_grad():
        for coefficients in ({"a": 1.0}, {"a": 1.0}, {"a": 0.3, "b": 0.5, "c": 0.2}, {"a": 0.1, "b": 0.0, "c": 0.9},
                             {"a": 0.7, "b": 0.2, "c": 0.1}):
            assert torch.equal(merged(coefficients), fresh(coefficients)), coefficients
        before = merged({"a": 1.0})
        proj.adapters["a"].B.add_(0.5)  # an optimiser step
        assert not torch.equal(merged({"a": 1.0}), before)
        assert torch.equal(merged({"a": 1.0}), fresh({"a": 1.0}))
        mixed = merged({"a": 0.3, "c": 0.7})
        proj.weight.copy_(torch.randn_like(proj.weight))  # load_state_dict copies in place
        assert torch.equal(merged({"a": 0.3, "c": 0.7}), fresh({"a": 0.3, "c": 0.7}))
        assert not torch.equal(merged({"a": 0.3, "c": 0.7}), mixed)
        proj.adapters["c"].A.mul_(2.0)
        assert torch.equal(merged({"a": 0.3, "c": 0.7}), fresh({"a": 0.3, "c": 0.7}))


@pytest.mark.parametrize("size", [(16, 24), (15, 9)])
def test_conv_lora_single_image_mixture_is_the_plain_sequence_bit_for_bit(size):
    """The one-image mixture (no copy of z) equals z + sum_e g_e up(gelu(conv_e(pool_e(z)))) computed
    op by op, exactly, at even and odd sizes."""
    import torch.nn.functional as F

    torch.manual_seed(12)
    adapter = ConvLoRA(AdapterSpec(name="blur", type="conv-lora", rank=4, scales=(1, 2, 4)), 6, 6)
    for p in adapter.parameters():
        torch.nn.init.normal_(p, std=0.3)
    z = torch.randn(1, 4, *size).contiguous(memory_format=torch.channels_last)
    gate = [0.2, 0.5, 0.3]
    with torch.no_grad():
        expected = z.clone()
        for g, s, conv in zip(gate, adapter.scales, adapter.experts, strict=True):
            act = F.gelu(conv(F.avg_pool2d(z, s, ceil_mode=True) if s > 1 else z))
            expected = expected + g * (F.interpolate(act, size=size, mode="nearest") if s > 1 else act)
        got = adapter._mix_one(z.clone(memory_format=torch.channels_last), gate)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    if size == (16, 24):
        from abair.model import cpu_kernels

        with torch.no_grad():  # against the same ops with the copies: bit for bit
            plain = z.clone()
            for g, s, conv in zip(gate, adapter.scales, adapter.experts, strict=True):
                act = cpu_kernels.conv_gelu(F.avg_pool2d(z, s, ceil_mode=True) if s > 1 else z, conv.weight, conv.bias)
                plain.add_(F.interpolate(act, size=size, mode="nearest") if s > 1 else act, alpha=g)
        assert torch.equal(got, plain)


def test_merge_of_inference_tensors_is_not_kept_but_stays_correct():
    """Adapter tensors made under torch.inference_mode have no version counter: no merge is reused."""
    import torch

    from abair.model.presets import build

    with torch.inference_mode():
        model = build("tiny", adapters=["rain", "noise"]).eval()
        proj = next(m for m in model.modules() if hasattr(m, "_stamp"))
        assert proj._stamp("rain") is None
        x = torch.rand(1, 3, 32, 32)
        a = model(x, mode="fixed:rain")
        b = model(x, mode="fixed:rain")
    assert torch.equal(a, b)
