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
