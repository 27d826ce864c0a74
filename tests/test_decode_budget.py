"""Budgets on what user files may cost before they are decoded: images (declared pixels) and
checkpoint archives (declared uncompressed bytes), and pickles told apart by the globals they name."""

from __future__ import annotations

import os
import pickle

import pytest

from abair.filekind import pickle_globals


class _Shell:
    """Unpickling this would run a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_pickle_globals_names_what_a_plain_pickle_would_call(tmp_path, protocol):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"params": [_Shell(tmp_path / "marker")]}, protocol=protocol))
    assert pickle_globals(path) == [f"{os.system.__module__}.system"]
    assert not (tmp_path / "marker").exists()


def test_pickle_globals_reads_the_data_pkl_of_a_torch_archive(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(2), "hook": _Shell(tmp_path / "marker")}, path)
    names = pickle_globals(path)
    assert names[-1] == f"{os.system.__module__}.system"
    assert "torch._utils._rebuild_tensor_v2" in names
    legacy = tmp_path / "legacy.pth"
    torch.save({"w": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    assert pickle_globals(legacy) == ["torch._utils._rebuild_tensor_v2", "torch.FloatStorage", "collections.OrderedDict"]
    text = tmp_path / "notes.pth"
    text.write_text("cat and dog\n")
    assert pickle_globals(text) == []
    assert not (tmp_path / "marker").exists()


# ----------------------------------------------------------------------------- checkpoint archives


def test_torch_save_with_os_system_names_it_and_does_not_run(tmp_path):
    torch = pytest.importorskip("torch")
    from abair.errors import UserError
    from baselines.archs.loading import read_checkpoint

    path = tmp_path / "evil.pth"
    torch.save({"params": {"w": torch.zeros(2)}, "hook": _Shell(tmp_path / "marker")}, path)
    with pytest.raises(UserError) as err:
        read_checkpoint(path)
    assert str(err.value).startswith(
        f"checkpoint {path} was refused for safety: it is a pickle that would call {os.system.__module__}.system "
        "(only tensors are loaded, never code from a file); if you trust the file, convert it once to safetensors")
    assert not (tmp_path / "marker").exists()


def test_a_pickle_of_plain_data_is_still_called_a_plain_pickle(tmp_path):
    pytest.importorskip("torch")
    from abair.errors import UserError
    from baselines.archs.loading import read_checkpoint

    path = tmp_path / "data.pth"
    path.write_bytes(pickle.dumps({"params": {"w": [1.0, 2.0]}}, protocol=2))
    with pytest.raises(UserError, match=r"was refused for safety: it is a plain Python pickle \(not a torch.save archive"):
        read_checkpoint(path)


def _declare_uncompressed(path, size: int) -> None:
    """Rewrite the uncompressed size of every member in ``path``'s zip central directory to ``size``."""
    import struct

    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        data[at + 24:at + 28] = struct.pack("<I", size)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))


def test_an_archive_declaring_gigabytes_is_refused_before_torch_reads_it(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from abair.errors import UserError
    from baselines.archs.loading import read_checkpoint

    path = tmp_path / "bomb.pth"
    torch.save({"params": {"w": torch.zeros(4)}}, path)
    _declare_uncompressed(path, 0xF0000000)  # 3.75 GiB per member, from a file of about 1 KB

    def never(*args, **kwargs):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", never)
    with pytest.raises(UserError) as err:
        read_checkpoint(path)
    message = str(err.value)
    assert message.startswith(f"checkpoint {path} was refused: its zip archive declares ")
    assert "MiB uncompressed from 0.0 MiB on disk, over the budget of 64.0 MiB (8x the file + 64 MiB;" in message
    assert "\n" not in message


def test_a_deflated_zip_bomb_is_refused_and_real_checkpoints_pass(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    import zipfile

    import baselines.archs.loading as loading
    from abair.errors import UserError

    bomb = tmp_path / "bomb.pth"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data.pkl", b"\0" * (4 * 2**20))  # 4 MiB of zeros: about 4 KB deflated
    monkeypatch.setattr(loading, "ARCHIVE_MARGIN", 2**20)  # the budget, not the bomb, made small
    with pytest.raises(UserError, match=r"declares 4\.0 MiB uncompressed from 0\.0 MiB on disk, over the budget of 1\.0 MiB"):
        loading.read_checkpoint(bomb)
    real = tmp_path / "real.pth"
    torch.save({"params": {"w": torch.arange(2**18, dtype=torch.float32)}}, real)  # 1 MiB of tensor
    assert loading.read_checkpoint(real)["params"]["w"].shape == (2**18,)


# ----------------------------------------------------------------------------- image files


def _png_declaring(path, width: int, height: int):
    """A ~70-byte PNG whose header declares ``width`` x ``height`` (its pixel data is a 4x4 image's)."""
    import io
    import struct
    import zlib

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (90, 120, 150)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def no_pixels_decoded(monkeypatch):
    """Any decode of a file's pixel data (Pillow's ImageFile.load) fails the test."""
    from PIL import ImageFile

    def load(self):
        raise AssertionError(f"pixels of {getattr(self, 'filename', 'an image')} were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


def _budget_line(what: str, path, width=12000, height=12000) -> str:
    return (f"{what} {path} declares {width}x{height} pixels ({width * height / 1e6:,.1f} megapixels), over the decode "
            f"budget of 64.0 megapixels; if the image is genuine, raise the budget with ABAIR_MAX_PIXELS={width * height} "
            "(pixels)")


def test_an_image_over_the_budget_is_refused_from_its_header(tmp_path, monkeypatch, no_pixels_decoded):
    import warnings

    from abair.errors import UserError
    from abair.imagefile import open_image

    monkeypatch.delenv("ABAIR_MAX_PIXELS", raising=False)
    path = _png_declaring(tmp_path / "big.png", 12000, 12000)
    with pytest.raises(UserError) as err:
        with open_image(path, what="test image"):
            pass
    assert str(err.value) == _budget_line("test image", path)
    # beyond Pillow's own limit (179 MP: its DecompressionBombError), our line, never Pillow's warning or error
    huge = _png_declaring(tmp_path / "huge.png", 20000, 20000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserError) as err:
            with open_image(huge):
                pass
        assert str(err.value) == _budget_line("image", huge, 20000, 20000)
        monkeypatch.setenv("ABAIR_MAX_PIXELS", "400_000_000")  # a genuine huge image, once allowed, opens
        with open_image(huge) as im:
            assert im.size == (20000, 20000)


def test_the_budget_is_set_by_the_environment(tmp_path, monkeypatch):
    from abair.errors import UserError
    from abair.imagefile import open_image

    path = _png_declaring(tmp_path / "small.png", 4, 4)
    monkeypatch.setenv("ABAIR_MAX_PIXELS", "15")
    with pytest.raises(UserError, match=r"declares 4x4 pixels \(16 pixels\), over the decode budget of 15 pixels; "):
        with open_image(path):
            pass
    monkeypatch.setenv("ABAIR_MAX_PIXELS", "16")
    with open_image(path) as im:
        assert im.convert("RGB").getpixel((0, 0)) == (90, 120, 150)
    monkeypatch.setenv("ABAIR_MAX_PIXELS", "lots")
    with pytest.raises(UserError, match=r"^ABAIR_MAX_PIXELS=lots is not a positive whole number of pixels; set it to "):
        with open_image(path):
            pass


def test_run_on_a_test_set_with_huge_declared_images_stops_with_one_line(tmp_path, monkeypatch, one_line_error,
                                                                       no_pixels_decoded):
    """Two 1 KB PNGs declaring 12000x12000 used to take `run --limit 5` to 24 GB and an OOM kill."""
    from test_datasets_real import build_pairs, set_count

    set_count(monkeypatch, "rain100l", 6)
    build_pairs(tmp_path / "data", "Rain100L",
                [(f"rainy/rain-{i:03d}.png", f"norain-{i:03d}.png", f"rain-{i:03d}") for i in range(1, 7)])
    _png_declaring(tmp_path / "data/Rain100L/rainy/rain-001.png", 12000, 12000)
    big = _png_declaring(tmp_path / "data/Rain100L/norain-001.png", 12000, 12000)  # the clean image is read first
    monkeypatch.delenv("ABAIR_MAX_PIXELS", raising=False)
    line = one_line_error(["run", "--datasets", "rain100l", "--data-root", str(tmp_path / "data"), "--methods",
                           "identity", "--limit", "5", "--out", str(tmp_path / "run"), "--no-progress"])
    assert line == "abair-bench: error: " + _budget_line("rain100l: image", big)


def test_training_images_over_the_budget_are_refused_unread(tmp_path, monkeypatch, no_pixels_decoded):
    from abair.errors import UserError
    from abair.train.sources import FileSource

    monkeypatch.delenv("ABAIR_MAX_PIXELS", raising=False)
    path = _png_declaring(tmp_path / "corpus/huge.png", 12000, 12000)
    source = FileSource([path])
    for call in (source.size, source.read):
        with pytest.raises(UserError) as err:
            call(0)
        assert str(err.value) == _budget_line("training image", f"'{path}'")


def test_hf_set_images_are_decoded_within_the_budget(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    import numpy as np

    from abair.errors import UserError
    from bench.datasets import get_dataset

    monkeypatch.delenv("ABAIR_MAX_PIXELS", raising=False)
    small = _png_declaring(tmp_path / "small.png", 4, 4).read_bytes()
    big = _png_declaring(tmp_path / "big.png", 12000, 12000).read_bytes()
    features = datasets.Features({"degraded": datasets.Image(), "clean": datasets.Image(),
                                  "image_id": datasets.Value("string"), "task": datasets.Value("string")})
    table = datasets.Dataset.from_dict({"degraded": [{"bytes": small, "path": None}, {"bytes": big, "path": None}],
                                        "clean": [{"bytes": small, "path": None}] * 2, "image_id": ["ok", "bomb"],
                                        "task": ["denoise"] * 2}, features=features)
    table.save_to_disk(str(tmp_path / "set"))
    dataset = get_dataset(f"hf:{tmp_path / 'set'}")
    assert np.array_equal(dataset.load("ok").degraded, np.full((4, 4, 3), (90, 120, 150), np.uint8))
    with pytest.raises(UserError) as err:
        dataset.load("bomb")
    assert str(err.value) == _budget_line(f"hf:{tmp_path / 'set'}: image", "'bomb' (degraded)")


def test_hf_training_images_are_sized_and_decoded_within_the_budget(tmp_path, monkeypatch, no_pixels_decoded):
    datasets = pytest.importorskip("datasets")
    from abair.errors import UserError
    from bench.datasets.train_inputs import clean_source

    monkeypatch.delenv("ABAIR_MAX_PIXELS", raising=False)
    small = _png_declaring(tmp_path / "small.png", 4, 4).read_bytes()
    big = _png_declaring(tmp_path / "big.png", 12000, 12000).read_bytes()
    table = datasets.Dataset.from_dict({"image": [{"bytes": small, "path": None}, {"bytes": big, "path": None}]},
                                       features=datasets.Features({"image": datasets.Image()}))
    table.save_to_disk(str(tmp_path / "corpus"))
    source = clean_source([f"hf:{tmp_path / 'corpus'}"])
    assert source.size(0) == (4, 4)  # from the header alone
    for call in (source.size, source.read):
        with pytest.raises(UserError) as err:
            call(1)
        assert str(err.value) == _budget_line("training image", f"hf:{tmp_path / 'corpus'}[1]")


def test_folder_outputs_are_checked_before_they_are_decoded(tmp_path, monkeypatch):
    import imageio.v3 as iio

    from abair.errors import UserError
    from baselines.folder import read_image_8bit

    monkeypatch.delenv("ABAIR_MAX_PIXELS", raising=False)

    def imread(*args, **kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(iio, "imread", imread)
    big = _png_declaring(tmp_path / "ds/big.png", 12000, 12000)
    with pytest.raises(UserError) as err:
        read_image_8bit(big)
    assert str(err.value) == _budget_line("restored image", big)
    text = tmp_path / "ds/notes.png"
    text.write_text("restored with our method, see the paper\n")
    with pytest.raises(UserError) as err:
        read_image_8bit(text)
    assert str(err.value) == f"restored image {text} is not an image but a text file; replace the file"


def test_folder_reads_a_float_tiff_that_pillow_cannot_open(tmp_path, monkeypatch):
    tifffile = pytest.importorskip("tifffile")
    import numpy as np

    from abair.errors import UserError
    from baselines.folder import read_image_8bit

    path = tmp_path / "out.tif"
    tifffile.imwrite(path, np.full((5, 7, 3), 0.5, np.float32), photometric="rgb")
    assert read_image_8bit(path).shape == (5, 7, 3) and read_image_8bit(path)[0, 0, 0] == 128
    monkeypatch.setenv("ABAIR_MAX_PIXELS", "34")
    with pytest.raises(UserError, match=r"^restored image .*out.tif declares 7x5 pixels"):
        read_image_8bit(path)


def test_a_truncated_legacy_checkpoint_is_not_called_a_plain_pickle(tmp_path):
    torch = pytest.importorskip("torch")
    from abair.errors import UserError
    from baselines.archs.loading import read_checkpoint

    path = tmp_path / "old.pth"
    torch.save({"w": torch.zeros(64)}, path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(UserError, match=r"is not a readable PyTorch checkpoint \(a torch.save file of the legacy format: "):
        read_checkpoint(path)
