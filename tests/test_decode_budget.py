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
