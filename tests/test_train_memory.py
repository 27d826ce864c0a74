"""Training memory: gradient accumulation, activation checkpointing, DDP gradient layout.

Tiny model, 32x32 crops, a few steps (seconds on one core); the two-process run is marked slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from abair.errors import UserError
from abair.train import loop, phases
from abair.train.data import Phase1Data
from abair.train.recipes import load_recipe

ROOT = Path(__file__).resolve().parents[1]
BASE = ["phase1.steps=3", "phase1.batch=8", "phase1.crop=32", "phase1.log_every=1", "phase1.checkpoint_every=3",
        "threads=1"]


def _phase1(out: Path, *extra: str) -> dict[str, torch.Tensor]:
    torch.set_num_threads(1)
    path = phases.run_phase1(load_recipe("tiny", BASE + list(extra)), out, device="cpu", progress=False)
    return load_file(str(path))


def _relative_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max() / b[k].double().abs().max().clamp_min(1e-12))
               for k in a)


def test_micro_batches_are_the_halves_of_the_full_batch():
    data = Phase1Data(32, ["rain", "noise"], stream="sample")
    full = data.batch(5, 0, 8)
    halves = loop.micro_batches(full, 2)
    for j, half in enumerate(halves):  # rank j of 2 draws exactly samples 4j .. 4j+3 of the global batch
        alone = data.batch(5, j, 4)
        assert half.keys() == alone.keys() and all(torch.equal(half[k], alone[k]) for k in half)


def test_accumulating_two_micro_batches_of_4_equals_one_batch_of_8(tmp_path):
    whole = _phase1(tmp_path / "whole")
    accumulated = _phase1(tmp_path / "acc", "phase1.accumulate=2")
    assert _relative_difference(accumulated, whole) < 1e-5
    records = [json.loads(line) for line in (tmp_path / "acc" / "phase1" / "log.jsonl").open()]
    reference = [json.loads(line) for line in (tmp_path / "whole" / "phase1" / "log.jsonl").open()]
    assert [r["step"] for r in records] == [1, 2, 3]  # optimiser steps, not micro-batches
    for got, want in zip(records, reference, strict=True):
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-5)
        assert got["ce"] == pytest.approx(want["ce"], rel=1e-5)
        assert got["samples_per_s"] > 0


def test_accumulate_must_divide_the_batch():
    with pytest.raises(UserError, match=r"phase1.accumulate 3 does not divide phase1.batch 8; use a divisor"):
        load_recipe("tiny", BASE + ["phase1.accumulate=3"])
    with pytest.raises(UserError, match=r"phase2.accumulate must be >= 1 \(micro-batches per optimiser step\), "
                                        r"got 0"):
        load_recipe("tiny", BASE + ["phase2.accumulate=0"])


def _model():
    from abair.model import build

    torch.manual_seed(0)
    model = build("tiny", adapters=["noise", "lowlight"], seghead=True)
    with torch.no_grad():  # nonzero LoRA up-factors, so that the adapters change the output
        for name, p in model.named_parameters():
            if ".adapters." in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


def _grads(objective, batch):
    """Loss, gradients and the bytes of the distinct storages autograd saved for the backward pass."""
    objective.zero_grad(set_to_none=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.untyped_storage()) or t, lambda t: t):
        loss, _ = objective(batch)
    loss.backward()
    nbytes = sum({s.data_ptr(): s.nbytes() for s in saved}.values())
    return loss.detach(), {n: p.grad.clone() for n, p in objective.named_parameters() if p.grad is not None}, nbytes


@pytest.mark.parametrize("phase", ["phase1", "phase2", "phase3"])
def test_checkpointing_gives_the_same_gradients_with_less_saved_memory(phase):
    """Phase I (whole backbone), Phase II (one adapter, ``fixed`` mode) and Phase III with a restoration
    loss (the estimator's blend, set in the forward pass, must hold again when a block is recomputed)."""
    from abair.model.blocks import set_checkpointing
    from abair.train.phases import AdapterObjective, EstimatorObjective, Phase1Objective

    model = _model()
    objective = {"phase1": lambda: Phase1Objective(model), "phase2": lambda: AdapterObjective(model, "noise"),
                 "phase3": lambda: EstimatorObjective(model, restoration_weight=1.0)}[phase]()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    batch = {"degraded": x, "clean": x.flip(-1), "class_map": torch.randint(0, 3, (2, 32, 32)),
             "target": torch.tensor([[1.0, 0.0], [0.5, 0.5]])}
    loss, plain, plain_bytes = _grads(objective, batch)
    assert set_checkpointing(model, True) == 11  # tiny: 7 levels + 1 refinement + 3 prompt blocks
    loss_ckpt, ckpt, ckpt_bytes = _grads(objective, batch)
    assert torch.equal(loss, loss_ckpt)
    assert plain.keys() == ckpt.keys() and plain
    for name in plain:
        torch.testing.assert_close(ckpt[name], plain[name], rtol=1e-5, atol=1e-7, msg=name)
    assert ckpt_bytes < plain_bytes / 2, (ckpt_bytes, plain_bytes)


def test_checkpointing_recipe_switch_trains_the_same_weights(tmp_path):
    plain = _phase1(tmp_path / "plain")
    ckpt = _phase1(tmp_path / "ckpt", "checkpointing=true")
    assert _relative_difference(ckpt, plain) < 1e-5


def test_depthwise_weights_get_gradients_in_their_own_layout():
    """DDP lays its gradient buckets out like the parameters; a gradient with other strides (the
    depth-wise convolutions' channels-last gradients) made it warn 'Grad strides do not match'."""
    from abair.model import build
    from abair.train.phases import Phase1Objective

    objective = Phase1Objective(build("tiny", adapters=0, seghead=True))
    loss, _ = objective(Phase1Data(32, ["rain", "noise"]).batch(0, 0, 2))
    loss.backward()
    wrong = [(n, p.stride(), p.grad.stride()) for n, p in objective.named_parameters()
             if p.grad is not None and p.grad.stride() != p.stride()]
    assert wrong == []


@pytest.mark.slow
def test_two_processes_accumulating_equal_one_process(tmp_path):
    """torchrun, 2 gloo processes, batch 8 as 2 x 2 micro-batches of 2 (no_sync on the first) equals one
    process with batch 8 in one piece; and DDP no longer warns about gradient strides."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["-m", "bench.cli", "train", "phase1", "--no-progress", "--device", "cpu", "--workers", "0",
              *[f"--set={s}" for s in BASE], "--set=data.stream=sample"]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          *common, "--set=phase1.accumulate=2", "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "Grad strides do not match" not in two.stderr
    one = subprocess.run([sys.executable, *common, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert one.returncode == 0, one.stderr[-3000:]
    a, b = (load_file(str(tmp_path / d / phases.BACKBONE_FILE)) for d in ("two", "one"))
    assert _relative_difference(a, b) < 1e-5


# -- data synthesis default and bench-data --------------------------------------------------------------
def test_synthesis_auto_is_the_device_on_cuda_and_the_workers_on_the_cpu():
    from abair.train.data import resolve_synthesis

    assert loop.LoopConfig.from_recipe(load_recipe("tiny", ["data.synthesis=auto"]), "phase1").synthesis == "auto"
    assert resolve_synthesis("auto", "cpu") == "workers"
    assert resolve_synthesis("auto", "cuda:0") == "device"
    assert resolve_synthesis("auto", "cuda:0", order="rank") == "workers"  # the rank stream cannot split
    assert resolve_synthesis("device", "cpu") == "device"
    with pytest.raises(UserError, match=r"data.synthesis"):
        resolve_synthesis("gpu", "cpu")


def test_bench_data_prints_slow_rates_with_significant_digits_and_refuses_zero_sizes(capsys, monkeypatch):
    from abair.train import benchdata
    from bench.cli import main as cli

    assert [benchdata.rate(x) for x in (0.029123, 0.000457, 12.345, 99.96, 1234.5)] == [
        "0.0291", "0.000457", "12.3", "100", "1234"]
    real = benchdata.bench_data

    def slow(*args, **kwargs):
        result = real(*args, **kwargs)
        result.pipeline_samples_s, result.step_samples_s = 0.029123, 0.5
        return result

    monkeypatch.setattr(benchdata, "bench_data", slow)
    assert cli(["train", "bench-data", "--phase", "1", "--crop", "32", "--batch", "2", "--workers", "0",
                "--steps", "1", "--device", "cpu", "--no-step"]) == 0
    out = capsys.readouterr().out
    assert "synthesis on the workers" in out  # auto on the CPU
    assert "pipeline alone:    0.0291 samples/s" in out and "step alone:         0.500 samples/s" in out
    for flag in ("--crop", "--batch"):
        assert cli(["train", "bench-data", "--phase", "1", flag, "0", "--steps", "1", "--device", "cpu"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "crop must be a positive multiple of 8 and batch >= 1, got crop " in err[0]
