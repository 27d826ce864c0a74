"""Learned metrics (LPIPS through pyiqa) from local weights only: one line when they are missing, no download."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from abair.errors import UserError
from bench.protocols import get_protocol, learned


@pytest.fixture(autouse=True)
def no_weights_dir(monkeypatch):
    monkeypatch.delenv(learned.WEIGHTS_ENV, raising=False)
    learned.set_weights_dir(None)
    yield
    learned.set_weights_dir(None)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to download fails the test."""
    import urllib.request

    def refuse(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args[:1]}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_lpips_without_weights_is_one_line_saying_what_to_download_and_where():
    pytest.importorskip("pyiqa")
    with pytest.raises(UserError) as err:
        get_protocol("lpips")
    message = str(err.value)
    assert "\n" not in message
    assert "LPIPS_v0.1_alex-df73285e.pth -> DIR/pyiqa/LPIPS_v0.1_alex-df73285e.pth" in message
    assert "alexnet-owt-7be5be79.pth -> DIR/checkpoints/alexnet-owt-7be5be79.pth" in message
    assert "--metric-weights DIR" in message and "nothing is downloaded" in message


def test_lpips_with_an_incomplete_weights_dir_names_the_missing_file(tmp_path):
    pytest.importorskip("pyiqa")
    (tmp_path / "pyiqa").mkdir()
    (tmp_path / "pyiqa" / "LPIPS_v0.1_alex-df73285e.pth").write_bytes(b"x")
    learned.set_weights_dir(str(tmp_path))
    with pytest.raises(UserError) as err:
        get_protocol("lpips")
    assert str(tmp_path / "checkpoints" / "alexnet-owt-7be5be79.pth") in str(err.value)
    assert "LPIPS_v0.1" not in str(err.value)


def test_lpips_is_not_computed_by_the_psnr_ssim_backends():
    with pytest.raises(UserError, match=r"computes PSNR and SSIM only; lpips is computed by pyiqa"):
        get_protocol("lpips@torch")


def fake_weights(root) -> None:
    """Random weights in the layout and with the keys of the real files (for the plumbing only: refused
    unless their hashes are taken for the published ones)."""
    import torchvision

    (root / "pyiqa").mkdir(parents=True)
    (root / "checkpoints").mkdir()
    lins = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate([64, 192, 384, 256, 256])}
    torch.save(lins, root / "pyiqa" / "LPIPS_v0.1_alex-df73285e.pth")
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), root / "checkpoints" / "alexnet-owt-7be5be79.pth")


def test_lpips_scores_from_local_weights_without_any_download(tmp_path, no_network, monkeypatch):
    pytest.importorskip("pyiqa")
    from test_learned_weights import accept_as_published

    fake_weights(tmp_path)
    accept_as_published(monkeypatch, tmp_path)  # random weights pass the published-hash check only so
    learned.set_weights_dir(str(tmp_path))
    protocol = get_protocol("lpips", default_backend="torch")
    assert (protocol.spec, protocol.backend, protocol.metrics) == ("lpips", "pyiqa", ("lpips",))
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
    restored = np.clip(clean / 255.0 + rng.normal(0, 0.2, clean.shape), 0, 1)
    score = protocol.score(restored, clean)
    assert list(score) == ["lpips"] and np.isfinite(score["lpips"]) and score["lpips"] > 0
    assert protocol.score(clean / 255.0, clean)["lpips"] == pytest.approx(0.0, abs=1e-6)
    assert protocol.higher_is_better["lpips"] is False


def test_run_command_metric_weights_must_be_a_directory(tmp_path, capsys):
    from bench.cli import main

    code = main(["run", "--suite", "mini", "--methods", "identity", "--out", str(tmp_path / "out"),
                 "--metric-weights", str(tmp_path / "absent")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--metric-weights" in err and "not a directory" in err


def test_run_command_lpips_without_weights_fails_before_restoring(tmp_path, capsys):
    pytest.importorskip("pyiqa")
    from bench.cli import main

    code = main(["run", "--datasets", "mini-derain", "--methods", "identity", "--out", str(tmp_path / "out"),
                 "--protocols", "lpips", "--limit", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--metric-weights DIR" in err
    assert not (tmp_path / "out" / "records.csv").exists()
