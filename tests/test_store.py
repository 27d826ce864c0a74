"""The run store: append-only records, crash repair, resume keys, shard merge, manifest."""

import csv

import pytest

from abair.errors import UserError
from bench.store import COLUMNS, RecordFile, RunStore, load_records


def _row(image_id, metric="psnr", value=30.0, method="m", protocol="allinone-rgb"):
    return {
        "run_id": "r", "method": method, "dataset": "d", "task": "denoise", "image_id": image_id,
        "protocol": protocol, "metric": metric, "value": value, "seconds": 0.5, "height": 16, "width": 16,
    }


def test_header_and_exact_round_trip(tmp_path):
    f = RecordFile(tmp_path / "records.csv")
    f.append([_row("a", value=1 / 3), _row("b", value=float("inf"))])
    text = (tmp_path / "records.csv").read_text().splitlines()
    assert text[0] == ",".join(COLUMNS)
    assert text[1] == "r,m,d,denoise,a,allinone-rgb,psnr,0.3333333333333333,0.5,16,16"
    df = load_records(tmp_path)
    assert df["value"].iloc[0] == 1 / 3  # repr() keeps every bit
    assert df["value"].iloc[1] == float("inf")
    assert df["image_id"].tolist() == ["a", "b"]


def test_ids_that_look_numeric_stay_strings(tmp_path):
    RecordFile(tmp_path / "records.csv").append([_row("0001")])
    assert load_records(tmp_path)["image_id"].tolist() == ["0001"]


def test_partial_trailing_line_is_ignored_on_read_and_dropped_by_the_writer(tmp_path):
    path = tmp_path / "records.csv"
    f = RecordFile(path)
    f.append([_row("a"), _row("a", "ssim", 0.9)])
    with open(path, "a") as fh:
        fh.write("r,m,d,denoise,b,allinone-rgb,ps")  # a write cut short
    before = path.read_bytes()
    f2 = RecordFile(path)
    assert [r["image_id"] for r in f2.rows()] == ["a", "a"]
    assert path.read_bytes() == before  # opening and reading change nothing
    assert f2.repair() == len("r,m,d,denoise,b,allinone-rgb,ps")  # the writer, under the run's lock
    f2.append([_row("b")])
    rows = list(csv.DictReader(open(path)))
    assert [r["image_id"] for r in rows] == ["a", "a", "b"]


def test_done_keys_are_per_image_protocol_and_metric(tmp_path):
    f = RecordFile(tmp_path / "records.csv")
    f.append([_row("a"), _row("a", protocol="y-bt601")])
    assert f.done_keys() == {("m", "d", "a", "allinone-rgb", "psnr"), ("m", "d", "a", "y-bt601", "psnr")}


def test_foreign_csv_is_refused(tmp_path):
    (tmp_path / "records.csv").write_text("x,y\n1,2\n")
    with pytest.raises(UserError, match="not an abair-bench records file"):
        RecordFile(tmp_path / "records.csv")


def test_shards_merge_without_duplicates(tmp_path):
    s0, s1 = RunStore(tmp_path, shard=0), RunStore(tmp_path, shard=1)
    s0.writer.append([_row("a"), _row("a", "ssim", 0.8)])
    s1.writer.append([_row("b")])
    main = RunStore(tmp_path)
    assert main.done_keys() == {("m", "d", "a", "allinone-rgb", "psnr"), ("m", "d", "a", "allinone-rgb", "ssim"),
                                ("m", "d", "b", "allinone-rgb", "psnr")}
    assert main.merge_shards() == 3
    assert main.merge_shards() == 0  # idempotent
    assert sorted(r["image_id"] for r in main.records.rows()) == ["a", "a", "b"]


def test_manifest_written_atomically_and_read_back(tmp_path):
    store = RunStore(tmp_path)
    assert store.read_manifest() is None
    manifest = {"run_id": "abc", "methods": {}, "datasets": {}, "protocols": {}, "invocations": [], "x": [1, 2]}
    store.write_manifest(manifest)
    assert store.read_manifest() == manifest
    assert not list(tmp_path.glob("*.tmp"))
    store.manifest_path.write_text("{broken")
    with pytest.raises(UserError, match="not valid JSON"):
        store.read_manifest()


def test_load_records_names_a_missing_run(tmp_path):
    with pytest.raises(UserError, match="has no records.csv"):
        load_records(tmp_path / "nope")


def test_header_written_once_even_when_the_file_is_opened_concurrently(tmp_path):
    path = tmp_path / "records.csv"
    first, second = RecordFile(path), RecordFile(path)  # two ranks opening the run's file
    first.append([_row("a")])
    second.append([_row("b")])
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS) and sum(line.startswith("run_id,") for line in lines) == 1
    assert len(lines) == 3


def test_an_empty_file_left_by_a_crash_gets_its_header_on_first_append(tmp_path):
    path = tmp_path / "records.csv"
    path.write_text("")
    f = RecordFile(path)
    f.append([_row("a")])
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
    assert [r["image_id"] for r in f.rows()] == ["a"]


# ------------------------------------------------------------------------------ readers never write
def test_load_records_ignores_a_partial_last_line_and_never_changes_the_file(tmp_path, capsys):
    path = tmp_path / "records.csv"
    RecordFile(path).append([_row("a"), _row("a", "ssim", 0.9)])
    with open(path, "a") as fh:
        fh.write("r,m,d,denoise,b,allinone-rgb,ps")  # a write cut short (or a run still writing)
    before = path.read_bytes()
    df = load_records(tmp_path)
    assert path.read_bytes() == before
    assert df["image_id"].tolist() == ["a", "a"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ends in a partial line" in err[0] and "ignored" in err[0]


def test_a_header_cut_short_is_one_line_not_a_pandas_error(tmp_path):
    (tmp_path / "records.csv").write_text("run_id,meth")
    with pytest.raises(UserError, match=r"records.csv has no complete header line \(the file was cut short\)"):
        load_records(tmp_path)
    assert (tmp_path / "records.csv").read_text() == "run_id,meth"


def test_a_damaged_records_file_is_one_line_not_a_pandas_error(tmp_path):
    good = "r,m,d,t,i,p,psnr,1,2,3,4\n"
    (tmp_path / "records.csv").write_text(",".join(COLUMNS) + "\n" + good + "r,m,d,t,i,p,psnr,1,2,3,4,5,6,7\n")
    with pytest.raises(UserError, match=r"records.csv line 3 has 14 fields, not 11: .*delete that line"):
        load_records(tmp_path)


def test_rows_repeating_a_key_are_read_once_with_a_warning(tmp_path, capsys):
    f = RecordFile(tmp_path / "records.csv")
    f.append([_row("a", value=1.0), _row("a", "ssim", 0.5)])
    f.append([_row("a", value=2.0), _row("b")])  # a second writer's copy of image a
    df = load_records(tmp_path)
    got = sorted(zip(df["image_id"], df["metric"], df["value"], strict=True))
    assert got == [("a", "psnr", 1.0), ("a", "ssim", 0.5), ("b", "psnr", 30.0)]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 row(s) repeating the key" in err[0]


# ------------------------------------------------------------------------------ one writer per directory
def test_a_second_writer_is_refused_naming_the_holders_pid_and_host(tmp_path):
    import os
    import socket

    from bench.runlock import RunLock

    with RunLock(tmp_path):
        assert (tmp_path / "run.lock").read_text().strip() == f"pid {os.getpid()} on host {socket.gethostname()}"
        with pytest.raises(UserError) as err:
            RunLock(tmp_path).acquire()  # another open file description: flock refuses it
    assert str(err.value) == (f"run directory {tmp_path} is being written by another run (pid {os.getpid()} on host "
                              f"{socket.gethostname()}); wait for it to finish or use another --out")
    with RunLock(tmp_path):  # released on exit
        pass


def test_a_lock_left_by_a_killed_writer_does_not_block(tmp_path):
    import subprocess
    import sys

    from bench.runlock import RunLock

    code = ("import sys, time; from bench.runlock import RunLock; lock = RunLock(sys.argv[1]); lock.acquire(); "
            "print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match=rf"another run \(pid {holder.pid} on host "):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()  # kill -9: no clean-up code runs
        holder.wait()
    assert f"pid {holder.pid}" in (tmp_path / "run.lock").read_text()  # the file stays, its lock does not
    with RunLock(tmp_path):
        pass
