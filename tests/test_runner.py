"""End-to-end behaviour of `abair-bench run` on the embedded mini suite."""

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.cli import main
from bench.datasets import SUITES

TESTS = Path(__file__).parent
ENV = {**os.environ, "PYTHONPATH": str(TESTS) + os.pathsep + os.environ.get("PYTHONPATH", "")}
CLI = [sys.executable, "-m", "bench.cli"]


def read_records(path):
    with open(Path(path) / "records.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def comparable(rows):
    """Records without the fields that legitimately differ between runs (timing, run id)."""
    return sorted(
        (r["method"], r["dataset"], r["task"], r["image_id"], r["protocol"], r["metric"], r["value"], r["height"])
        for r in rows
    )


def psnr_rgb(a_uint8, b_uint8):
    a, b = a_uint8.astype(np.float64) / 255, b_uint8.astype(np.float64) / 255
    return 10 * np.log10(1.0 / np.mean((a - b) ** 2))


@pytest.fixture(scope="module")
def full_identity_run(tmp_path_factory):
    """identity on all 13 mini sets (the README's main job) plus the suite exported as PNGs."""
    out = tmp_path_factory.mktemp("run")
    export = tmp_path_factory.mktemp("export")
    assert main(["run", "--suite", "mini", "--methods", "identity", "--out", str(out), "--no-progress"]) == 0
    assert main(["suite", "export", "--suite", "mini", "--out", str(export)]) == 0
    return out, export


def test_full_mini_run_covers_13_sets_and_matches_exported_pngs(full_identity_run):
    out, export = full_identity_run
    rows = read_records(out)
    assert sorted({r["dataset"] for r in rows}) == sorted(SUITES["mini"])
    assert len(SUITES["mini"]) == 13
    psnr = [r for r in rows if r["metric"] == "psnr" and r["protocol"] == "allinone-rgb"]
    assert len(psnr) == 13 * 34
    for r in psnr:
        degraded = np.asarray(Image.open(export / r["dataset"] / "degraded" / f"{r['image_id']}.png"))
        clean = np.asarray(Image.open(export / r["dataset"] / "clean" / f"{r['image_id']}.png"))
        assert float(r["value"]) == pytest.approx(psnr_rgb(degraded, clean), abs=0.01)
        assert (int(r["height"]), int(r["width"])) == clean.shape[:2] == (128, 128)


def test_manifest_records_what_reproduces_the_run(full_identity_run):
    out, _ = full_identity_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["datasets"]) == set(SUITES["mini"])
    for info in manifest["datasets"].values():
        assert len(info["sha256"]) == 64 and info["count"] == 34 and info["recipe"]
    assert manifest["protocols"]["allinone-rgb"]["ssim_size"] == 7
    assert manifest["methods"]["identity"] == {"name": "identity"}
    inv = manifest["invocations"][-1]
    assert inv["finished"] is not None and "torch" in inv["versions"] and inv["device"]["device"] == "cpu"
    assert "commit" in inv["git"] and inv["seeds"]["torch_manual_seed"] == 0
    assert {r["run_id"] for r in read_records(out)} == {manifest["run_id"]}


def test_rerun_is_idempotent(tmp_path):
    args = ["run", "--suite", "mini", "--datasets", "mini-derain,mini-jpeg-q20", "--methods", "identity",
            "--limit", "3", "--out", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    first = read_records(tmp_path)
    assert len(first) == 2 * 3 * 2
    assert main(args) == 0
    assert read_records(tmp_path) == first
    assert len(json.loads((tmp_path / "manifest.json").read_text())["invocations"]) == 2


def test_new_protocol_on_rerun_adds_only_its_records(tmp_path):
    base = ["run", "--suite", "mini", "--datasets", "mini-derain", "--methods", "identity", "--limit", "2",
            "--out", str(tmp_path), "--no-progress"]
    assert main(base) == 0
    assert main(base + ["--protocols", "allinone-rgb,y-bt601"]) == 0
    rows = read_records(tmp_path)
    assert sorted({r["protocol"] for r in rows}) == ["allinone-rgb", "y-bt601"]
    assert len(rows) == 2 * 2 * 2


def test_save_images_writes_the_restored_png(tmp_path):
    assert main(["run", "--suite", "mini", "--datasets", "mini-dehaze", "--methods", "identity", "--limit", "1",
                 "--save-images", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    assert main(["suite", "export", "--suite", "mini", "--datasets", "mini-dehaze", "--out", str(tmp_path / "x")]) == 0
    saved = sorted((tmp_path / "run" / "images" / "identity" / "mini-dehaze").glob("*.png"))
    assert len(saved) == 1
    exported = tmp_path / "x" / "mini-dehaze" / "degraded" / saved[0].name
    assert np.array_equal(np.asarray(Image.open(saved[0])), np.asarray(Image.open(exported)))


def test_kill_9_mid_run_loses_nothing_and_resumes(tmp_path):
    out = tmp_path / "run"
    args = CLI + ["run", "--suite", "mini", "--datasets", "mini-denoise-s25", "--methods", "slow_method:make",
                  "--limit", "12", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(args, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = out / "records.csv"
    deadline = time.time() + 120
    while time.time() < deadline:
        if records.exists() and len(records.read_text().splitlines()) > 1 + 2 * 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = read_records(out)
    assert 0 < len(partial) < 12 * 2
    keys = [(r["image_id"], r["metric"]) for r in partial]
    assert len(keys) == len(set(keys))  # no duplicated row
    assert all(r["value"] not in ("", None) for r in partial)  # no half-written row
    done = subprocess.run(args, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = read_records(out)
    keys = [(r["image_id"], r["metric"]) for r in rows]
    assert len(rows) == 12 * 2 and len(set(keys)) == len(keys)
    assert rows[: len(partial)] == partial  # what was written before the kill is kept as it was


@pytest.mark.slow
def test_two_torchrun_ranks_give_the_same_records_as_one_process(tmp_path):
    """Equal records need equal CPU thread counts (float sums can depend on them): torchrun runs each
    rank with OMP_NUM_THREADS=1 unless told otherwise, and the tests run single-threaded (conftest)."""
    common = ["run", "--suite", "mini", "--datasets", "mini-derain,mini-denoise-s50", "--methods", "identity",
              "--limit", "5", "--no-progress"]
    assert main(common + ["--out", str(tmp_path / "one")]) == 0
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29561",
                "-m", "bench.cli"]
    default_threads = {k: v for k, v in ENV.items() if k != "OMP_NUM_THREADS"}  # torchrun's own default applies
    done = subprocess.run(torchrun + common + ["--out", str(tmp_path / "two")], env=default_threads,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert comparable(read_records(tmp_path / "two")) == comparable(read_records(tmp_path / "one"))
    threads = [json.loads((tmp_path / d / "manifest.json").read_text())["invocations"][-1]["threads"]
               for d in ("one", "two")]
    assert threads[0]["torch"] == threads[1]["torch"] == 1 and threads[1]["OMP_NUM_THREADS"] == "1"
    shards = sorted((tmp_path / "two" / "shards").glob("*.csv"))
    assert len(shards) == 2
    ids = [{r["image_id"] for r in csv.DictReader(open(s))} for s in shards]
    assert ids[0] and ids[1] and not ids[0] & ids[1]  # disjoint images per rank


def test_jobs_runs_ranks_of_one_thread_with_the_records_of_one_process(tmp_path):
    """``--jobs 2`` is torchrun without torchrun: two single-threaded ranks, disjoint images, the records
    of a single-threaded one-process run (abair-oh included: its kernels see the same thread count)."""
    common = ["run", "--suite", "mini", "--datasets", "mini-derain", "--methods", "identity,abair-oh",
              "--limit", "4", "--no-progress"]
    assert main(common + ["--out", str(tmp_path / "one")]) == 0
    env = {k: v for k, v in ENV.items() if k != "OMP_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-m", "bench.cli", *common, "--out", str(tmp_path / "two"), "--jobs", "2"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert comparable(read_records(tmp_path / "two")) == comparable(read_records(tmp_path / "one"))
    invocation = json.loads((tmp_path / "two" / "manifest.json").read_text())["invocations"][-1]
    assert invocation["world_size"] == 2 and invocation["threads"]["OMP_NUM_THREADS"] == "1"
    assert done.stdout.count("records:") == 1  # rank 0 alone prints the summary
    ids = [{r["image_id"] for r in csv.DictReader(open(s))} for s in sorted((tmp_path / "two" / "shards").glob("*.csv"))]
    assert len(ids) == 2 and ids[0] and ids[1] and not ids[0] & ids[1]


def test_jobs_stops_every_rank_when_one_fails(tmp_path):
    from bench.local_jobs import run_jobs

    code = run_jobs(["run", "--suite", "mini", "--methods", "identiy", "--out", str(tmp_path / "x"), "--no-progress"], 2, 1)
    assert code == 2


@pytest.mark.parametrize("case", ["every rank", "rank 0", "rank 1"])
def test_a_refusal_inside_the_ranks_of_jobs_is_one_line(tmp_path, case):
    """The ranks refuse an unknown method each, rank 0 alone a store that holds another config, rank 1
    alone its NaN outputs (rank 0 then loses its group): the launcher prints the line once, no traceback."""
    run = ["run", "--suite", "mini", "--datasets", "mini-derain", "--limit", "4", "--no-progress",
           "--out", str(tmp_path / "run")]
    if case == "rank 0":
        assert main([*run, "--methods", "identity"]) == 0
    method = {"every rank": ["--methods", "identiy"], "rank 0": ["--methods", "identity", "--tile", "64"],
              "rank 1": ["--methods", "rank_method:make"]}[case]
    done = subprocess.run([*CLI, *run, *method, "--jobs", "2"], env=ENV, capture_output=True, text=True,
                          timeout=300)
    expected = {"every rank": "unknown method 'identiy' (did you mean 'identity'?)",
                "rank 0": f"{tmp_path / 'run'} already holds method 'identity' with another config",
                "rank 1": "method 'nan-on-rank' returned NaN or inf on mini-derain/"}[case]
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1 and err[0].startswith(f"abair-bench: error: {expected}"), err


def test_jobs_on_cuda_is_one_line(tmp_path, capsys):
    assert main(["run", "--suite", "mini", "--methods", "identity", "--out", str(tmp_path / "x"), "--jobs", "2",
                 "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["abair-bench: error: --jobs is for CPU runs; on GPUs start one process per device with torchrun"]


def test_changed_method_config_in_same_dir_is_refused(tmp_path, capsys):
    base = ["run", "--suite", "mini", "--datasets", "mini-derain", "--limit", "1", "--out", str(tmp_path),
            "--no-progress", "--methods", "slow_method:make"]
    sys.path.insert(0, str(TESTS))
    try:
        assert main(base + ["--method-arg", "slow_method:make.seconds=0"]) == 0
        assert main(base + ["--method-arg", "slow_method:make.seconds=0.01"]) == 2
    finally:
        sys.path.remove(str(TESTS))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another config" in err[0] and "new --out" in err[0]


def test_oracle_without_the_tasks_adapter_is_skipped_and_recorded(tmp_path, capsys):
    import torch

    from abair.model import checkpoint, presets

    torch.manual_seed(0)
    model = presets.build("tiny", adapters=5)
    assert "jpeg" not in model.adapter_names and "rain" in model.adapter_names
    ckpt = tmp_path / "tiny.safetensors"
    checkpoint.save(model, ckpt)
    out = tmp_path / "run"
    assert main(["run", "--suite", "mini", "--datasets", "mini-derain,mini-jpeg-q20", "--methods", "abair-oracle",
                 "--checkpoint", str(ckpt), "--limit", "1", "--out", str(out), "--no-progress"]) == 0
    assert "skipping abair-oracle on mini-jpeg-q20: the checkpoint has no adapter for jpeg" in capsys.readouterr().err
    assert {r["dataset"] for r in read_records(out)} == {"mini-derain"}
    skipped = json.loads((out / "manifest.json").read_text())["invocations"][-1]["skipped"]
    assert skipped == [{"method": "abair-oracle", "dataset": "mini-jpeg-q20",
                        "reason": "the checkpoint has no adapter for jpeg (its adapters: "
                                  + ", ".join(model.adapter_names) + ")"}]


# ------------------------------------------------------------------------------ run-store integrity
ONE_SET = ["run", "--suite", "mini", "--datasets", "mini-derain", "--methods", "identity", "--no-progress"]


def test_a_second_run_into_a_locked_directory_is_refused_and_writes_nothing(tmp_path, capsys, one_line_error):
    import socket

    from bench.runlock import RunLock

    out = tmp_path / "run"
    assert main(ONE_SET + ["--limit", "2", "--out", str(out)]) == 0
    before = (out / "records.csv").read_bytes(), (out / "manifest.json").read_bytes()
    capsys.readouterr()
    with RunLock(out):  # another run is writing
        line = one_line_error(ONE_SET + ["--limit", "4", "--out", str(out)])
    assert f"is being written by another run (pid {os.getpid()} on host {socket.gethostname()})" in line
    assert ((out / "records.csv").read_bytes(), (out / "manifest.json").read_bytes()) == before


def test_an_image_missing_a_row_is_recomputed_on_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(ONE_SET + ["--limit", "3", "--out", str(out)]) == 0
    path = out / "records.csv"
    lines = path.read_text().splitlines(keepends=True)
    assert lines[-1].split(",")[6] == "ssim"
    path.write_text("".join(lines[:-1]) + lines[-1][:20])  # the last image's SSIM row cut mid-write
    kept = read_records(out)[:-1]  # the complete rows
    assert main(["report", "--runs", str(out), "--out", str(tmp_path / "r.html"), "--no-audit", "--n-boot", "100"]) == 0
    assert path.read_text() == "".join(lines[:-1]) + lines[-1][:20]  # the report changed nothing
    capsys.readouterr()
    assert main(ONE_SET + ["--limit", "3", "--out", str(out)]) == 0
    assert "dropped the partial last line" in capsys.readouterr().err
    rows = read_records(out)
    assert rows[: len(kept)] == kept  # what was there is kept as it was
    keys = [(r["image_id"], r["metric"]) for r in rows]
    assert len(rows) == 3 * 2 and len(set(keys)) == 6  # the missing SSIM row is back, no duplicate
    assert rows[-1]["metric"] == "ssim" and float(rows[-1]["value"]) == float(lines[-1].split(",")[7])


def test_limit_must_be_a_positive_integer(tmp_path, one_line_error):
    from abair.errors import UserError
    from bench.runner import RunSpec, run

    for bad in ("0", "-1", "-33", "two"):
        line = one_line_error(ONE_SET + ["--limit", bad, "--out", str(tmp_path / "run")])
        assert "argument --limit: must be a positive integer" in line
    with pytest.raises(UserError, match="--limit must be a positive number of images, got 0"):
        run(RunSpec(out=str(tmp_path / "run"), methods=["identity"], datasets=["mini-derain"], limit=0))
    assert not (tmp_path / "run").exists()
    with pytest.raises(UserError, match="no method to run"):
        run(RunSpec(out=str(tmp_path / "run"), methods=[], datasets=["mini-derain"]))
    with pytest.raises(UserError, match="no run directory given"):
        run(RunSpec(out="", methods=["identity"], datasets=["mini-derain"]))


def test_method_args_for_no_method_of_the_run_are_refused(tmp_path, one_line_error):
    base = ["run", "--suite", "mini", "--datasets", "mini-denoise-s25", "--limit", "1", "--no-progress",
            "--out", str(tmp_path / "run")]
    line = one_line_error(base + ["--methods", "nlm", "--method-arg", "nln.sigma=5"])
    assert line == ("abair-bench: error: --method-arg nln.sigma=...: 'nln' is not a method of this run "
                    "(did you mean 'nlm'?); --methods has nlm")
    line = one_line_error(base + ["--methods", "nlm", "--method-arg", "nlm.sigmaa=5"])
    assert "method 'nlm' has no option 'sigmaa' (did you mean 'sigma'?)" in line
    assert not (tmp_path / "run").exists()


def test_method_args_reach_a_plugin_by_its_record_name(tmp_path):
    sys.path.insert(0, str(TESTS))
    try:
        assert main(ONE_SET[:-3] + ["--limit", "1", "--no-progress", "--out", str(tmp_path), "--methods",
                                    "slow_method:make", "--method-arg", "sleepy.seconds=0"]) == 0
    finally:
        sys.path.remove(str(TESTS))
    assert json.loads((tmp_path / "manifest.json").read_text())["methods"]["sleepy"]["seconds"] == 0


def test_folder_options_are_reachable_by_spec_and_by_record_name(tmp_path, capsys, one_line_error):
    export = tmp_path / "export"
    assert main(["suite", "export", "--suite", "mini", "--datasets", "mini-derain", "--out", str(export)]) == 0
    (export / "mini-derain" / "degraded" / "notes.png").write_bytes(b"")  # an extra file
    spec = f"folder:deg={export}/{{dataset}}/degraded"
    base = ["run", "--suite", "mini", "--datasets", "mini-derain", "--limit", "1", "--no-progress", "--methods", spec]
    capsys.readouterr()
    line = one_line_error(base + ["--out", str(tmp_path / "strict")])
    assert "pass --method-arg deg.strict=false" in line
    assert not (tmp_path / "strict").exists()  # refused before anything is written
    for i, key in enumerate(("deg", spec)):
        out = tmp_path / f"run{i}"
        assert main(base + ["--method-arg", f"{key}.strict=false", "--out", str(out)]) == 0
        assert json.loads((out / "manifest.json").read_text())["methods"]["deg"]["strict"] is False


def test_two_methods_with_one_record_name_are_refused(tmp_path, one_line_error):
    sys.path.insert(0, str(TESTS))
    try:
        line = one_line_error(ONE_SET[:-3] + ["--limit", "1", "--out", str(tmp_path / "run"), "--methods",
                                                      "identity,slow_method:make_identity"])
    finally:
        sys.path.remove(str(TESTS))
    assert line == ("abair-bench: error: method 'slow_method:make_identity' records its results as 'identity', "
                    "the name of a built-in method; give it a name of its own (its 'name' attribute)")


def test_tiling_is_part_of_the_method_config(tmp_path, capsys, one_line_error):
    out = tmp_path / "run"
    assert main(ONE_SET + ["--limit", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    tiling = ["--tile", "64", "--tile-overlap", "16"]
    line = one_line_error(ONE_SET + ["--limit", "2", *tiling, "--out", str(out)])
    assert "already holds method 'identity' with another config" in line
    assert len(read_records(out)) == 2
    assert "argument --tile: must be a positive integer, got 0" in one_line_error(
        ONE_SET + ["--limit", "1", "--tile", "0", "--out", str(tmp_path / "zero")])
    tiled = tmp_path / "tiled"
    assert main(ONE_SET + ["--limit", "1", *tiling, "--out", str(tiled)]) == 0
    config = json.loads((tiled / "manifest.json").read_text())["methods"]["identity"]
    assert config == {"name": "identity", "tiling": {"tile": 64, "overlap": 16, "blend": "linear"}}
    capsys.readouterr()
    assert main(ONE_SET + ["--limit", "2", *tiling, "--out", str(tiled)]) == 0  # the same tiling resumes


def test_summary_counts_the_images_each_mean_is_over(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(ONE_SET + ["--limit", "3", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(ONE_SET + ["--limit", "2", "--protocols", "y-bt601", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    header, row = printed[0].split(), printed[2].split()
    assert header[-1] == "n" and row[-1] == "2"
    assert "allinone-rgb:psnr" not in printed[0]  # this invocation scored y-bt601 only
    from bench.runner import summarise

    rows = read_records(out)
    y = [float(r["value"]) for r in rows if r["protocol"] == "y-bt601" and r["metric"] == "psnr"]
    summary = summarise(out, scope={("identity", "mini-derain", r["image_id"], "y-bt601") for r in rows})
    got = summary[(summary["protocol"] == "y-bt601") & (summary["metric"] == "psnr")]
    assert int(got["n"].iloc[0]) == 2 and got["mean"].iloc[0] == pytest.approx(sum(y) / 2)


def test_manifest_records_the_thread_count(tmp_path):
    import torch

    assert main(ONE_SET + ["--limit", "1", "--out", str(tmp_path)]) == 0
    threads = json.loads((tmp_path / "manifest.json").read_text())["invocations"][-1]["threads"]
    assert threads == {"torch": torch.get_num_threads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}


def test_batched_runs_give_the_records_of_one_image_at_a_time(tmp_path):
    """--batch 8 restores up to 8 same-size images per call (ABAIR's max_batch is 4, identity's 64):
    every record equals the one-at-a-time run's exactly (CPU inference runs each image of a batch
    alone through ABAIR), and the manifest says the batch size."""
    common = ["run", "--suite", "mini", "--datasets", "mini-derain", "--methods",
              "identity,abair-sw,abair-oh", "--limit", "6", "--no-progress"]
    assert main(common + ["--out", str(tmp_path / "one")]) == 0
    assert main(common + ["--out", str(tmp_path / "eight"), "--batch", "8"]) == 0
    one, eight = read_records(tmp_path / "one"), read_records(tmp_path / "eight")
    key = lambda r: (r["method"], r["dataset"], r["image_id"], r["protocol"], r["metric"])  # noqa: E731
    a, b = {key(r): float(r["value"]) for r in one}, {key(r): float(r["value"]) for r in eight}
    assert a.keys() == b.keys() and len(a) == 3 * 6 * 2
    diff = {m: max(abs(a[k] - b[k]) for k in a if k[4] == m) for m in ("psnr", "ssim")}
    print("batch-8 vs batch-1 max differences:", diff)
    assert diff == {"psnr": 0.0, "ssim": 0.0}
    invocation = json.loads((tmp_path / "eight" / "manifest.json").read_text())["invocations"][-1]
    assert invocation["options"]["batch"] == 8
    # a batch shares its time: the images of one identity batch of 6 carry equal seconds
    seconds = {r["image_id"]: r["seconds"] for r in eight if r["method"] == "identity" and r["dataset"] == "mini-derain"}
    assert len(set(seconds.values())) == 1


def test_kill_9_mid_batch_loses_at_most_the_batch_in_flight_and_resumes(tmp_path):
    out = tmp_path / "run"
    args = CLI + ["run", "--suite", "mini", "--datasets", "mini-denoise-s25", "--methods", "slow_method:make",
                  "--limit", "12", "--batch", "4", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(args, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = out / "records.csv"
    deadline = time.time() + 120
    while time.time() < deadline:
        if records.exists() and len(records.read_text().splitlines()) > 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = read_records(out)
    assert len(partial) in (4 * 2, 8 * 2)  # whole batches only: written once per batch
    done = subprocess.run(args, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = read_records(out)
    keys = [(r["image_id"], r["metric"]) for r in rows]
    assert len(rows) == 12 * 2 and len(set(keys)) == len(keys)
    assert rows[: len(partial)] == partial


def test_batch_must_be_positive(capsys):
    from abair.errors import UserError

    with pytest.raises(SystemExit) as exc:
        main(["run", "--suite", "mini", "--methods", "identity", "--out", "x", "--batch", "0"])
    assert exc.value.code == 2
    assert "argument --batch: must be a positive integer, got 0" in capsys.readouterr().err
    from bench.runner import RunSpec, run

    with pytest.raises(UserError, match="the batch size must be a positive number of images, got 0"):
        run(RunSpec(out="x", methods=["identity"], datasets=["mini-derain"], batch=0))


def test_uncropped_input_protocol_restores_the_whole_image_beside_the_cropping_one(tmp_path, monkeypatch):
    """--protocols allinone-rgb,allinone-rgb-uncropped: the method restores the 16-cropped input for
    the first and the whole input for the second (its authors' own pipeline), both scored on the same
    centre pixels; the saved PNG is the first protocol's restoration."""
    from PIL import Image

    from abair.imageops import crop_to_multiple
    from bench.protocols import get_protocol
    from test_datasets_real import build_pairs, set_count

    set_count(monkeypatch, "rain100l", 3)
    build_pairs(tmp_path / "data", "Rain100L",
                [(f"rainy/rain-{i:03d}.png", f"norain-{i:03d}.png", f"rain-{i:03d}") for i in (1, 2, 3)])
    sys.path.insert(0, str(TESTS))
    try:
        assert main(["run", "--datasets", "rain100l", "--data-root", str(tmp_path / "data"), "--methods",
                     "report_methods:make", "--protocols", "allinone-rgb,allinone-rgb-uncropped", "--out",
                     str(tmp_path / "run"), "--save-images", "--no-progress"]) == 0
        from report_methods import Smooth
    finally:
        sys.path.remove(str(TESTS))
    rows = read_records(tmp_path / "run")
    value = {(r["image_id"], r["protocol"], r["metric"]): float(r["value"]) for r in rows}

    from abair.imageops import tensor_to_float_array, uint8_to_tensor
    from baselines.base import RestoreContext
    from bench.datasets import DatasetOptions, get_dataset

    method = Smooth()
    for pair in get_dataset("rain100l", DatasetOptions(data_root=str(tmp_path / "data"))):
        def restore(image, image_id=pair.image_id):
            x = uint8_to_tensor(image)[None]
            return tensor_to_float_array(method.restore(x, RestoreContext("rain100l", "derain", (image_id,))))
        cropped_in = crop_to_multiple(pair.degraded, 16)
        want_cropped = get_protocol("allinone-rgb").score(restore(cropped_in), crop_to_multiple(pair.clean, 16))
        want_full = get_protocol("allinone-rgb").score(crop_to_multiple(restore(pair.degraded), 16),
                                                       crop_to_multiple(pair.clean, 16))
        for metric in ("psnr", "ssim"):
            assert value[(pair.image_id, "allinone-rgb", metric)] == pytest.approx(want_cropped[metric], abs=1e-6)
            assert value[(pair.image_id, "allinone-rgb-uncropped", metric)] == pytest.approx(want_full[metric], abs=1e-6)
        assert want_cropped["psnr"] != pytest.approx(want_full["psnr"], abs=1e-3)  # the pipelines differ here
        png = np.asarray(Image.open(tmp_path / "run" / "images" / "smooth" / "rain100l" / f"{pair.image_id}.png"))
        assert png.shape == cropped_in.shape  # the first protocol's restoration


def test_jobs_ranks_record_the_command_the_user_typed(tmp_path, monkeypatch):
    """The ranks run as ``python -m bench.cli``; the manifest must still say ``abair-bench run ...``."""
    from bench.local_jobs import run_jobs

    argv = ["run", "--suite", "mini", "--datasets", "mini-derain", "--methods", "identity", "--limit", "2",
            "--out", str(tmp_path / "run"), "--no-progress", "--jobs", "2"]
    monkeypatch.setattr(sys, "argv", ["/opt/venv/bin/abair-bench", *argv])
    assert run_jobs(argv, 2, 1) == 0
    invocation = json.loads((tmp_path / "run" / "manifest.json").read_text())["invocations"][-1]
    assert invocation["command"] == shlex.join(["abair-bench", *argv])
