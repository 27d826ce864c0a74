"""Guards around training and the local launcher: one writer per training folder, lock files that are
links, children that die with their parent, signals forwarded by ``--jobs``, limits on processes and
threads, recipe values that are not numbers, unused ``--train-data``, and data that changed before a
``--resume``.

Tiny model, 32x32 crops, a step or two; the tests that start real training or ranks in several
processes are marked slow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from abair.errors import UserError
from bench.cli import main

TESTS = Path(__file__).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1",
       "PYTHONPATH": str(TESTS) + os.pathsep + os.environ.get("PYTHONPATH", "")}
PHASE1 = ["--set=phase1.steps=2", "--set=phase1.batch=2", "--set=phase1.crop=32", "--set=phase1.log_every=1",
          "--set=phase1.checkpoint_every=2", "--set=model.adapters=[noise,lowlight]", "--set=threads=1",
          "--workers", "0", "--no-progress", "--device", "cpu"]
ERROR = "abair-bench: error: "


@pytest.fixture
def two_cores(monkeypatch):
    """This process may run on exactly 2 cores (whatever the machine has)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _end(pids) -> None:
    """Clean-up: SIGKILL the processes this test started that are still running."""
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _holder(target: Path, code: str) -> subprocess.Popen:
    """Another process holding a lock on ``target`` (``code`` takes the lock on sys.argv[1])."""
    proc = subprocess.Popen([sys.executable, "-c", code + "; print('locked', flush=True); time.sleep(60)", str(target)],
                            stdout=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout.readline().strip() == "locked"
    return proc


HOLD_TRAINING = ("import sys, time; from abair.filelock import training_lock; held = training_lock(sys.argv[1]); "
                 "held.__enter__()")


# -- one writer per training folder ----------------------------------------------------------------------
def test_a_second_training_into_a_folder_being_trained_is_refused_naming_it_and_the_holder(tmp_path, capsys):
    import socket

    out = tmp_path / "run"
    holder = _holder(out, HOLD_TRAINING)
    try:
        assert main(["train", "phase1", "--out", str(out), "--resume", *PHASE1]) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{ERROR}training folder {out} is being written by another training (pid {holder.pid} on host "
                   f"{socket.gethostname()}); wait for it to finish or train into a new output directory "
                   "(--out chooses the directory)"]
    assert sorted(p.name for p in out.iterdir()) == ["train.lock"]  # nothing written: no log, no recipe
    assert main(["train", "phase1", "--out", str(out), *PHASE1]) == 0  # the holder's kill released it
    steps = [json.loads(line)["step"] for line in (out / "phase1" / "log.jsonl").open()]
    assert steps == [1, 2]


def test_the_training_loop_locks_its_folder_for_library_callers_too(tmp_path):
    from abair.train import phases
    from abair.train.recipes import load_recipe

    recipe = load_recipe("tiny", [s.split("=", 1)[1] for s in PHASE1 if s.startswith("--set=")])
    holder = _holder(tmp_path / "phase1", HOLD_TRAINING)
    try:
        with pytest.raises(UserError, match=rf"^training folder {tmp_path / 'phase1'} is being written by another "
                                            rf"training \(pid {holder.pid} on host "):
            phases.run_phase1(recipe, tmp_path, resume=True, device="cpu", progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "phase1" / "log.jsonl").exists()


def test_nested_holders_of_one_folder_in_one_process_share_the_lock(tmp_path):
    from abair.filelock import training_lock

    with training_lock(tmp_path), training_lock(tmp_path):  # a command and the loop it runs
        pass
    with training_lock(tmp_path):  # released
        pass


@pytest.mark.parametrize("which", ["run", "train"])
def test_a_lock_file_that_is_a_symbolic_link_is_refused_and_its_target_kept(tmp_path, which):
    from abair.filelock import training_lock
    from bench.runlock import RunLock

    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    folder = tmp_path / "out"
    folder.mkdir()
    name = "run.lock" if which == "run" else "train.lock"
    (folder / name).symlink_to(target)
    with pytest.raises(UserError) as err:
        if which == "run":
            RunLock(folder).acquire()
        else:
            with training_lock(folder):
                pass
    assert str(err.value) == f"the lock file {folder / name} is a symbolic link; remove it (a lock file is never followed)"
    assert target.read_text() == "keep me\n"


# -- the launcher of --jobs: children die with it, signals are forwarded, Ctrl-C is reported once -----------
LAUNCHER = ("import sys; from bench.local_jobs import run_jobs; "
            "sys.exit(run_jobs([sys.argv[1]], int(sys.argv[2]), 1, module='jobs_child'))")


def _launch(tmp_path) -> tuple[subprocess.Popen, list[int]]:
    """A launcher of ``jobs_child`` ranks (2, or 1 on a one-core machine) and the ranks' pids."""
    from abair.children import usable_cores

    jobs = min(2, usable_cores())
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(tmp_path), str(jobs)], env=ENV,
                            stderr=subprocess.PIPE, text=True)
    files = [tmp_path / f"rank-{r}.pid" for r in range(jobs)]
    try:
        _wait_for(lambda: all(f.is_file() and f.read_text() for f in files), 60, "the ranks to start")
    except AssertionError:
        proc.kill()
        raise
    return proc, [int(f.read_text()) for f in files]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_to_the_launcher_stops_the_ranks_and_exits_128_plus_the_signal(tmp_path, sig):
    proc, ranks = _launch(tmp_path)
    try:
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 128 + sig
        assert not [pid for pid in ranks if _alive(pid)]
        err = proc.stderr.read().strip().splitlines()
        assert len(err) == 1 and f"stopped by {sig.name}; records written so far are kept, rerun to resume" in err[0]
    finally:
        proc.kill()
        _end(ranks)


def test_the_ranks_die_with_a_killed_launcher(tmp_path):
    proc, ranks = _launch(tmp_path)
    try:
        proc.kill()  # kill -9: nothing of the launcher runs
        proc.wait()
        _wait_for(lambda: not [pid for pid in ranks if _alive(pid)], 10, "the ranks to die with their launcher")
    finally:
        _end(ranks)


def test_a_rank_of_the_launcher_is_quiet_on_ctrl_c_its_launcher_reports_it(tmp_path, monkeypatch, capsys):
    from bench.commands import run as run_command
    from bench.local_jobs import PROGRAM_ENV

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_command, "main", interrupted)
    argv = ["run", "--suite", "mini", "--methods", "identity", "--out", str(tmp_path / "x")]
    monkeypatch.delenv(PROGRAM_ENV, raising=False)
    assert main(argv) == 130
    assert capsys.readouterr().err.splitlines() == [
        "abair-bench: interrupted; records written so far are kept, rerun to resume"]
    monkeypatch.setenv(PROGRAM_ENV, "abair-bench")  # what run_jobs gives its ranks
    assert main(argv) == 130
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_ctrl_c_on_run_jobs_prints_the_interrupted_line_once(tmp_path):
    """The terminal sends SIGINT to the launcher and both ranks; one line comes out."""
    from abair.children import usable_cores

    if usable_cores() < 2:
        pytest.skip("needs 2 cores for --jobs 2")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "bench.cli", "run", "--suite", "mini", "--datasets", "mini-derain", "--limit", "8",
           "--methods", "slow_method:make", "--method-arg", "slow_method:make.seconds=2", "--out", str(out),
           "--no-progress", "--jobs", "2"]
    proc = subprocess.Popen(cmd, env=ENV, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_for(lambda: len(list((out / "shards").glob("*.csv"))) == 2 if (out / "shards").is_dir() else False,
                  120, "both ranks to write records")
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = proc.stderr.read()
    assert err.count("interrupted; records written so far are kept") == 1, err


@pytest.mark.slow
def test_phase2_adapter_processes_die_with_a_killed_parent(tmp_path):
    """``train phase2 --jobs 2``: after a kill -9 of the parent nothing keeps training beside a --resume."""
    from abair.children import usable_cores
    from abair.model import build
    from abair.model.checkpoint import save

    if usable_cores() < 2:
        pytest.skip("needs 2 cores for --jobs 2")
    backbone = tmp_path / "backbone.safetensors"
    save(build("tiny", adapters=0, seghead=True), backbone, include_seghead=True)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "bench.cli", "train", "phase2", "--out", str(out), "--checkpoint", str(backbone),
           "--jobs", "2", "--no-progress", "--device", "cpu", "--workers", "0", "--set=phase2.steps=100000",
           "--set=phase2.batch=2", "--set=phase2.crop=32", "--set=phase2.log_every=1", "--set=threads=1",
           "--set=phase2.per_adapter={}", "--set=model.adapters=[noise,lowlight]"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    locks = [out / "phase2" / name / "train.lock" for name in ("noise", "lowlight")]
    workers: list[int] = []
    try:
        _wait_for(lambda: all((lock.parent / "log.jsonl").is_file() for lock in locks), 180, "both adapters to train")
        workers = [int(lock.read_text().split()[1]) for lock in locks]  # "pid N on host H"
        assert all(_alive(pid) for pid in workers)
        proc.kill()
        proc.wait()
        _wait_for(lambda: not [pid for pid in workers if _alive(pid)], 15, "the adapter processes to die")
    finally:
        proc.kill()
        _end(workers)


# -- limits on processes and threads ---------------------------------------------------------------------
def test_more_jobs_workers_or_threads_than_usable_cores_are_refused(two_cores, tmp_path, one_line_error):
    run = ["run", "--suite", "mini", "--methods", "identity", "--out", str(tmp_path / "r"), "--no-progress"]
    assert one_line_error([*run, "--jobs", "3"]) == f"{ERROR}--jobs must be at most the 2 usable CPU cores of this process, got 3"
    out = ["--out", str(tmp_path / "t")]
    assert one_line_error(["train", "all", *out, "--jobs", "99"]) == (
        f"{ERROR}--jobs must be at most the 2 usable CPU cores of this process, got 99")
    assert one_line_error(["train", "phase1", *out, "--workers", "1000"]) == (
        f"{ERROR}--workers must be at most the 2 usable CPU cores of this process, got 1000")
    assert one_line_error(["train", "phase1", *out, "--workers", "-1"]) == f"{ERROR}--workers must be >= 0, got -1"
    for value, why in (("1000", "must be at most the 2 usable CPU cores of this process, got 1000"),
                       ("-3", "must be >= 0, got -3")):
        line = one_line_error(["train", "phase1", *out, "--set", f"threads={value}"])
        assert line.startswith(ERROR) and line.endswith(f"tiny.yaml: threads {why}")
    assert not (tmp_path / "t").exists() and not (tmp_path / "r").exists()


def test_recipe_data_workers_and_phase2_jobs_are_bounded(two_cores, tmp_path):
    from abair.train import phases
    from abair.train.recipes import load_recipe

    with pytest.raises(UserError, match=r"data\.workers must be at most the 2 usable CPU cores of this process, got 9$"):
        load_recipe("tiny", ["data.workers=9"])
    backbone = tmp_path / "backbone.safetensors"
    from abair.model import build
    from abair.model.checkpoint import save

    save(build("tiny", adapters=0, seghead=True), backbone, include_seghead=True)
    with pytest.raises(UserError, match=r"^the number of adapters trained at a time must be at most the 2 usable CPU "
                                        r"cores of this process, got 3$"):
        phases.run_phase2(load_recipe("tiny"), tmp_path, backbone=backbone, device="cpu", jobs=3)


# -- recipe values -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("override, message", [
    ("phase1.lr=.nan", "'phase1.lr' must be a finite number, got nan"),
    ("phase3.grad_clip=.inf", "'phase3.grad_clip' must be a finite number, got inf"),
    ("phase2.min_lr=-.inf", "'phase2.min_lr' must be a finite number, got -inf"),
    ("phase1.seg_weight=nan", "'phase1.seg_weight' must be a finite number, got nan"),
    ("phase2.soft_radius=[0.5, .nan]", "'phase2.soft_radius[1]' must be a finite number, got nan"),
    ("phase2.per_adapter={noise: {lr: .inf}}", "'phase2.per_adapter.noise.lr' must be a finite number, got inf"),
    ("phase1.checkpoint_every=0", "phase1.checkpoint_every must be >= 1 (a number of steps), got 0"),
    ("phase3.log_every=0", "phase3.log_every must be >= 1 (a number of steps), got 0"),
    ("phase2.per_adapter={noise: {log_every: -1}}",
     "phase2.per_adapter.noise.log_every must be >= 1 (a number of steps), got -1"),
])
def test_recipe_values_that_are_not_finite_or_zero_periods_are_one_line(override, message):
    from abair.train.recipes import load_recipe

    with pytest.raises(UserError) as err:
        load_recipe("tiny", [override])
    assert str(err.value).endswith(f"tiny.yaml: {message}")


def test_nan_learning_rate_on_the_command_line_is_one_line_naming_the_key(tmp_path, one_line_error):
    line = one_line_error(["train", "phase1", "--out", str(tmp_path / "t"), "--set", "phase1.lr=.nan"])
    assert line.startswith(ERROR) and line.endswith("tiny.yaml: 'phase1.lr' must be a finite number, got nan")


def test_loop_config_refuses_zero_periods():
    from abair.train.loop import LoopConfig

    with pytest.raises(UserError, match=r"^checkpoint_every must be >= 1 \(a number of steps\), got 0$"):
        LoopConfig(steps=4, batch=2, lr=1e-3, checkpoint_every=0)
    with pytest.raises(UserError, match=r"^log_every must be >= 1"):
        LoopConfig(steps=4, batch=2, lr=1e-3, log_every=0)


# -- --train-data that the training would not read ---------------------------------------------------------
@pytest.mark.parametrize("action, item, reads", [
    (["phase1"], "rain=rain100l-train", "none"),
    (["phase2"], "jpeg=somewhere", "lowlight, noise"),
    (["adapter", "--name", "noise", "--checkpoint", "m.safetensors", "--recipe", "tiny"], "rain=x", "noise"),
])
def test_train_data_that_the_training_does_not_read_is_one_line(tmp_path, one_line_error, action, item, reads):
    line = one_line_error(["train", *action, "--out", str(tmp_path / "t"), "--set=model.adapters=[noise,lowlight]",
                           "--train-data", item])
    name = item.split("=")[0]
    assert line == (f"{ERROR}--train-data {item}: this training reads no training set for '{name}' (it reads those "
                    f"of: {reads}); drop it")


# -- the training data's fingerprint on --resume -------------------------------------------------------------
def _images(folder: Path, n: int, start: int = 0) -> None:
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(start)
    for i in range(start, start + n):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / f"img{i}.png")


def test_resume_refuses_clean_data_whose_files_changed_unless_allowed(tmp_path, capsys):
    clean, out = tmp_path / "clean", tmp_path / "run"
    _images(clean, 3)
    cmd = ["train", "phase1", "--out", str(out), "--clean-data", str(clean), *PHASE1]
    assert main(cmd) == 0
    recorded = json.loads((out / "data.json").read_text())["parts"]
    assert list(recorded) == ["clean"] and recorded["clean"]["files"] == 3
    assert main([*cmd, "--resume"]) == 0  # the same files: goes on (here: nothing left to do)
    capsys.readouterr()
    _images(clean, 1, start=3)  # one image added under the same folder
    assert main([*cmd, "--resume"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"{ERROR}the training data changed since this training started: clean has 4 files, 3 then (fingerprints in "
        f"{out / 'data.json'} differ); resume with the same data, or allow the data change to go on with it "
        "(--allow-data-change goes on with the changed data)"]
    assert main([*cmd, "--resume", "--allow-data-change"]) == 0
    assert json.loads((out / "data.json").read_text())["parts"]["clean"]["files"] == 4


PHASE2 = ["--set=phase2.steps=2", "--set=phase2.batch=2", "--set=phase2.crop=32", "--set=phase2.checkpoint_every=2"]
PHASE3 = ["--set=phase3.steps=2", "--set=phase3.batch=2", "--set=phase3.crop=32", "--set=phase3.checkpoint_every=2"]


@pytest.mark.parametrize("action, workdir, final", [
    ("phase1", "phase1", "phase1/backbone.safetensors"),
    ("phase2", "phase2/noise", "phase2/noise/adapter.safetensors"),
    ("phase3", "phase3", "model.safetensors"),
])
def test_a_refused_start_over_an_unfinished_training_leaves_its_data_fingerprint(tmp_path, capsys, action, workdir,
                                                                                  final):
    """A start without --resume into a folder with an unfinished training state is refused before it
    writes anything there: data.json keeps the fingerprint of the data the training started on, so a
    later --resume still sees that the data changed."""
    clean, out = tmp_path / "clean", tmp_path / "run"
    _images(clean, 3)
    base = ["--out", str(out), "--clean-data", str(clean), *PHASE1, *PHASE2, *PHASE3]
    for phase in ("phase1", "phase2", "phase3")[:int(action[-1])]:
        assert main(["train", phase, *base]) == 0
    (out / final).unlink()  # its training state stays: unfinished
    recorded, recipe = (out / "data.json").read_bytes(), (out / "recipe.yaml").read_bytes()
    capsys.readouterr()
    _images(clean, 1, start=3)  # the data changes
    assert main(["train", action, *base]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"{ERROR}'{out / workdir}' already holds a training state (step-00000002); resume it or choose another "
        "output directory (--resume continues it; another --out starts afresh)"]
    assert (out / "data.json").read_bytes() == recorded and (out / "recipe.yaml").read_bytes() == recipe
    assert main(["train", action, *base, "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{ERROR}the training data changed since this training started: "
                                               "clean has 4 files, 3 then"), err
    assert err[0].endswith("(--allow-data-change goes on with the changed data)")


def test_a_refused_estimator_retrain_over_an_unfinished_one_leaves_its_data_fingerprint(tmp_path, capsys):
    clean, run = tmp_path / "clean", tmp_path / "run"
    _images(clean, 3)
    data = ["--clean-data", str(clean), *PHASE1, *PHASE2, *PHASE3]
    for phase in ("phase1", "phase2", "phase3"):
        assert main(["train", phase, "--out", str(run), *data]) == 0
    model, workdir = tmp_path / "est.safetensors", tmp_path / "est.train-estimator"
    cmd = ["train", "estimator", "--checkpoint", str(run / "model.safetensors"), "--out", str(model),
           "--recipe", "tiny", *data]
    assert main(cmd) == 0
    model.unlink()  # its training state stays: unfinished
    recorded = (workdir / "data.json").read_bytes()
    capsys.readouterr()
    _images(clean, 1, start=3)
    assert main(cmd) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"{ERROR}'{workdir}' already holds a training state (step-00000002); resume it or choose another "
        "output directory (--resume continues it; another --out starts afresh)"]
    assert (workdir / "data.json").read_bytes() == recorded


def test_the_fingerprint_sees_a_rewritten_file_and_ignores_where_the_data_lies(tmp_path):
    import shutil

    from abair.train.fingerprint import fingerprint
    from abair.train.sources import FileSource

    _images(tmp_path / "a", 3)
    first = fingerprint(FileSource(sorted((tmp_path / "a").iterdir())))
    shutil.copytree(tmp_path / "a", tmp_path / "moved" / "b")  # copytree keeps mtimes
    assert fingerprint(FileSource(sorted((tmp_path / "moved" / "b").iterdir()))) == first
    path = tmp_path / "a" / "img1.png"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # rewritten: a newer mtime
    changed = fingerprint(FileSource(sorted((tmp_path / "a").iterdir())))
    assert changed["files"] == 3 and changed["sha256"] != first["sha256"]
