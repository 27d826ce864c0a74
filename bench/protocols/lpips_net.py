"""pyiqa's LPIPS v0.1 (AlexNet) network, assembled from tensors that were already loaded safely.

pyiqa's ``LPIPS`` class cannot be built without it unpickling files itself: its AlexNet trunk always
asks torchvision for the ImageNet weights (``load_state_dict_from_url``, a download or an unrestricted
``torch.load`` of the hub cache) and its linear heads go through ``load_pretrained_network``
(``torch.load(weights_only=False)``). This module computes the same function from pyiqa's own parts
(``ScalingLayer``, ``NetLinLayer``, ``normalize_tensor``, ``spatial_average``) on torchvision's AlexNet
features, built empty and filled with the given tensors; ``tests/test_learned_weights.py`` checks that it
equals pyiqa's ``LPIPS`` on the same weights.
"""

from __future__ import annotations

import torch
import torchvision
from pyiqa.archs.lpips_arch import NetLinLayer, ScalingLayer, normalize_tensor, spatial_average

#: LPIPS compares the ReLU outputs at these indices of torchvision's ``AlexNet.features`` (pyiqa's five
#: slices end there); their channel counts, in order, are the linear heads' inputs
TAPS = (1, 4, 7, 9, 11)
CHANNELS = (64, 192, 384, 256, 256)


class LpipsAlex(torch.nn.Module):
    """LPIPS v0.1 on AlexNet features: ``features`` (torchvision's ``AlexNet.features`` up to the last
    tap) and ``lins`` (the five linear heads, pyiqa's ``NetLinLayer``)."""

    def __init__(self, features: torch.nn.Sequential, lins: torch.nn.ModuleList):
        super().__init__()
        self.scaling_layer, self.features, self.lins = ScalingLayer(), features, lins

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(N,) LPIPS of NCHW RGB batches in [0, 1], as pyiqa's ``LPIPS(x, y, normalize=True)``."""
        x, y = self.scaling_layer(2 * x - 1), self.scaling_layer(2 * y - 1)
        total, heads = 0, iter(self.lins)
        for index, layer in enumerate(self.features):
            x, y = layer(x), layer(y)
            if index in TAPS:
                diff = (normalize_tensor(x) - normalize_tensor(y)) ** 2
                total = total + spatial_average(next(heads)(diff), keepdim=True)
        return total.reshape(-1)


def build_lpips_alex(alexnet: dict[str, torch.Tensor], heads: dict[str, torch.Tensor]) -> LpipsAlex:
    """The network in eval mode on the CPU, without gradients, holding the given tensors.

    ``alexnet``: torchvision's AlexNet state dict (its ``features.*`` are used); ``heads``: the LPIPS
    linear layers ``lin{0..4}.model.1.weight`` of shape (1, C, 1, 1). Shapes must already be checked.
    """
    with torch.device("meta"):  # the architecture only: no random initialisation, no download
        features = torchvision.models.alexnet(weights=None).features[: TAPS[-1] + 1]
    features.load_state_dict({k.removeprefix("features."): v for k, v in alexnet.items()
                              if k.startswith("features.") and int(k.split(".")[1]) <= TAPS[-1]}, assign=True)
    lins = torch.nn.ModuleList(NetLinLayer(c, use_dropout=True) for c in CHANNELS)
    for i, lin in enumerate(lins):
        lin.load_state_dict({"model.1.weight": heads[f"lin{i}.model.1.weight"]})
    net = LpipsAlex(features, lins).eval()
    net.requires_grad_(False)
    return net
