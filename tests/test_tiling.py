"""Tiled inference agrees with untiled inference.

Stated tolerances (float32):
- a pointwise method (identity): exact (torch.equal) for every blend;
- a local method (3x3 convolution, receptive radius r = 1, reflect padding at the image border):
  with ``blend="none"`` and ``overlap >= 2 r`` equal to 1e-6 everywhere; with any blend equal to 1e-6
  at every pixel farther than r from every interior tile edge; and above 38 dB PSNR overall (random
  input, the worst case for tile-edge errors).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from abair.errors import UserError
from baselines.base import Method, RestoreContext
from bench.padding import restore_padded
from bench.tiling import axis_weights, restore_tiled, tile_starts


class Identity(Method):
    name = "id"
    max_batch = 4

    def restore(self, batch, context):
        return batch.clone()


class Conv3x3(Method):
    """A fixed random 3x3 convolution with reflect padding (so the harness's reflect padding to
    ``multiple_of`` does not change its output at the image border); records the contexts it saw."""

    name = "conv"
    multiple_of = 8
    max_batch = 3

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.weight = torch.randn(3, 3, 3, 3, generator=g) / 9.0
        self.contexts = []

    def restore(self, batch, context):
        self.contexts.append((batch.shape, context.image_ids))
        return F.conv2d(F.pad(batch, (1, 1, 1, 1), mode="reflect"), self.weight)


def _batch(n=1, h=90, w=70, seed=1):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _ctx(n=1):
    return RestoreContext("ds", "x", tuple(f"im{i}" for i in range(n)))


def _far_from_interior_edges(h, w, tile, overlap, r):
    """Pixels farther than r from every interior edge of every tile (image borders are not interior)."""
    mask = np.ones((h, w), dtype=bool)
    for size, axis in ((h, 0), (w, 1)):
        t = min(tile, size)
        for s in tile_starts(size, tile, overlap):
            for edge in (s, s + t - 1):
                if 0 < edge < size - 1:
                    lo, hi = max(0, edge - r), min(size, edge + r + 1)
                    if axis == 0:
                        mask[lo:hi, :] = False
                    else:
                        mask[:, lo:hi] = False
    return mask


@pytest.mark.parametrize("blend", ["linear", "gaussian", "none"])
def test_identity_is_reproduced_exactly(blend):
    x = _batch(2)
    assert torch.equal(restore_tiled(Identity(), x, _ctx(2), tile=32, overlap=8, blend=blend), x)


def test_local_operator_none_blend_is_exact_when_overlap_covers_the_receptive_field():
    method, x = Conv3x3(), _batch()
    untiled = restore_padded(method, x, _ctx())
    tiled = restore_tiled(method, x, _ctx(), tile=32, overlap=8, blend="none")
    torch.testing.assert_close(tiled, untiled, rtol=0, atol=1e-6)


@pytest.mark.parametrize("blend", ["linear", "gaussian"])
def test_local_operator_blends_are_exact_away_from_tile_edges(blend):
    method, x = Conv3x3(), _batch()
    untiled = restore_padded(method, x, _ctx())
    tiled = restore_tiled(method, x, _ctx(), tile=32, overlap=8, blend=blend)
    mask = torch.from_numpy(_far_from_interior_edges(90, 70, 32, 8, 1))
    diff = (tiled - untiled).abs()[0].amax(0)
    assert float(diff[mask].max()) < 1e-6
    assert float(diff[~mask].max()) > 1e-4  # the edge pixels really were blended from wrong tile borders
    mse = float(((tiled - untiled) ** 2).mean())
    assert 10 * np.log10(1.0 / mse) > 38.0  # PSNR of tiled vs untiled, data range 1, on a random image


def test_tiles_are_batched_up_to_max_batch_with_matching_ids():
    method, x = Conv3x3(), _batch(1, 64, 64)
    restore_tiled(method, x, _ctx(), tile=32, overlap=8, blend="linear")  # 3 x 3 tiles, max_batch 3
    assert [shape[0] for shape, _ in method.contexts] == [3, 3, 3]
    assert all(ids == ("im0",) * 3 for _, ids in method.contexts)
    assert all(shape[-2:] == (32, 32) for shape, _ in method.contexts)


def test_image_smaller_than_a_tile_is_restored_in_one_piece():
    method, x = Conv3x3(), _batch(1, 20, 30)
    out = restore_tiled(method, x, _ctx(), tile=64, overlap=8)
    torch.testing.assert_close(out, restore_padded(Conv3x3(), x, _ctx()), rtol=0, atol=0)
    assert len(method.contexts) == 1 and method.contexts[0][0][-2:] == (24, 32)  # padded to multiple_of 8


def test_untileable_methods_are_never_cut():
    class Whole(Identity):
        tileable = False

        def restore(self, batch, context):
            assert batch.shape[-2:] == (90, 70)
            return batch.clone()

    x = _batch()
    assert torch.equal(restore_tiled(Whole(), x, _ctx(), tile=32, overlap=8), x)


def test_tile_layout_and_linear_weights_form_a_partition_of_unity():
    assert tile_starts(90, 32, 8) == [0, 24, 48, 58]
    assert tile_starts(20, 32, 8) == [0]
    starts = tile_starts(90, 32, 8)
    total = np.zeros(90)
    for s, profile in zip(starts, axis_weights(90, starts, 32, 8, "linear"), strict=True):
        total[s : s + 32] += profile
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    total = np.zeros(90)
    for s, profile in zip(starts, axis_weights(90, starts, 32, 8, "none"), strict=True):
        total[s : s + 32] += profile
    np.testing.assert_array_equal(total, 1.0)  # every pixel from exactly one tile


def test_bad_tiling_options_are_one_line_errors():
    x = _batch()
    with pytest.raises(UserError, match=r"^--tile-overlap must be at least 0 and smaller than the tile \(32\), got 32$"):
        restore_tiled(Identity(), x, _ctx(), tile=32, overlap=32)
    with pytest.raises(UserError, match=r"^--tile-blend must be one of linear, gaussian, none, got 'cosine'$"):
        restore_tiled(Identity(), x, _ctx(), tile=32, overlap=8, blend="cosine")
    with pytest.raises(UserError, match=r"^--tile must be a positive number of pixels, got 0$"):
        restore_tiled(Identity(), x, _ctx(), tile=0, overlap=0)
