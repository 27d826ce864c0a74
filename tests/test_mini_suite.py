"""The embedded mini suite: disjoint pools, fixed tiles, deterministic byte-identical sets."""

import hashlib

import numpy as np
import pytest

from abair.data.sample_images import TEST_POOL, TRAIN_POOL, grid_tiles, load_source
from bench.datasets import SUITES, DatasetOptions, get_dataset
from bench.datasets.mini import RECIPES, clean_tiles, degrade

# SHA-256 of each set (Dataset.content_hash): pinned so that any change to an operator, a seed or a
# source image is noticed. Changing one is a breaking change of the suite: say so in the changelog.
GOLDEN = {
    "mini-derain": "4832ddb40e185bcdbe00a2f3718d13f4539f956516fd4136f9af114496b5be62",
    "mini-dehaze": "87aa8f9fa3ea0129c97006234fe648b1542094adb1198d4d0742eae35649e625",
    "mini-denoise-s15": "a6bda3c98d7dc1f7fd1a3aa6663fbbe0e88a2221f863ece006446318fe8c12a1",
    "mini-denoise-s25": "1ed937be260d6316c9b97ca0a5eacf3d856df67ad827425b2aaa4533f0262c2f",
    "mini-denoise-s50": "e50afd09f17c20b4d465290d93e1b36a8e68492f04a34b7a25d50e48fba07336",
    "mini-deblur": "7e0eb74275af8ac5897465e51a9c6ad78b0e9b7fc940c6fb0df48dd10d2e7381",
    "mini-lowlight": "14ddff4def8a1dd4fa487f7510cfd1cdead42cd6625e031a9162200c019ac8cd",
    "mini-jpeg-q20": "2ef6bdd1c6bd4f6decf35635039b36425221cb405da06cf21146f59791edd08f",
    "mini-4to8bit": "51d6b55e6a429b5bdb28dd496a7ecad93b78e50007f986a1403853fd54e08186",
    "mini-desnow": "f625d9c1fbedf96490efb21f22a57ce907270c325b846d48ff928dbdf59f0e43",
    "mini-blur+noise": "e5b0f45ea70abd42e189c5415539bb98fe1198179b4a16cb604092bd9d5c70c9",
    "mini-blur+jpeg": "dce37536e3adaef399c7ede60d70d3be4f7656f3bdb3edcb97714aab92d99694",
    "mini-haze+snow": "c208519526298c2270015273e05065316955dc18998a87ba5afef1c7bbdada2b",
}


def test_pools_are_disjoint_and_share_no_pixels():
    assert not set(TEST_POOL) & set(TRAIN_POOL)
    test_hashes = {hashlib.sha256(load_source(n).tobytes()).hexdigest() for n in TEST_POOL}
    train_hashes = {hashlib.sha256(load_source(n).tobytes()).hexdigest() for n in TRAIN_POOL}
    assert not test_hashes & train_hashes
    # no test tile occurs verbatim inside a train image (checked on a coarse grid of offsets)
    tile = next(iter(clean_tiles().values()))
    for name in TRAIN_POOL:
        img = load_source(name)
        assert not any(
            np.array_equal(img[t : t + 128, c : c + 128], tile)
            for t in range(0, img.shape[0] - 127, 16) for c in range(0, img.shape[1] - 127, 16)
        )


def test_tiles_are_fixed_multiples_of_16():
    tiles = clean_tiles()
    assert len(tiles) == 34
    assert list(tiles)[:2] == ["astronaut-r0c0", "astronaut-r0c1"]
    assert all(t.shape == (128, 128, 3) and t.dtype == np.uint8 for t in tiles.values())
    assert [len(grid_tiles(n, 128)) for n in TEST_POOL] == [16, 12, 6]


def test_suite_has_the_13_sets_of_the_issue():
    assert SUITES["mini"] == list(RECIPES)
    tasks = [get_dataset(n).task for n in SUITES["mini"]]
    assert tasks.count("denoise") == 3 and tasks.count("mixed") == 3 and len(tasks) == 13


@pytest.mark.parametrize("name", list(RECIPES))
def test_sets_are_deterministic_and_degraded(name):
    a, b = get_dataset(name), get_dataset(name, DatasetOptions())
    ids = a.image_ids()[:3]
    for image_id in ids:
        pa, pb = a.load(image_id), b.load(image_id)
        assert np.array_equal(pa.degraded, pb.degraded)
        # any single image can be regenerated alone
        assert np.array_equal(degrade(name, image_id, pa.clean), pa.degraded)
        diff = np.abs(pa.degraded.astype(int) - pa.clean.astype(int)).mean()
        assert diff > 0.5, f"{name}/{image_id} is barely degraded"


@pytest.mark.parametrize("name", list(RECIPES))
def test_golden_hashes(name):
    if name not in GOLDEN:
        pytest.fail(f"no golden hash pinned for {name}: {get_dataset(name).content_hash()}")
    assert get_dataset(name).content_hash() == GOLDEN[name]


def test_mixed_sets_differ_from_their_parts():
    blur_noise = get_dataset("mini-blur+noise").load("coffee-r1c1").degraded
    noise = get_dataset("mini-denoise-s25").load("coffee-r1c1").degraded
    assert not np.array_equal(blur_noise, noise)


def test_images_are_made_one_at_a_time_and_the_ground_truth_alone_makes_none():
    """A rank of a sharded run makes only its own degraded tiles; the audit's ground truth makes none."""
    ds = get_dataset("mini-derain")
    ids = ds.image_ids()
    assert np.array_equal(ds.load_clean(ids[5]), clean_tiles()[ids[5]])
    assert ds._degraded == {}
    pair = ds.load(ids[3])
    assert list(ds._degraded) == [ids[3]]
    assert np.array_equal(pair.degraded, degrade("mini-derain", ids[3], clean_tiles()[ids[3]]))
    assert ds.load(ids[3]).degraded is pair.degraded  # made once


def test_prefetch_makes_exactly_the_named_tiles():
    ds = get_dataset("mini-dehaze")
    ids = ds.image_ids()
    ds.prefetch(ids[1::2])
    assert sorted(ds._degraded) == sorted(ids[1::2])
    assert np.array_equal(ds.load(ids[1]).degraded, degrade("mini-dehaze", ids[1], clean_tiles()[ids[1]]))
