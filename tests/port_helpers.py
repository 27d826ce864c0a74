"""What the tests of the published ports share: random weights, test images, parameter counts, checkpoint files
in the authors' formats. One copy each (the port tests and the per-port contract, tests/test_port_contract.py)."""

from __future__ import annotations

import torch


def randomised(model: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> torch.nn.Module:
    """``model`` in eval mode with every parameter perturbed by ``scale`` x N(0, 1) (seeded) and BatchNorm's running
    statistics drawn (var in [0.5, 1.5), mean 0.1 x N(0, 1)), so that a mis-assigned tensor changes the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))
        for name, b in model.named_buffers():
            if name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen))
            elif name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=gen))
    return model.eval()


def image(h: int = 16, w: int = 24, seed: int = 1, n: int = 1) -> torch.Tensor:
    """(n, 3, h, w) float32 uniform in [0, 1), seeded."""
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def quantised(n: int, h: int, w: int, seed: int = 3) -> torch.Tensor:
    """(n, 3, h, w) images as the harness gives them: uint8 levels / 255 in float32, seeded."""
    levels = torch.randint(0, 256, (n, 3, h, w), generator=torch.Generator().manual_seed(seed))
    return levels.to(torch.float32) / 255.0


def count(cls, **kwargs) -> int:
    """Parameters of ``cls(**kwargs)``, built on the meta device (no memory)."""
    with torch.device("meta"):
        model = cls(**kwargs)
    return sum(p.numel() for p in model.parameters())
