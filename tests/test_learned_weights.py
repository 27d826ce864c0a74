"""LPIPS weight files are read as tensors only, checked key by key and against the published SHA-256,
and refused in one line otherwise: never unpickled by pyiqa or torchvision, never scored when wrong."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from abair.errors import UserError
from baselines.published import file_sha256
from bench.protocols import get_protocol, learned

pytest.importorskip("pyiqa")

from test_learned_metrics import no_weights_dir  # noqa: E402, F401  (autouse: no weights dir unless a test sets one)

HEADS, ALEXNET = (f.relpath for f in learned.WEIGHT_FILES["lpips"])


def write_heads(path: Path, legacy: bool = False, **changes) -> None:
    """Random LPIPS heads with the published keys and shapes (``key=tensor`` replaces, ``key=None`` drops)."""
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate([64, 192, 384, 256, 256])}
    heads = {k: v for k, v in {**heads, **changes}.items() if v is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(heads, path, _use_new_zipfile_serialization=not legacy)


@pytest.fixture(scope="module")
def alexnet_file(tmp_path_factory) -> Path:
    """A random AlexNet of torchvision's keys and shapes (244 MB, written once)."""
    import torchvision

    path = tmp_path_factory.mktemp("alexnet") / "alexnet.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return path


def weights_dir(root: Path, alexnet_file: Path) -> Path:
    """``root`` laid out as --metric-weights wants it: random heads, the shared random AlexNet linked in."""
    write_heads(root / HEADS)
    (root / ALEXNET).parent.mkdir(parents=True)
    os.symlink(alexnet_file, root / ALEXNET)
    return root


def accept_as_published(monkeypatch, root: Path, *relpaths: str) -> None:
    """Take the files under ``root`` (all, or ``relpaths``) for the published ones: their hashes replace the table's."""
    files = tuple(dataclasses.replace(f, sha256=file_sha256(root / f.relpath))
                  if f.relpath in (relpaths or (HEADS, ALEXNET)) else f for f in learned.WEIGHT_FILES["lpips"])
    monkeypatch.setitem(learned.WEIGHT_FILES, "lpips", files)


def refusal(root: Path) -> str:
    """The one-line error of selecting the lpips protocol (and, were it accepted, scoring one pair)."""
    learned.set_weights_dir(str(root))
    with pytest.raises(UserError) as err:
        protocol = get_protocol("lpips")
        image = np.zeros((32, 32, 3), np.uint8)
        protocol.score(image / 255.0, image)
    message = str(err.value)
    assert "\n" not in message
    return message


class RunsCode:
    """Unpickling this calls os.system (what a malicious weights file does)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.mark.parametrize("fmt", ["plain pickle", "torch.save"])
def test_a_pickle_that_calls_os_system_is_refused_without_running_it(tmp_path, alexnet_file, fmt):
    root = weights_dir(tmp_path / "w", alexnet_file)
    marker = tmp_path / "ran"
    evil = {"lin0.model.1.weight": RunsCode(f"touch {marker}")}
    if fmt == "plain pickle":
        (root / HEADS).write_bytes(pickle.dumps(evil))
    else:
        torch.save(evil, root / HEADS)
    message = refusal(root)
    assert not marker.exists()
    assert f"metric weights {root / HEADS} were refused for safety" in message
    assert "would import and call posix.system" in message and "nothing in it was run" in message


def test_the_run_command_refuses_a_malicious_weights_dir_before_restoring(tmp_path, alexnet_file, one_line_error):
    root = weights_dir(tmp_path / "w", alexnet_file)
    marker = tmp_path / "ran"
    (root / HEADS).write_bytes(pickle.dumps({"lin0.model.1.weight": RunsCode(f"touch {marker}")}))
    line = one_line_error(["run", "--datasets", "mini-derain", "--methods", "identity", "--protocols", "lpips",
                           "--limit", "1", "--no-progress", "--metric-weights", str(root), "--out", str(tmp_path / "out")])
    assert not marker.exists() and not (tmp_path / "out" / "records.csv").exists()
    assert "posix.system" in line and str(root / HEADS) in line


@pytest.mark.parametrize(("content", "what"), [
    (b"", "are an empty file (0 bytes)"),
    (b"version https://git-lfs.github.com/spec/v1\n", "are not a weights file but a text file (it starts 'version https"),
    (b"<!DOCTYPE html><html><body>Not Found</body></html>", "are not a weights file but an HTML page (a failed download?)"),
    ("truncated", "are truncated or corrupt: a zip archive (the torch.save format) that cannot be read"),
])
def test_a_file_that_is_no_weights_file_is_named_with_what_it_is(tmp_path, alexnet_file, content, what):
    root = weights_dir(tmp_path, alexnet_file)
    if content == "truncated":
        data = (root / HEADS).read_bytes()
        content = data[: len(data) // 2]
    (root / HEADS).write_bytes(content)
    message = refusal(root)
    assert f"metric weights {root / HEADS} {what}" in message
    assert message.endswith(f"download {learned.WEIGHT_FILES['lpips'][0].url} to {root / HEADS}")


def test_a_file_holding_no_state_dict_or_unreadable_is_named(tmp_path, alexnet_file, monkeypatch):
    root = weights_dir(tmp_path, alexnet_file)
    torch.save([torch.zeros(1)], root / HEADS)
    assert f"metric weights {root / HEADS} hold a list, not a state dict of tensors; download" in refusal(root)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(torch, "load", denied)
    learned.set_weights_dir(None)
    assert f"metric weights {root / HEADS} cannot be read (Permission denied); download" in refusal(root)


@pytest.mark.parametrize(("changes", "what"), [
    ({"lin4.model.1.weight": None}, "1 key(s) missing (lin4.model.1.weight)"),
    ({"lin5.model.1.weight": torch.rand(1, 8, 1, 1)}, "1 unexpected key(s) (lin5.model.1.weight)"),
    ({"lin0.model.1.weight": torch.rand(1, 3, 1, 1)}, "lin0.model.1.weight has shape (1, 3, 1, 1), not (1, 64, 1, 1)"),
])
def test_missing_extra_or_misshapen_tensors_are_named(tmp_path, alexnet_file, changes, what):
    root = weights_dir(tmp_path, alexnet_file)
    write_heads(root / HEADS, **changes)
    message = refusal(root)
    assert f"metric weights {root / HEADS} do not hold the published tensors: {what}" in message


def test_a_random_alexnet_of_the_right_shapes_is_refused_not_scored(tmp_path, alexnet_file, monkeypatch):
    root = weights_dir(tmp_path, alexnet_file)
    accept_as_published(monkeypatch, root, HEADS)  # the heads pass; the AlexNet is the random one
    message = refusal(root)
    digest = file_sha256(root / ALEXNET)
    assert (f"metric weights {root / ALEXNET} are not the published file: SHA-256 {digest[:16]}..., published "
            "7be5be791159472b... (other values give other scores, so they are refused)") in message


def test_random_heads_are_refused_not_scored(tmp_path, alexnet_file):
    root = weights_dir(tmp_path, alexnet_file)
    message = refusal(root)
    assert f"metric weights {root / HEADS} are not the published file" in message
    assert "published df73285e35b22355..." in message


def test_published_hashes_agree_with_the_file_names_and_shapes_with_torchvision():
    import torchvision

    for f in learned.WEIGHT_FILES["lpips"]:
        assert f.sha256.startswith(Path(f.relpath).stem.rsplit("-", 1)[1]) and len(f.sha256) == 64
    with torch.device("meta"):
        alexnet = torchvision.models.alexnet(weights=None).state_dict()
    assert learned.WEIGHT_FILES["lpips"][1].shapes == {k: tuple(v.shape) for k, v in alexnet.items()}


def test_checked_weights_score_as_pyiqas_lpips_and_no_file_reaches_an_unpickler(tmp_path, alexnet_file, monkeypatch):
    from pyiqa.archs.lpips_arch import LPIPS

    root = weights_dir(tmp_path, alexnet_file)
    write_heads(root / HEADS, legacy=True)  # the published heads are in the pre-zip torch.save format
    accept_as_published(monkeypatch, root)
    learned.set_weights_dir(str(root))
    rng = np.random.default_rng(0)
    x, y = (torch.from_numpy(rng.random((2, 3, 64, 48))).float() for _ in range(2))
    unrestricted = torch.load
    with monkeypatch.context() as m:  # any unrestricted load of ours, pyiqa's or torchvision's fails the test
        m.setattr(torch, "load", lambda *a, **k: unrestricted(*a, **k) if k.get("weights_only") else pytest.fail(
            f"torch.load without weights_only=True: {a[:1]}"))
        ours = learned.lpips(x, y)
    hub = torch.hub.get_dir()
    torch.hub.set_dir(str(root))  # pyiqa's own loading, for reference (the files were made here)
    try:
        reference = LPIPS(net="alex", version="0.1", pretrained_model_path=str(root / HEADS))(x, y, normalize=True)
    finally:
        torch.hub.set_dir(hub)
    assert ours.shape == (2,) and ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), reference.detach().reshape(-1).double().numpy(), rtol=1e-6, atol=1e-7)
    assert float(ours.min()) > 0


def test_the_manifest_records_the_weights_sha256(tmp_path, alexnet_file, monkeypatch):
    from bench.cli import main

    root = weights_dir(tmp_path / "w", alexnet_file)
    accept_as_published(monkeypatch, root)
    code = main(["run", "--datasets", "mini-derain", "--methods", "identity", "--protocols", "lpips", "--limit", "1",
                 "--no-progress", "--metric-weights", str(root), "--out", str(tmp_path / "out")])
    assert code == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["protocols"]["lpips"]["weights_sha256"] == {
        HEADS: file_sha256(root / HEADS), ALEXNET: file_sha256(alexnet_file)}
    assert get_protocol("allinone-rgb").settings().get("weights_sha256") is None
