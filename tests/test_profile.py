"""Throughput profiling: FLOP counts, latency statistics, the configuration registry,
the output files, the command line and the report section. Tiny preset, 32x32 inputs."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from torch import nn

from abair.errors import UserError
from abair.model.adapters import Projection
from bench.cli import main as cli_main
from bench.profile import configs as C
from bench.profile import measure as M
from bench.profile.output import CSV_FIELDS, load_profile, write_profile
from bench.profile.run import RATIO_DEFINITION, TARGETS, ProfileSettings, paired_ratio, profile


# ------------------------------------------------------------------------------------------ FLOPs
def test_flops_of_a_convolution_and_a_linear_layer_are_the_analytic_counts():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    x = torch.rand(2, 3, 16, 12)
    # 2 FLOPs per multiply-add: out channels * pixels * (in channels * 3 * 3) per image
    assert M.count_flops(conv, x) == 2 * 2 * 8 * 16 * 12 * 3 * 9
    lin = nn.Linear(10, 7)
    assert M.count_flops(lin, torch.rand(5, 10)) == 2 * 5 * 10 * 7


def test_inference_kernels_count_the_flops_of_the_training_kernels():
    """CPU inference calls oneDNN directly (1x1 projections, convolutions with a fused GELU, product
    or sum): the counter must see every one of them, backbone and Conv-LoRA branch alike."""
    from torch.utils.flop_counter import FlopCounterMode

    from abair.model.adapters import AdapterSpec
    from abair.model.presets import build

    torch.manual_seed(0)
    model = build("tiny", adapters=0)
    model.add_adapter(AdapterSpec(name="blur", type="conv-lora", rank=4))
    model.eval().requires_grad_(False)
    x = torch.rand(1, 3, 32, 32)
    for fn in (model.backbone, lambda t: model(t, "fixed:blur")):
        counter = FlopCounterMode(display=False)
        with torch.enable_grad(), counter:  # the training kernels: plain aten convolutions
            fn(x)
        assert M.count_flops(fn, x) == counter.get_total_flops() > 0


def _projection_pixels(model, fn, x) -> dict[str, tuple[int, int, int]]:
    """(in, out, N*H*W) of every projection carrying adapters, recorded by forward hooks."""
    seen = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: seen.__setitem__(
        name, (mod.in_ch, mod.out_ch, inp[0].shape[0] * inp[0].shape[2] * inp[0].shape[3])))
        for name, m in model.backbone.named_modules() if isinstance(m, Projection) and len(m.adapters)]
    try:
        with torch.inference_mode():
            fn(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


@pytest.mark.parametrize("rank", [4, 16])
def test_adapter_flops_are_rank_times_in_plus_out_per_pixel(rank):
    pool = C.ModelPool("tiny")
    x = torch.rand(2, 3, 32, 32)
    none = M.count_flops(C.CONFIGS["none"].prepare(pool).fn, x)
    fixed_name = "fixed" if rank == 4 else "fixed-r16"
    fixed = C.CONFIGS[fixed_name].prepare(pool)
    sizes = _projection_pixels(pool.abair("lora", rank), fixed.fn, x)
    # tiny: 11 transformer blocks (encoder 3, latent 1, decoder 3, refinement 1, prompt 3), 4 projections each
    assert len(sizes) == 4 * 11
    # an unmerged LoRA adds a down (r x in) and an up (out x r) 1x1 conv to every adapted projection
    extra = sum(2 * rank * (cin + cout) * pixels for cin, cout, pixels in sizes.values())
    assert M.count_flops(fixed.fn, x) - none == extra
    merged = C.CONFIGS["oh-merged"].prepare(pool)
    merged.enter()
    try:
        assert M.count_flops(merged.fn, x) == none  # the merged fast path costs exactly the backbone
    finally:
        merged.exit()


def test_restormer_flops_at_256_match_the_published_macs():
    # Restormer's paper: 140 GMACs at 256x256, counting convolutions. FlopCounterMode also counts the
    # attention matmuls (bmm), which that figure leaves out. Counted on the meta device (no compute).
    from torch.utils.flop_counter import FlopCounterMode

    from baselines.published.restormer.arch import Restormer

    with torch.device("meta"):
        net = Restormer()
        x = torch.empty(1, 3, 256, 256)
    counter = FlopCounterMode(display=False)
    with counter:
        net(x)
    by_op = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    assert by_op["aten.convolution"] / 2 / 1e9 == pytest.approx(140, rel=0.01)
    assert set(by_op) == {"aten.convolution", "aten.bmm"}
    assert M.count_flops(net, x) == counter.get_total_flops()


# ----------------------------------------------------------------------------------- statistics
def test_percentile_is_linear_interpolation_between_order_statistics():
    samples = [10.0, 1.0, 9.0, 2.0, 8.0, 3.0, 7.0, 4.0, 6.0, 5.0]  # 1..10, shuffled
    assert M.percentile(samples, 50) == pytest.approx(5.5)
    assert M.percentile(samples, 90) == pytest.approx(9.1)  # position 0.9 * 9 = 8.1 -> 9 + 0.1 * (10 - 9)
    assert M.percentile(samples, 0) == 1.0 and M.percentile(samples, 100) == 10.0
    assert M.percentile([3.0, 1.0, 2.0], 90) == pytest.approx(2.8)
    assert M.percentile([4.0], 90) == 4.0
    with pytest.raises(ValueError):
        M.percentile([], 50)


def test_summary_of_known_latencies():
    t = M.Timing()
    t.add_block([0.1, 0.2, 0.3])  # 3 calls in 0.6 s
    t.add_block([0.4, 0.5])  # 2 calls in 0.9 s
    s = M.summarize(t, batch=4)
    assert s["calls"] == 5 and s["repeats"] == 2
    assert s["latency_median_ms"] == pytest.approx(300.0)
    assert s["latency_p90_ms"] == pytest.approx(460.0)  # position 3.6 -> 0.4 + 0.6 * 0.1
    assert s["latency_mean_ms"] == pytest.approx(300.0)
    assert s["latency_min_ms"] == pytest.approx(100.0) and s["latency_max_ms"] == pytest.approx(500.0)
    assert s["images_per_s"] == pytest.approx(4 / 0.3)
    assert s["images_per_s_min"] == pytest.approx(4 / 0.5) and s["images_per_s_max"] == pytest.approx(4 / 0.1)
    assert s["images_per_s_blocks"] == pytest.approx([4 * 3 / 0.6, 4 * 2 / 0.9])


def test_images_per_s_lies_within_its_spread_when_a_few_calls_are_slow():
    # each block: many fast calls and one slow one; a block's mean rate sits below the median's
    t = M.Timing()
    t.add_block([0.080] * 9 + [0.3])
    t.add_block([0.082] * 9 + [0.3])
    s = M.summarize(t, batch=1)
    assert max(s["images_per_s_blocks"]) < s["images_per_s"]  # the spread reported before excluded it
    assert s["images_per_s_min"] <= s["images_per_s"] <= s["images_per_s_max"]


def test_paired_ratio_cancels_a_slow_phase():
    # the machine slows down 3x in the second repeat: each pair is still 1.05, the medians are not
    reference = [100.0, 300.0, 100.0]
    config = [105.0, 315.0, 105.0]
    assert paired_ratio(config, reference) == pytest.approx(1.05)
    assert paired_ratio([110.0, 90.0, 300.0, 105.0], [100.0, 100.0, 100.0, 100.0]) == pytest.approx(1.075)


def test_timed_calls_honour_the_minimum_duration():
    calls = []

    def fn(x):
        calls.append(1)
        return x

    lat = M.timed_calls(fn, torch.zeros(1), "cpu", min_seconds=0.0, min_calls=3)
    assert len(lat) == len(calls) == 3
    lat = M.timed_calls(lambda x: torch.ones(200, 200) @ torch.ones(200, 200), None, "cpu", min_seconds=0.02)
    assert sum(lat) >= 0.02 and sum(lat[:-1]) < 0.02  # stops at the first call that reaches the minimum


def test_peak_memory_sees_a_large_temporary():
    # in a fresh process: a long test session leaves freed pages resident that a new allocation may
    # reuse without growing the resident set, which would hide it from any RSS-based measurement
    import json
    import subprocess
    import sys

    code = (
        "import json, torch\n"
        "from bench.profile import measure as M\n"
        "def fn(x):\n"
        "    big = torch.ones(64 * 1024 * 1024 // 4)\n"
        "    return float(big.sum())\n"
        "print(json.dumps(M.peak_memory(fn, None, 'cpu')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    mem = json.loads(done.stdout.strip().splitlines()[-1])
    assert mem["mem_method"] in ("cpu-hwm", "cpu", "cpu-rusage")
    assert 48 <= mem["peak_mem_mb"] <= 200
    assert mem["peak_total_mb"] >= mem["peak_mem_mb"]


# ------------------------------------------------------------------------------------- registry
@pytest.fixture(scope="module")
def pool():
    return C.ModelPool("tiny")


@pytest.fixture(scope="module")
def x():
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def _run(pool, name, x):
    p = C.CONFIGS[name].prepare(pool)
    p.enter()
    try:
        with torch.inference_mode():
            return p.fn(x)
    finally:
        p.exit()


@pytest.mark.parametrize("name", [n for n, c in C.CONFIGS.items() if c.family == "abair"])
def test_each_abair_config_equals_its_model_mode(pool, x, name):
    cfg = C.CONFIGS[name]
    model = pool.abair(cfg.adapter_type or "lora", cfg.rank or 4)
    got = _run(pool, name, x)
    assert not model.merged  # enter/exit leave the shared model unmerged
    with torch.inference_mode():
        if name == "oh":  # OH = the arg-max adapter of each image, unmerged
            choice = model.estimate(x).argmax(dim=1)
            want = torch.cat([model(x[i:i + 1], mode=f"fixed:{model.adapter_names[j]}")
                              for i, j in enumerate(choice.tolist())])
        else:
            want = model(x, mode=cfg.mode, merged=False) if cfg.mode == "oh" else model(x, mode=cfg.mode)
        none = model(x, mode="none")
    assert got.shape == x.shape
    assert (got - want).abs().max().item() <= 1e-5
    if name != "none":  # the adapters really change the output, so the equality above is not trivial
        assert (got - none).abs().max().item() > 1e-4


def test_merged_oh_equals_the_unmerged_fixed_adapter(pool, x):
    model = pool.abair()
    merged = _run(pool, "oh-merged", x)
    with torch.inference_mode():
        unmerged = model(x, mode="fixed:rain")
    assert (merged - unmerged).abs().max().item() <= 1e-5


def test_estimator_and_baseline_configs(pool, x):
    model = pool.abair()
    w = _run(pool, "estimator", x)
    with torch.inference_mode():
        assert torch.equal(w, model.estimate(x))
    assert w.shape == (3, 5) and torch.allclose(w.sum(1), torch.ones(3))
    for name, params in (("restormer", 26.1e6), ("promptir", 35.6e6)):
        p = C.CONFIGS[name].prepare(pool)
        assert p.params == pytest.approx(params, rel=0.01)
        with torch.inference_mode():
            assert p.fn(x[:1]).shape == (1, 3, 32, 32)


def test_config_params_count_the_adapters(pool):
    base = C.CONFIGS["none"].prepare(pool).params
    r16 = C.CONFIGS["sw-r16"].prepare(pool).params
    counts = pool.abair("lora", 16).param_counts()
    assert r16 - (counts["backbone_params"] + counts["estimator_params"]) == counts["adapter_params"]
    assert base == counts["backbone_params"] + pool.abair().param_counts()["adapter_params"] + counts[
        "estimator_params"]


def test_unknown_config_is_a_user_error_with_a_suggestion():
    with pytest.raises(UserError) as err:
        C.select(["none", "sw-merge"])
    assert str(err.value) == (
        "unknown profile configuration 'sw-merge' (did you mean 'sw-merged'?); "
        "run 'abair-bench profile --list' to see them all"
    )


# ---------------------------------------------------------------------------------- run + output
@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("profile")
    settings = ProfileSettings(preset="tiny", sizes=[32], batches=[2], configs=["none", "oh-merged", "sw-merged",
                               "estimator"], min_seconds=0.05, repeats=2, warmup_seconds=0.05,
                               command="abair-bench profile --preset tiny")
    logs = []
    doc = profile(settings, log=logs.append)
    write_profile(doc, out)
    return out, doc, logs


def test_matmul_rate_is_flops_over_the_median_call(monkeypatch):
    from bench.profile import measure as M

    monkeypatch.setattr(M, "timed_calls", lambda fn, x, device, seconds, min_calls=1: [0.5, 0.25, 1.0])
    rate = M.matmul_rate("cpu")
    assert rate["gflops_per_s"] == pytest.approx(2 * 2048 ** 3 / 0.5 / 1e9)
    assert rate["what"] == "2048x2048 @ 2048x2048 fp32 matmul, median of 3 calls"


def test_profile_json_has_the_documented_fields(profiled):
    out, doc, _ = profiled
    saved = json.loads((out / "profile.json").read_text())
    assert saved == json.loads(json.dumps(doc))
    assert set(saved) == {"schema", "created", "wall_seconds", "command", "settings", "environment", "method",
                          "targets", "matmul", "results", "ratios"}
    assert set(saved["matmul"]) == {"fp32"} and saved["matmul"]["fp32"]["gflops_per_s"] > 0
    assert saved["matmul"]["fp32"]["what"].startswith("2048x2048 @ 2048x2048 fp32 matmul")
    assert saved["schema"] == "abair-bench/profile/1"
    env = saved["environment"]
    for key in ("cpu", "cpu_count", "torch_threads", "torch", "device", "git"):
        assert key in env
    assert env["torch"] == torch.__version__
    assert [r["config"] for r in saved["results"]] == ["none", "oh-merged", "sw-merged", "estimator"]
    for r in saved["results"]:
        assert r["error"] == "" and r["batch"] == 2 and r["size"] == 32
        assert r["repeats"] == 2 and r["calls"] >= 2
        assert r["latency_min_ms"] <= r["latency_median_ms"] <= r["latency_p90_ms"] <= r["latency_max_ms"]
        assert r["images_per_s"] == pytest.approx(2 / (r["latency_median_ms"] / 1e3))
        assert r["gflops_per_s"] == pytest.approx(r["flops"] / 1e9 / (r["latency_median_ms"] / 1e3))
        assert r["images_per_s_min"] <= r["images_per_s"] <= r["images_per_s_max"]
        assert r["matmul_gflops_per_s"] > 0 and r["pct_of_matmul"] > 0  # paired with the rounds' matmul blocks
        assert r["flops"] > 0 and r["params"] > 0 and r["mem_method"] in ("cpu-hwm", "cpu")
    by = {r["config"]: r for r in saved["results"]}
    assert by["none"]["latency_ratio"] == 1.0
    assert by["oh-merged"]["flops"] == by["none"]["flops"]
    assert by["estimator"]["latency_ratio"] == pytest.approx(
        by["estimator"]["latency_median_ms"] / by["none"]["latency_median_ms"])
    assert {q["config"] for q in saved["ratios"]} == set(TARGETS) & set(by)  # targets of the configs run
    for q in saved["ratios"]:
        r = by[q["config"]]
        assert q["ratio"] == r["latency_ratio"] and q["ratio_paired"] == r["latency_ratio_paired"]
        assert q["met"] == (q["ratio_paired"] <= q["target"])  # random LoRA adapters all merge
        assert q["verdict"] == ("met" if q["met"] else "MISSED")
        assert len(r["block_latency_ms"]) == 2
        assert r["latency_ratio_paired"] == pytest.approx(paired_ratio(r["block_latency_ms"],
                                                                       by["none"]["block_latency_ms"]))
    assert by["none"]["latency_ratio_paired"] == 1.0


def test_profile_csv_has_the_documented_columns(profiled):
    out, doc, _ = profiled
    with (out / "profile.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_FIELDS
    assert [r["config"] for r in rows] == [r["config"] for r in doc["results"]]
    for row, r in zip(rows, doc["results"], strict=True):
        assert float(row["latency_median_ms"]) == pytest.approx(r["latency_median_ms"], rel=1e-5)
        assert int(row["flops"]) == r["flops"]
    assert (out / "profile.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_failed_configuration_is_reported_not_fatal(tmp_path, monkeypatch):
    def broken(pool):
        raise RuntimeError("no kernel for this dtype\nsecond line")

    monkeypatch.setitem(C.CONFIGS, "broken", C.ProfileConfig("broken", "always fails", "abair", broken))
    doc = profile(ProfileSettings(preset="tiny", sizes=[16], configs=["none", "broken"], min_seconds=0.0,
                                  repeats=1, warmup_seconds=0.0), log=lambda m: None)
    by = {r["config"]: r for r in doc["results"]}
    assert by["broken"]["error"] == "RuntimeError: no kernel for this dtype"
    assert by["none"]["error"] == "" and by["none"]["calls"] == 1


def test_load_profile_errors(tmp_path):
    with pytest.raises(UserError, match="no profile in"):
        load_profile(tmp_path)
    (tmp_path / "profile.json").write_text("{}")
    with pytest.raises(UserError, match="is not an abair-bench profile"):
        load_profile(tmp_path)


# -------------------------------------------------------------------------------- command line
def test_cli_unknown_config_is_one_line(tmp_path, capsys):
    assert cli_main(["profile", "--configs", "none,oh-merge", "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert err == ("abair-bench: error: unknown profile configuration 'oh-merge' (did you mean 'oh-merged'?); "
                   "run 'abair-bench profile --list' to see them all\n")
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("argv, message", [
    (["--sizes", "30"], "--sizes 30: sizes must be positive multiples of 8 (three 2x downsamplings)"),
    (["--sizes", "a"], "--sizes 'a' must be comma-separated integers, e.g. 256,512"),
    (["--dtype", "fp8"], "unknown dtype 'fp8' (did you mean 'fp32'?); valid: bf16, fp16, fp32"),
    (["--preset", "huge"], "unknown model preset 'huge'; valid: paper, small, tiny"),
])
def test_cli_bad_options(tmp_path, capsys, argv, message):
    assert cli_main(["profile", *argv, "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"abair-bench: error: {message}\n"


def test_cli_list(capsys):
    assert cli_main(["profile", "--list"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == list(C.CONFIGS)


# ------------------------------------------------------------------------------------ report
def test_report_embeds_the_profile_section(profiled, tmp_path):
    from bench.report.build import ReportOptions, make_report
    from report_methods import make_small_run

    out, doc, _ = profiled
    run_dir = make_small_run(tmp_path / "run")
    result = make_report(ReportOptions(runs=[run_dir], out=str(tmp_path / "r.html"), audit=False, n_boot=100,
                                       profiles=[str(out)], command="abair-bench report"))
    page = result.html.read_text()
    assert 'id="profiles"' in page and "Throughput per adapter configuration" in page
    section = page.split('id="profiles"', 1)[1].split('id="statistics"', 1)[0]
    for r in doc["results"]:
        assert f'<td class="label">{r["config"]}</td>' in section
        assert f"{r['latency_median_ms']:.1f}" in section
    assert section.count("data:image/png;base64,") == 1
    plain = make_report(ReportOptions(runs=[run_dir], out=str(tmp_path / "p.html"), audit=False, n_boot=100,
                                      command="abair-bench report"))
    assert 'id="profiles"' not in plain.html.read_text()


def test_profile_times_a_trained_checkpoint_with_its_own_adapters(tmp_path):
    """--checkpoint: the LoRA rank-4 configurations run the trained model (the shipped tiny model, with
    its Conv-LoRA blur adapter and trained estimator), and the profile records which file it was."""
    import torch

    from abair.model.checkpoint import load
    from bench.abair_methods import embedded_default
    from bench.cli import main

    ckpt = str(embedded_default())
    model = load(ckpt)
    out = tmp_path / "prof"
    assert main(["profile", "--checkpoint", ckpt, "--configs", "none,oh,oh-merged", "--sizes", "32",
                 "--min-seconds", "0", "--repeats", "1", "--warmup-seconds", "0", "--threads", "1",
                 "--out", str(out)]) == 0
    doc = json.loads((out / "profile.json").read_text())
    assert doc["settings"]["checkpoint"] == ckpt and doc["settings"]["preset"] == "tiny"
    assert {r["params"] for r in doc["results"]} == {sum(p.numel() for p in model.parameters())}
    pool = C.ModelPool("tiny", checkpoint=ckpt)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(pool.abair()(x, "oh"), model.eval()(x, "oh"))
    assert pool.abair().adapter_specs["blur"].type == "conv-lora"
    # SW merged per image on a mixed model: LoRA blend merged, the Conv-LoRA adapter as a weighted branch
    x3 = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        torch.testing.assert_close(C.CONFIGS["sw-merged"].prepare(pool).fn(x3), model(x3, "sw"), atol=1e-5, rtol=1e-5)


def test_one_ratio_per_configuration_with_its_definition_and_target(profiled):
    _, doc, logs = profiled
    start = next(i for i, line in enumerate(logs) if line.startswith("ratios (fp32, 32px, batch 2): "))
    assert logs[start].endswith(RATIO_DEFINITION)
    by = {r["config"]: r for r in doc["results"]}
    assert logs[start + 1:start + 4] == [
        f"  oh-merged: {by['oh-merged']['latency_ratio_paired']:.3f} (target <= 1.02: "
        f"{'met' if by['oh-merged']['latency_ratio_paired'] <= 1.02 else 'MISSED'})",
        f"  sw-merged: {by['sw-merged']['latency_ratio_paired']:.3f} (target <= 1.1: "
        f"{'met' if by['sw-merged']['latency_ratio_paired'] <= 1.10 else 'MISSED'})",
        f"  estimator: {by['estimator']['latency_ratio_paired']:.3f} (target <= 0.05: "
        f"{'met' if by['estimator']['latency_ratio_paired'] <= 0.05 else 'MISSED'})"]
    assert not any("of the medians" in line for line in logs)


def test_a_merge_target_does_not_apply_to_a_conv_lora_adapter(tmp_path):
    from bench.abair_methods import embedded_default
    from bench.profile.output import plot_title

    doc = profile(ProfileSettings(preset="tiny", checkpoint=str(embedded_default()), sizes=[16],
                                  configs=["none", "sw-merged"], min_seconds=0.0, repeats=1, warmup_seconds=0.0,
                                  threads=1), log=lambda m: None)
    (q,) = doc["ratios"]
    assert q["met"] is None and q["verdict"] == (
        "does not apply: adapter blur (conv-lora) cannot merge into the weights and runs as a side branch, so "
        "this configuration cannot reach the backbone's cost")
    assert plot_title(doc).endswith("\n16px, batch 1, fp32, 1 threads")
