"""The protocol audit samples by default: DEFAULT_LIMIT images per method and set, spread evenly; 'all' scores every one."""

from __future__ import annotations

import pytest

from abair.errors import UserError
from bench.report.audit import DEFAULT_LIMIT, audit, resolve_limit, sample


def test_sample_spreads_evenly_and_keeps_order():
    assert sample(list("abcdefgh"), 3) == ["a", "c", "f"]
    assert sample(list("abc"), 8) == ["a", "b", "c"] and sample(list("abc"), None) == ["a", "b", "c"]


def test_resolve_limit_default_all_and_refusals():
    assert resolve_limit(None) == DEFAULT_LIMIT == 4
    assert resolve_limit("all") is None and resolve_limit("ALL") is None
    assert resolve_limit("3") == 3 and resolve_limit(5) == 5
    for bad in ("0", "x", 0, -1, 2.5, True):
        with pytest.raises(UserError, match="--audit-limit must be a whole number of images >= 1 or 'all'"):
            resolve_limit(bad)


def test_the_audit_scores_a_sample_unless_all(tmp_path):
    import bench
    from bench.report.grids import InputCache

    out = tmp_path / "run"
    bench.evaluate(["identity"], ["mini-derain"], out=out, limit=12, save_images=True)
    runs = bench.load_runs(out)
    ids = list(dict.fromkeys(runs.records["image_id"]))
    default = audit(runs, InputCache(), protocols=["allinone-rgb"])
    assert list(default.scores["image_id"].unique()) == sample(ids, 4) and len(sample(ids, 4)) == 4
    assert default.notes[0].startswith("a sample: at most 4 images of each method and dataset")
    assert "(8 saved images not scored); --audit-limit all scores every one" in default.notes[0]
    full = audit(runs, InputCache(), protocols=["allinone-rgb"], limit="all")
    assert full.scores["image_id"].nunique() == 12 and not any("a sample" in n for n in full.notes)


def test_report_refuses_a_bad_audit_limit_with_one_line(tmp_path, capsys):
    import bench
    from bench.cli import main

    out = tmp_path / "run"
    bench.evaluate(["identity"], ["mini-derain"], out=out, limit=1)
    assert main(["report", "--runs", str(out), "--out", str(tmp_path / "r.html"), "--audit-limit", "some"]) == 2
    assert "--audit-limit must be a whole number of images >= 1 or 'all', got 'some'" in capsys.readouterr().err
