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


def test_partial_trailing_line_is_dropped_on_open(tmp_path):
    path = tmp_path / "records.csv"
    f = RecordFile(path)
    f.append([_row("a"), _row("a", "ssim", 0.9)])
    with open(path, "a") as fh:
        fh.write("r,m,d,denoise,b,allinone-rgb,ps")  # a write cut short
    f2 = RecordFile(path)
    assert [r["image_id"] for r in f2.rows()] == ["a", "a"]
    f2.append([_row("b")])
    rows = list(csv.DictReader(open(path)))
    assert [r["image_id"] for r in rows] == ["a", "a", "b"]


def test_done_keys_are_per_image_and_protocol(tmp_path):
    f = RecordFile(tmp_path / "records.csv")
    f.append([_row("a"), _row("a", protocol="y-bt601")])
    assert f.done_keys() == {("m", "d", "a", "allinone-rgb"), ("m", "d", "a", "y-bt601")}


def test_foreign_csv_is_refused(tmp_path):
    (tmp_path / "records.csv").write_text("x,y\n1,2\n")
    with pytest.raises(UserError, match="not an abair-bench records file"):
        RecordFile(tmp_path / "records.csv")


def test_shards_merge_without_duplicates(tmp_path):
    s0, s1 = RunStore(tmp_path, shard=0), RunStore(tmp_path, shard=1)
    s0.writer.append([_row("a"), _row("a", "ssim", 0.8)])
    s1.writer.append([_row("b")])
    main = RunStore(tmp_path)
    assert main.done_keys() == {("m", "d", "a", "allinone-rgb"), ("m", "d", "b", "allinone-rgb")}
    assert main.merge_shards() == 3
    assert main.merge_shards() == 0  # idempotent
    assert sorted(r["image_id"] for r in main.records.rows()) == ["a", "a", "b"]


def test_manifest_written_atomically_and_read_back(tmp_path):
    store = RunStore(tmp_path)
    assert store.read_manifest() is None
    store.write_manifest({"run_id": "abc", "x": [1, 2]})
    assert store.read_manifest() == {"run_id": "abc", "x": [1, 2]}
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
