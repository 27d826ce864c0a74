"""The summary 'abair-bench run' prints carries units: PSNR in dB, SSIM unitless, seconds per image."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.cli import main


def test_the_run_summary_names_its_units_and_the_seconds_per_image(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--methods", "identity", "--datasets", "mini-derain", "--limit", "2", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["allinone-rgb:psnr", "[dB]", "allinone-rgb:ssim", "s/image", "n"]
    assert printed[3] == ("PSNR in dB; SSIM (and LPIPS) unitless, 0..1; s/image: wall seconds of restoration "
                          "per image (mean); n: images")
    records = pd.read_csv(out / "records.csv").drop_duplicates("image_id")
    assert float(printed[2].split()[-2]) == pytest.approx(records["seconds"].mean(), abs=1e-4)
