"""The run store keeps to its folder and its word: saved-image names made safe, symbolic links
refused, unmerged shards merged, the config guard without a manifest, nan rows recomputed, damaged
files one line."""

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from abair.errors import UserError
from bench.cli import main
from bench.report.runs import load_runs

TESTS = Path(__file__).parent
ENV = {**os.environ, "PYTHONPATH": str(TESTS) + os.pathsep + os.environ.get("PYTHONPATH", "")}
ONE_SET = ["run", "--suite", "mini", "--datasets", "mini-derain", "--methods", "identity", "--no-progress"]


def read_records(path):
    with open(Path(path) / "records.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def hf_set(folder: Path, ids: list[str]) -> str:
    """A tiny ``hf:`` set (32x32 noisy/clean pairs) with these image ids; returns its dataset name."""
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    rng = np.random.default_rng(0)
    clean = [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in ids]
    noisy = [Image.fromarray(np.clip(np.asarray(c) + rng.integers(-20, 21, (32, 32, 3)), 0, 255).astype(np.uint8))
             for c in clean]
    features = datasets.Features({"degraded": datasets.Image(), "clean": datasets.Image(),
                                  "image_id": datasets.Value("string"), "task": datasets.Value("string")})
    table = datasets.Dataset.from_dict({"degraded": noisy, "clean": clean, "image_id": ids,
                                        "task": ["denoise"] * len(ids)}, features=features)
    table.save_to_disk(str(folder))
    return f"hf:{folder}"


# ------------------------------------------------------------------------------ saved-image names
def test_file_stem_keeps_safe_names_and_hashes_the_others():
    from bench.store import NAME_MAX, file_stem, image_file

    assert file_stem("astronaut-r0c0") == "astronaut-r0c0" and image_file("0001") == "0001.png"
    for name in ("../../../x", "/abs/x", ".hidden", "a" * 300, "", "x-0123456789ab", "sub/dir\\x:y"):
        stem = file_stem(name)
        assert stem != name and "/" not in stem and not stem.startswith(".") and len(stem) <= NAME_MAX
        assert stem[-13] == "-" and all(c in "0123456789abcdef" for c in stem[-12:])
    assert file_stem("a/b") != file_stem("a_b") and file_stem("a" * 300) != file_stem("a" * 301)
    assert file_stem("../../../x") == file_stem("../../../x")  # the same name on every rank and every rerun


def test_save_images_stays_in_the_run_folder_and_the_report_finds_every_image(tmp_path):
    from bench.report.audit import audit
    from bench.report.grids import InputCache
    outside = tmp_path / "outside"
    ids = ["../../../../../x", f"{outside}/abs", "plain", "a" * 300]  # from images/identity/<set>/: tmp_path/x
    name = hf_set(tmp_path / "hf", ids)
    out = tmp_path / "w" / "run"
    assert main(["run", "--datasets", name, "--methods", "identity", "--save-images", "--out", str(out),
                 "--no-progress"]) == 0
    assert not (tmp_path / "x.png").exists() and not (outside / "abs.png").exists() and not outside.exists()
    saved = sorted(p.relative_to(out / "images") for p in (out / "images").rglob("*") if p.is_file())
    assert len(saved) == 4 and all(len(p.parts) == 3 and p.parts[0] == "identity" for p in saved)
    manifest = json.loads((out / "manifest.json").read_text())
    files = manifest["datasets"][name]["image_files"]
    assert sorted(files) == sorted(ids[:2] + ids[3:])  # "plain" keeps its name: plain.png
    assert {p.name for p in saved} == {*files.values(), "plain.png"}
    runs = load_runs([out])
    for image_id in ids:
        assert runs.image_path("run", "identity", name, image_id).is_file()
    result = audit(runs, InputCache(), protocols=["allinone-rgb"])
    assert sorted(result.scores["image_id"].unique()) == sorted(ids)  # the audit read all four PNGs


@pytest.mark.slow
def test_jobs_2_saves_under_the_same_names(tmp_path):
    ids = ["../up", "sub/dir/y", "plain", "b" * 200]
    name = hf_set(tmp_path / "hf", ids)
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "bench.cli", "run", "--datasets", name, "--methods", "identity",
                           "--save-images", "--out", str(out), "--no-progress", "--jobs", "2"],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    files = json.loads((out / "manifest.json").read_text())["datasets"][name]["image_files"]
    runs = load_runs([out])
    assert all(runs.image_path("run", "identity", name, i).is_file() for i in ids)
    assert sorted(p.name for p in (out / "images").rglob("*.png")) == sorted([*files.values(), "plain.png"])


# ------------------------------------------------------------------------------ symbolic links
@pytest.mark.parametrize("link", ["records.csv", "manifest.json", "shards", "images"])
def test_a_linked_store_file_is_refused_and_its_target_untouched(tmp_path, one_line_error, link):
    out = tmp_path / "run"
    args = ONE_SET + ["--limit", "1", "--save-images", "--out", str(out)]
    assert main(args) == 0
    target = tmp_path / f"annex-{link}"
    os.replace(out / link, target) if link != "shards" else target.mkdir()
    (out / link).symlink_to(target)
    before = sorted((p.name, p.read_bytes()) for p in ([target] if target.is_file() else target.rglob("*.csv")))
    line = one_line_error(ONE_SET + ["--limit", "2", "--save-images", "--out", str(out)])
    assert f"{out / link} is a symbolic link (to {target}); a run never writes through links" in line
    assert "git annex unlock" in line
    assert sorted((p.name, p.read_bytes()) for p in ([target] if target.is_file() else target.rglob("*.csv"))) == before


# ------------------------------------------------------------------------------ unmerged shards
def test_a_one_process_rerun_merges_what_a_sharded_run_left_in_shards(tmp_path, capsys):
    from bench.runner import summarise
    from bench.store import HEADER, RunStore

    out = tmp_path / "run"
    assert main(ONE_SET + ["--limit", "4", "--out", str(out)]) == 0
    rows = read_records(out)
    (out / "records.csv").write_text(HEADER)  # killed before rank 0 merged: everything is in shards/
    for rank in (0, 1):
        RunStore(out, shard=rank).writer.append(rows[rank * 4:(rank + 1) * 4])
    capsys.readouterr()
    assert main(ONE_SET + ["--limit", "4", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"merged 8 record rows of an unfinished sharded run ({out / 'shards'}) into {out / 'records.csv'}" in \
        captured.err
    assert read_records(out) == rows
    summary = summarise(out)
    assert summary["n"].tolist() == [4, 4]
    assert captured.out.splitlines()[2].split()[-1] == "4"  # the printed summary counts all four images


# ------------------------------------------------------------------------------ config guard without a manifest
def test_a_lost_manifest_still_refuses_another_method_config(tmp_path, one_line_error):
    out = tmp_path / "run"
    base = ["run", "--suite", "mini", "--datasets", "mini-denoise-s25", "--methods", "nlm", "--no-progress",
            "--out", str(out)]
    assert main(base + ["--limit", "1"]) == 0
    assert json.loads((out / "configs.json").read_text())["methods"]["nlm"]["h_factor"] == 0.8
    (out / "manifest.json").unlink()
    line = one_line_error(base + ["--limit", "2", "--method-arg", "nlm.h_factor=2.0"])
    assert "already holds method 'nlm' with another config (h_factor: 0.8 in the store, 2.0 now); " in line
    assert len(read_records(out)) == 2 and not (out / "manifest.json").exists()
    assert main(base + ["--limit", "2"]) == 0  # the same config resumes
    assert len(read_records(out)) == 4
    assert json.loads((out / "manifest.json").read_text())["methods"]["nlm"]["h_factor"] == 0.8


def test_a_lost_manifest_refuses_another_tiling(tmp_path, one_line_error):
    out = tmp_path / "run"
    assert main(ONE_SET + ["--limit", "1", "--out", str(out)]) == 0
    (out / "manifest.json").unlink()
    line = one_line_error(ONE_SET + ["--limit", "1", "--tile", "64", "--out", str(out)])
    assert "already holds method 'identity' with another config (tiling: absent in the store, " in line


def test_records_that_nothing_describes_are_refused(tmp_path, one_line_error):
    out = tmp_path / "run"
    assert main(ONE_SET + ["--limit", "1", "--out", str(out)]) == 0
    (out / "manifest.json").unlink()
    (out / "configs.json").unlink()
    before = (out / "records.csv").read_bytes()
    line = one_line_error(ONE_SET + ["--limit", "2", "--out", str(out)])
    assert line == (f"abair-bench: error: {out} holds records but no manifest.json or configs.json saying which "
                    "method configs made them; restore manifest.json, or move the records aside, or use a new --out")
    assert (out / "records.csv").read_bytes() == before and not (out / "manifest.json").exists()


# ------------------------------------------------------------------------------ nan records
def test_a_nan_record_is_recomputed_and_the_new_row_wins(tmp_path, capsys):
    from bench.runner import summarise
    from bench.store import load_records

    out = tmp_path / "run"
    assert main(ONE_SET + ["--limit", "2", "--out", str(out)]) == 0
    rows = read_records(out)
    psnr = float(rows[0]["value"])
    path = out / "records.csv"
    lines = path.read_text().splitlines(keepends=True)
    fields = lines[1].split(",")
    assert fields[6] == "psnr"
    lines[1] = ",".join(fields[:7] + ["nan"] + fields[8:])
    path.write_text("".join(lines))
    capsys.readouterr()
    assert main(ONE_SET + ["--limit", "2", "--out", str(out)]) == 0
    assert "repeating the key" not in capsys.readouterr().err  # a replaced nan row is no conflict
    again = read_records(out)
    assert len(again) == 5 and again[-1]["image_id"] == rows[0]["image_id"] and again[-1]["metric"] == "psnr"
    assert float(again[-1]["value"]) == pytest.approx(psnr, abs=1e-9)
    df = load_records(out)
    assert len(df) == 4 and not df["value"].isna().any()
    mean = summarise(out).set_index("metric").loc["psnr"]
    assert int(mean["n"]) == 2 and math.isfinite(mean["mean"])
    assert main(ONE_SET + ["--limit", "2", "--out", str(out)]) == 0
    assert len(read_records(out)) == 5  # done now: nothing recomputed


def test_load_records_prefers_a_number_over_nan_in_either_order(tmp_path):
    from bench.store import RecordFile, load_records

    row = {"run_id": "r", "method": "m", "dataset": "d", "task": "t", "image_id": "a", "protocol": "p",
           "metric": "psnr", "value": float("nan"), "seconds": 0.1, "height": 8, "width": 8}
    f = RecordFile(tmp_path / "records.csv")
    f.append([row, {**row, "value": 31.0}, {**row, "image_id": "b", "value": 29.0}, {**row, "image_id": "b"}])
    df = load_records(tmp_path)
    assert list(zip(df["image_id"], df["value"], strict=True)) == [("a", 31.0), ("b", 29.0)]


# ------------------------------------------------------------------------------ damaged files: one line
@pytest.mark.parametrize("damage, message", [
    (lambda f: f[:7] + ["abc"] + f[8:], "line 2 has value 'abc', not a number"),
    (lambda f: f[:9], "line 2 has 9 fields, not 11"),
])
def test_a_damaged_record_is_one_line_in_run_and_in_report(tmp_path, one_line_error, damage, message):
    out = tmp_path / "run"
    assert main(ONE_SET + ["--limit", "1", "--out", str(out)]) == 0
    path = out / "records.csv"
    lines = path.read_text().splitlines()
    lines[1] = ",".join(damage(lines[1].split(",")))
    path.write_text("\n".join(lines) + "\n")
    before = path.read_bytes(), (out / "manifest.json").read_bytes()
    line = one_line_error(ONE_SET + ["--limit", "2", "--out", str(out)])
    assert f"{path} {message}" in line and "delete that line" in line
    with pytest.raises(UserError) as err:  # what 'report' reads
        load_runs([out])
    assert f"{path} {message}" in str(err.value) and "delete that line" in str(err.value)
    assert (path.read_bytes(), (out / "manifest.json").read_bytes()) == before  # refused before writing


@pytest.mark.parametrize("manifest, problem", [
    ([1, 2], "it holds a JSON list, not an object"),
    ({"methods": None}, "its 'methods' is null, not a JSON dict"),
])
def test_a_manifest_of_the_wrong_shape_is_one_line_in_run_and_in_report(tmp_path, one_line_error, manifest,
                                                                         problem):
    out = tmp_path / "run"
    assert main(ONE_SET + ["--limit", "1", "--out", str(out)]) == 0
    whole = json.loads((out / "manifest.json").read_text())
    text = json.dumps(manifest if isinstance(manifest, list) else {**whole, **manifest})
    (out / "manifest.json").write_text(text)
    line = one_line_error(ONE_SET + ["--limit", "1", "--out", str(out)])
    assert f"{out / 'manifest.json'} is not a run manifest ({problem}); restore it, or use a new --out" in line
    with pytest.raises(UserError) as err:  # what 'report' reads
        load_runs([out])
    assert f"{out / 'manifest.json'} is not a run manifest ({problem}); move it out of" in str(err.value)
    assert (out / "manifest.json").read_text() == text


def test_records_that_cannot_be_written_are_one_line(tmp_path, one_line_error, monkeypatch):
    out = tmp_path / "run"
    assert main(ONE_SET + ["--limit", "1", "--out", str(out)]) == 0
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):  # as for a records.csv without write permission
        if str(path) == str(out / "records.csv") and flags & (os.O_WRONLY | os.O_RDWR) and not flags & os.O_EXCL:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    line = one_line_error(ONE_SET + ["--limit", "2", "--out", str(out)])
    assert line == (f"abair-bench: error: cannot write {out / 'records.csv'}: Permission denied; make it writable "
                    "(chmod u+w) or use a new --out")


def test_config_diff_names_nested_keys_and_caps_its_length():
    from bench.run_manifest import config_diff

    old = {"a": 1, "model": {"rank": 4, "type": "lora"}, "x": "y" * 500}
    new = {"a": 1, "model": {"rank": 8, "type": "lora"}, "x": "z" * 500, "b": [1, 2]}
    diff = config_diff(old, new)
    assert diff[0] == "b: absent in the store, [1, 2] now"
    assert diff[1] == "model.rank: 4 in the store, 8 now"
    assert diff[2].startswith('x: "yyy') and "(502 characters)" in diff[2] and len(diff[2]) < 200
    assert config_diff({str(i): i for i in range(9)}, {str(i): -i for i in range(1, 9)})[-1] == "and 5 more"
