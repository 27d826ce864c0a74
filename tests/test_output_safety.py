"""Outputs never replace a run store's files nor, without --force, a file their command did not write.

``report`` (--out, --exports), ``suite export``, ``profile --out`` and ``datasets export`` refuse a
path on a run store's (or training folder's) own names even with --force, and an existing file they
did not write unless --force; their own earlier output (the report's generator tag, a folder's
marker file, a profile.json, a Hugging Face export's abair_dataset.json) is theirs to replace.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main

DATASET = "mini-denoise-s15"
REPORT = ["--no-audit", "--n-boot", "100", "--tables", "1"]  # the quickest report


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A one-image run store, made once for the module."""
    run = tmp_path_factory.mktemp("safety") / "run"
    assert main(["run", "--suite", "mini", "--methods", "identity", "--limit", "1", "--datasets", DATASET,
                 "--out", str(run), "--no-progress"]) == 0
    return run


@pytest.fixture
def intact(store):
    """Asserts after the test that the store's files are byte for byte what they were."""
    before = {p.name: p.read_bytes() for p in store.iterdir() if p.is_file()}
    assert {"records.csv", "manifest.json", "run.lock"} <= before.keys()
    yield store
    assert {name: (store / name).read_bytes() for name in before} == before


def _report(store: Path, out, *extra: str) -> list[str]:
    return ["report", "--runs", str(store), "--out", str(out), *REPORT, *extra]


@pytest.mark.parametrize("name", ["records.csv", "manifest.json", "run.lock", "shards/r.html", "images/r.html"])
@pytest.mark.parametrize("force", [False, True])
def test_report_never_writes_over_a_run_stores_own_files(intact, one_line_error, name, force):
    store = intact
    line = one_line_error(_report(store, store / name, *(["--force"] if force else [])))
    first = name.split("/")[0]
    assert f"--out {store / name} lies on '{first}' of the run store {store}" in line
    assert "(--force does not lift this); give another path, e.g. " + str(store / "report.html") in line


def test_report_inside_a_run_store_is_allowed_and_replaces_its_own_html(intact):
    from bench.report.build import GENERATOR

    out = intact / "report.html"
    assert main(_report(intact, out, "--exports", str(intact / "exports"))) == 0
    assert GENERATOR in out.read_text()[:2000]
    assert (intact / "exports" / ".abair-bench-exports").is_file()
    assert main(_report(intact, out, "--exports", str(intact / "exports"))) == 0  # its own files: no --force


@pytest.mark.parametrize("argv, flag, example", [
    (["report", "--runs", "{run}", "--out", "{tmp}/r.html", "--exports", "{run}"], "--exports", "exports"),
    (["suite", "export", "--suite", "mini", "--datasets", DATASET, "--out", "{run}"], "--out", "pairs"),
    (["profile", "--configs", "none", "--out", "{run}", "--force"], "--out", "profile"),
    (["datasets", "export", DATASET, "--to", "{run}", "--force"], "--to", DATASET),
])
def test_folder_outputs_refuse_the_run_store_itself(intact, tmp_path, one_line_error, argv, flag, example):
    argv = [a.format(run=intact, tmp=tmp_path) for a in argv]
    line = one_line_error(argv)
    assert line == (f"abair-bench: error: {flag} {intact} is a run store written by abair-bench; give a folder of "
                    f"its own, e.g. {intact / example}")


@pytest.mark.parametrize("argv, flag", [
    (["report", "--runs", "{run}", "--out", "{tmp}/r.html", "--exports", "{run}/images", "--force"], "--exports"),
    (["suite", "export", "--suite", "mini", "--datasets", DATASET, "--out", "{run}/shards"], "--out"),
    (["profile", "--configs", "none", "--out", "{run}/images/p"], "--out"),
    (["datasets", "export", DATASET, "--to", "{run}/shards", "--force"], "--to"),
])
def test_folder_outputs_refuse_a_run_stores_own_folders(intact, tmp_path, one_line_error, argv, flag):
    argv = [a.format(run=intact, tmp=tmp_path) for a in argv]
    line = one_line_error(argv)
    assert f"{flag} {intact}/" in line and f"of the run store {intact}, which only the writer of that store" in line
    assert not (intact / "shards").exists()


def test_training_folders_are_stores_too(tmp_path, one_line_error):
    work = tmp_path / "train" / "phase1"  # as 'abair-bench train all --out train' leaves it
    (work / "state" / "step-00000010").mkdir(parents=True)
    (work / "state" / "step-00000010" / "state.json").write_text("{}")
    (work / "log.jsonl").write_text(json.dumps({"step": 10, "loss": 0.1}) + "\n")
    line = one_line_error(["report", "--runs", str(tmp_path), "--out", str(work / "log.jsonl"), "--force"])
    assert f"lies on 'log.jsonl' of the training folder {work}" in line
    line = one_line_error(["profile", "--out", str(tmp_path / "train" / "phase1" / "state"), "--force"])
    assert f"lies on 'state' of the training folder {work}" in line
    line = one_line_error(["profile", "--out", str(tmp_path / "train" / "phase1"), "--force"])
    assert "is a training folder written by abair-bench" in line
    assert (work / "log.jsonl").read_text() == json.dumps({"step": 10, "loss": 0.1}) + "\n"


def test_report_over_a_file_it_did_not_write_needs_force(intact, tmp_path, one_line_error):
    from bench.report.build import GENERATOR

    mine = tmp_path / "notes.html"
    mine.write_text("<p>my notes</p>")
    line = one_line_error(_report(intact, mine))
    assert line == (f"abair-bench: error: --out {mine} exists and was not written by abair-bench report; give "
                    "another name or add --force to overwrite it")
    assert mine.read_text() == "<p>my notes</p>"
    assert main(_report(intact, mine, "--force")) == 0
    assert GENERATOR in mine.read_text()


def test_a_folder_holding_a_foreign_records_csv_is_no_store(intact, tmp_path, one_line_error):
    (tmp_path / "records.csv").write_text("a,b\n1,2\n")  # not abair-bench's header: an ordinary file
    line = one_line_error(_report(intact, tmp_path / "records.csv"))
    assert "exists and was not written by abair-bench report" in line


def test_exports_over_files_they_did_not_write_need_force(intact, tmp_path, one_line_error):
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "table-1.csv").write_text("mine\n")
    (exports / "other.txt").write_text("kept\n")
    line = one_line_error(_report(intact, tmp_path / "r.html", "--exports", str(exports)))
    assert line == (f"abair-bench: error: --exports {exports} already holds 1 file(s) where abair-bench report "
                    "--exports writes that it did not write (table-1.csv); give another folder or add --force to "
                    "overwrite them")
    assert (exports / "table-1.csv").read_text() == "mine\n" and not (tmp_path / "r.html").exists()
    assert main(_report(intact, tmp_path / "r.html", "--exports", str(exports), "--force")) == 0
    assert (exports / "table-1.csv").read_text().startswith("row,source,")
    assert (exports / "other.txt").read_text() == "kept\n"


def test_suite_export_over_files_it_did_not_write_needs_force(tmp_path, one_line_error):
    out = tmp_path / "pairs"
    theirs = out / DATASET / "clean" / "x.png"
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(b"not ours")
    argv = ["suite", "export", "--suite", "mini", "--datasets", DATASET, "--out", str(out)]
    line = one_line_error(argv)
    assert line == (f"abair-bench: error: --out {out} already holds 1 file(s) where abair-bench suite export writes "
                    f"that it did not write ({DATASET}/clean/x.png); give another folder or add --force to "
                    "overwrite them")
    assert main([*argv, "--force"]) == 0
    assert (out / ".abair-bench-suite-export").is_file() and len(list((out / DATASET / "clean").glob("*.png"))) == 35


def test_a_folder_carrying_the_marker_is_its_commands_own(tmp_path):
    from abair.errors import UserError
    from bench.commands.suite import MARKER
    from bench.paths import FolderOutput, check_output_folder

    output = FolderOutput("abair-bench suite export", ("d/clean/*.png",), MARKER)
    (tmp_path / "d" / "clean").mkdir(parents=True)
    (tmp_path / "d" / "clean" / "a.png").write_bytes(b"png")
    with pytest.raises(UserError, match="already holds 1 file"):
        check_output_folder(tmp_path, "--out", output)
    output.mark(tmp_path)  # what an export leaves before its first file
    assert check_output_folder(tmp_path, "--out", output) == tmp_path


def test_profile_over_files_it_did_not_write_needs_force(tmp_path, one_line_error):
    out = tmp_path / "prof"
    out.mkdir()
    (out / "profile.csv").write_text("mine\n")
    argv = ["profile", "--configs", "nosuch", "--out", str(out)]  # a bad config stops it before any timing
    line = one_line_error(argv)
    assert line == (f"abair-bench: error: --out {out} already holds 1 file(s) where abair-bench profile writes that "
                    "it did not write (profile.csv); give another folder or add --force to overwrite them")
    assert "unknown profile configuration 'nosuch'" in one_line_error([*argv, "--force"])  # past the output check
    (out / "profile.json").write_text(json.dumps({"schema": "abair-bench/profile/1", "results": []}))
    assert "unknown profile configuration 'nosuch'" in one_line_error(argv)  # an earlier profile is its own
    assert (out / "profile.csv").read_text() == "mine\n"


def test_datasets_export_into_a_folder_with_files_needs_force(tmp_path, one_line_error):
    pytest.importorskip("datasets")
    to = tmp_path / "hf"
    to.mkdir()
    (to / "notes.txt").write_text("kept\n")
    argv = ["datasets", "export", "mini-derain", "--to", str(to)]
    line = one_line_error(argv)
    assert line == (f"abair-bench: error: --to {to} is not empty; give a new or empty folder, or add --force to "
                    "write the export into it (its files of the export's names are replaced, the others kept)")
    assert main([*argv, "--force"]) == 0
    assert (to / "notes.txt").read_text() == "kept\n" and (to / "abair_dataset.json").is_file()
    assert not [p for p in to.iterdir() if p.name.startswith(".abair-export-")]  # the staging folder is gone
    assert main([*argv, "--force"]) == 0  # over an earlier export too


@pytest.mark.parametrize("extra, expected", [
    (["--seed", "-1"], "abair-bench: error: --seed must be an integer >= 0 (numpy's bootstrap seed), got -1"),
    (["--audit-protocols", "nosuch"],
     "abair-bench: error: --audit-protocols: unknown protocol 'nosuch'; run 'abair-bench protocols list' to see "
     "them all"),
    (["--audit-protocols", "allinone-rbg"], "unknown protocol 'allinone-rbg' (did you mean 'allinone-rgb'?)"),
    (["--n-boot", "100000000000000"], "--n-boot 100000000000000 is out of range; use 100 to 100000 resamples"),
    (["--n-boot", "10"], "--n-boot 10 is out of range; use 100 to 100000 resamples"),
])
def test_report_bad_option_values_are_one_line(intact, tmp_path, one_line_error, extra, expected):
    argv = ["report", "--runs", str(intact), "--out", str(tmp_path / "r.html"), *extra]
    assert expected in one_line_error(argv)
    assert not (tmp_path / "r.html").exists()


def test_make_report_api_refuses_the_store_and_takes_force(intact, tmp_path):
    import bench
    from abair.errors import UserError

    with pytest.raises(UserError, match=r"lies on 'records.csv' of the run store"):
        bench.make_report(intact, intact / "records.csv", audit=False, n_boot=100, tables=["1"], force=True)
    with pytest.raises(UserError, match="--ci-method"):
        bench.make_report(intact, tmp_path / "r.html", ci_method="bac")
    mine = tmp_path / "mine.html"
    mine.write_text("x")
    with pytest.raises(UserError, match="was not written by abair-bench report"):
        bench.make_report(intact, mine, audit=False, n_boot=100, tables=["1"])
    assert bench.make_report(intact, mine, audit=False, n_boot=100, tables=["1"], force=True) == mine
