"""Values that cannot be right are refused with one line, never scored: method outputs outside [0, 1],
NaN options, two protocol specs recording one key, plug-ins named like built-in methods, bad API
arguments, unused dataset paths, and 100 KB values echoed in messages."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

import baselines
import bench
from abair.errors import UserError, shorten
from bench.cli import main

TESTS = Path(__file__).parent
RUN = ["run", "--suite", "mini", "--datasets", "mini-derain", "--limit", "1", "--no-progress"]


@pytest.fixture(autouse=True)
def _tests_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))  # the plug-ins below as test_validation:make_*


# ------------------------------------------------------------------ plug-ins (module:callable)


class _Plugin(baselines.Method):
    """Returns ``output(batch)``; its records are named after the factory."""

    def __init__(self, name, output):
        self.name, self.output = name, output

    def restore(self, batch, context):
        return self.output(batch)


def make_uint8():
    return _Plugin("v-uint8", lambda b: (b * 255).round().to(torch.uint8))


def make_255():
    return _Plugin("v-255", lambda b: torch.full_like(b, 254.0))


def make_negative():
    return _Plugin("v-negative", lambda b: torch.full_like(b, -1.0))


def make_near():
    """Within the tolerance: clipped, as before (values 1.2 and -0.2)."""
    return _Plugin("v-near", lambda b: torch.where(b > 0.5, 1.2, -0.2))


def make_numpy():
    return _Plugin("v-numpy", lambda b: b.numpy())


def make_none():
    return _Plugin("v-none", lambda b: None)


def make_list():
    return _Plugin("v-list", lambda b: [b])


def make_shape():
    return _Plugin("v-shape", lambda b: b[..., :8, :8])


def make_identity_named():
    return _Plugin("identity", lambda b: b)


def make_nlm_named():
    return _Plugin("nlm", lambda b: b)


def make_raise_second():
    """Restores the first image, raises on the second."""
    calls = []

    def output(b):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("out of ideas\nsecond line")
        return b.clone()

    return _Plugin("v-raise", output)


class _BadHooks(_Plugin):
    def skip_reason(self, dataset):
        raise KeyError(dataset.name)


def make_bad_skip_reason():
    return _BadHooks("v-badskip", lambda b: b)


def make_bad_check():
    plugin = _Plugin("v-badcheck", lambda b: b)
    plugin.check = lambda name, ids: [][0]
    return plugin


def make_broken_init(gain=1.0):
    raise ValueError(f"gain {gain} is not supported")


def _records(out: Path) -> list[dict]:
    with open(out / "records.csv", newline="") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------ 1. method outputs


@pytest.mark.parametrize(("factory", "fragment"), [
    ("make_uint8", "method 'v-uint8' returned a torch.uint8 tensor on mini-derain/"),
    ("make_255", "method 'v-255' returned values up to 254.0 on mini-derain/"),
    ("make_negative", "method 'v-negative' returned values down to -1.0 on mini-derain/"),
])
def test_outputs_not_floats_in_0_1_are_refused_naming_method_and_image(tmp_path, one_line_error, factory,
                                                                         fragment):
    """Formerly clipped and recorded (4.77 dB for 0..255 floats)."""
    line = one_line_error(RUN + ["--methods", f"test_validation:{factory}", "--out", str(tmp_path / "r")])
    assert fragment in line and "restore() must return floats in [0, 1]" in line
    assert not (tmp_path / "r" / "records.csv").exists() or _records(tmp_path / "r") == []


@pytest.mark.parametrize(("factory", "returned"), [
    ("make_numpy", "returned a numpy.ndarray on mini-derain/"),
    ("make_none", "returned None on mini-derain/"),
    ("make_list", "returned a list on mini-derain/"),
    ("make_shape", "returned shape (1, 3, 8, 8) for input (1, 3, 128, 128)"),
])
def test_a_restore_returning_no_tensor_is_one_line(tmp_path, one_line_error, factory, returned):
    line = one_line_error(RUN + ["--methods", f"test_validation:{factory}", "--out", str(tmp_path / "r")])
    assert line.startswith("abair-bench: error: method 'v-") and returned in line, line


def test_outputs_slightly_outside_0_1_are_still_clipped(tmp_path):
    out = tmp_path / "r"
    assert main(RUN + ["--methods", "test_validation:make_near", "--out", str(out)]) == 0
    assert {r["metric"] for r in _records(out)} == {"psnr", "ssim"}


def test_a_plugin_raising_in_restore_is_one_line_and_keeps_the_records_written(tmp_path, one_line_error):
    out = tmp_path / "r"
    line = one_line_error([*RUN, "--limit", "2", "--methods", "test_validation:make_raise_second", "--out", str(out)])
    assert line.startswith("abair-bench: error: method 'v-raise' raised RuntimeError on mini-derain/")
    assert line.endswith(": out of ideas\\nsecond line")
    rows = _records(out)
    assert len(rows) == 2 and {r["method"] for r in rows} == {"v-raise"}  # the first image's psnr and ssim


@pytest.mark.parametrize(("factory", "expected"), [
    ("make_bad_skip_reason", "method 'v-badskip' raised KeyError in skip_reason() on mini-derain: 'mini-derain'"),
    ("make_bad_check", "method 'v-badcheck' raised IndexError in check() on mini-derain: list index out of range"),
])
def test_a_plugin_raising_in_its_hooks_is_one_line(tmp_path, one_line_error, factory, expected):
    line = one_line_error(RUN + ["--methods", f"test_validation:{factory}", "--out", str(tmp_path / "r")])
    assert line == f"abair-bench: error: {expected}"


def test_a_plugin_raising_in_its_factory_is_one_line(tmp_path, one_line_error):
    line = one_line_error(RUN + ["--methods", "test_validation:make_broken_init", "--method-arg",
                                 "test_validation:make_broken_init.gain=2", "--out", str(tmp_path / "r")])
    assert line == ("abair-bench: error: method 'test_validation:make_broken_init' could not be created: "
                    "ValueError: gain 2 is not supported")


# ------------------------------------------------------------------ 2. NaN and infinity


@pytest.mark.parametrize("value", ["nan", "NaN", "Infinity", "-inf", "1e999", "[1, NaN]"])
def test_nan_and_infinity_are_refused_in_method_args(tmp_path, one_line_error, value):
    """Formerly nlm.sigma=nan passed and recorded 18.74 dB."""
    line = one_line_error(["run", "--suite", "mini", "--datasets", "mini-denoise-s25", "--limit", "1", "--methods",
                           "nlm", "--method-arg", f"nlm.sigma={value}", "--out", str(tmp_path / "r")])
    assert line == (f"abair-bench: error: --method-arg nlm.sigma={value}: NaN and infinity are not accepted; "
                    "give a finite number")
    assert not (tmp_path / "r").exists()


def test_nan_and_wrong_types_are_refused_in_the_api():
    with pytest.raises(UserError, match=r"^--method-arg nlm\.sigma=nan: NaN and infinity are not accepted"):
        bench.evaluate(["nlm"], ["mini-denoise-s25"], method_args={"nlm": {"sigma": float("nan")}}, limit=1)
    for kwargs, message in [
        ({"limit": float("nan")}, "evaluate: limit must be a whole number >= 1, got nan"),
        ({"tile": float("inf")}, "evaluate: tile must be a whole number >= 1, got inf"),
        ({"tile_overlap": float("nan")}, "evaluate: tile_overlap must be a whole number >= 0, got nan"),
        ({"noise_seeding": "bogus"}, "unknown noise seeding 'bogus'; valid: per-image, promptir"),
        ({"method_args": {"identity": 3}}, "evaluate: method_args['identity'] must be a dict, got 3"),
        ({"dataset_paths": ["x"]}, "evaluate: dataset_paths must be a dict, got ['x']"),
    ]:
        with pytest.raises(UserError) as info:
            bench.evaluate(["identity"], ["mini-derain"], **kwargs)
        assert str(info.value) == message
    for methods in (None, 3):
        with pytest.raises(UserError, match=rf"^evaluate: methods must be a list of names or a comma-separated "
                                            rf"string, got {methods}$"):
            bench.evaluate(methods, ["mini-derain"])


def test_make_report_refuses_an_unknown_option(tmp_path):
    with pytest.raises(UserError, match=r"^unknown make_report option 'nosuch'; valid: .*\btitle\b"):
        bench.make_report(tmp_path, tmp_path / "r.html", nosuch=1)


# ------------------------------------------------------------------ 3. protocols recording one key


def test_two_protocol_specs_recording_one_key_are_refused(tmp_path, one_line_error):
    """Formerly 8 rows with 4 keys: both exact backends record 'allinone-rgb'."""
    line = one_line_error(RUN + ["--methods", "identity", "--protocols", "allinone-rgb@skimage,allinone-rgb@torch",
                                 "--out", str(tmp_path / "r")])
    assert line == ("abair-bench: error: protocols: 'allinone-rgb@skimage' and 'allinone-rgb@torch' both record "
                    "their numbers as protocol 'allinone-rgb' (one record per image and metric); keep one of them")
    assert not (tmp_path / "r").exists()
    assert "'y-bt601' is given twice" in one_line_error(
        RUN + ["--methods", "identity", "--protocols", "y-bt601,y-bt601", "--out", str(tmp_path / "r")])
    with pytest.raises(UserError, match="'allinone-rgb' and 'allinone-rgb@skimage' both record"):
        bench.evaluate(["identity"], ["mini-derain"], ["allinone-rgb", "allinone-rgb@skimage"], limit=1)


# ------------------------------------------------------------------ 4. built-in names


def test_register_refuses_a_builtin_name():
    class Mine(baselines.Method):
        name = "identity"

        def restore(self, batch, context):
            return batch

    with pytest.raises(UserError, match=r"^register\('nlm'\): the name 'nlm' is a built-in method's"):
        baselines.register("nlm")(Mine)
    with pytest.raises(UserError, match=r"^register\('mine'\): the class attribute name 'identity' is a built-in"):
        baselines.register("mine")(Mine)
    with pytest.raises(UserError, match=r"^register\('identity'\)"):
        baselines.register()(Mine)
    assert "nlm" not in baselines.registry.REGISTERED and "mine" not in baselines.registry.REGISTERED


def test_a_plugin_recording_as_a_builtin_is_refused(tmp_path, one_line_error):
    """Formerly a plug-in named 'identity' run alone recorded its outputs as the built-in identity."""
    line = one_line_error(RUN + ["--methods", "test_validation:make_identity_named", "--out", str(tmp_path / "r")])
    assert line == ("abair-bench: error: method 'test_validation:make_identity_named' records its results as "
                    "'identity', the name of a built-in method; give it a name of its own (its 'name' attribute)")
    assert not (tmp_path / "r").exists()
    line = one_line_error(RUN + ["--methods", f"folder:nlm={tmp_path}", "--out", str(tmp_path / "r")])
    assert "records its results as 'nlm', the name of a built-in method" in line and "folder:OTHER=PATH" in line
    baselines.register("v-factory")(make_nlm_named)  # a factory: its method's name is known only when built
    try:
        assert "method 'v-factory' records its results as 'nlm'" in one_line_error(
            RUN + ["--methods", "v-factory", "--out", str(tmp_path / "r")])
    finally:
        baselines.unregister("v-factory")


def test_an_entry_point_recording_as_a_builtin_is_refused(tmp_path, monkeypatch, one_line_error):
    info = tmp_path / "vplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[abair_bench.methods]\nv-entry = test_validation:make_identity_named\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    line = one_line_error(RUN + ["--methods", "v-entry", "--out", str(tmp_path / "r")])
    assert "method 'v-entry' records its results as 'identity', the name of a built-in method" in line


def test_two_plugins_recording_one_name_are_still_refused_naming_both(tmp_path, one_line_error):
    line = one_line_error(RUN + ["--methods", "test_validation:make_numpy,test_validation:make_numpy",
                                 "--out", str(tmp_path / "r")])
    assert "both record their results as 'v-numpy'" in line


# ------------------------------------------------------------------ 6. dataset paths, long values


def test_a_dataset_path_for_a_dataset_the_run_does_not_use_is_refused(tmp_path, one_line_error):
    line = one_line_error(RUN + ["--methods", "identity", "--dataset-path", f"rain100l={tmp_path}",
                                 "--out", str(tmp_path / "r")])
    assert line == (f"abair-bench: error: dataset path rain100l={tmp_path}: 'rain100l' is not a dataset of this "
                    "run (its datasets: mini-derain); leave the path out or add the dataset")
    with pytest.raises(UserError, match="'cbsd68' is not a dataset of this run"):
        bench.evaluate(["identity"], ["mini-derain"], dataset_paths={"cbsd68": str(tmp_path)})


def test_shorten_caps_an_echoed_value():
    assert shorten("short") == "short" and shorten("a\nb") == "a\\nb"
    assert shorten("x" * 100_000) == "x" * 80 + "... (100000 characters)"


@pytest.mark.parametrize("argv", [
    ["--methods", "m" * 100_000],
    ["--methods", "m" * 100_000 + ":make"],
    ["--methods", "test_validation:" + "a" * 100_000],
    ["--methods", "nlm", "--method-arg", "q" * 100_000],
    ["--methods", "nlm", "--method-arg", "z" * 100_000 + ".sigma=1"],
    ["--methods", "nlm", "--method-arg", "nlm." + "o" * 100_000 + "=1"],
    ["--methods", "identity", "--protocols", "p" * 100_000],
    ["--methods", "identity", "--dataset-path", "d" * 100_000 + "=/x"],
])
def test_a_100_kb_value_is_not_echoed_whole(tmp_path, one_line_error, argv):
    line = one_line_error(RUN + argv + ["--out", str(tmp_path / "r")])
    assert len(line) < 500 and "... (100000 characters)" in line, line[:600]


def test_numeric_run_options_refuse_nan(tmp_path, capsys):
    for flag in ("--limit", "--tile", "--tile-overlap", "--batch", "--jobs"):
        with pytest.raises(SystemExit) as exit_info:
            main(RUN + ["--methods", "identity", flag, "nan", "--out", str(tmp_path / "r")])
        assert exit_info.value.code == 2 and f"argument {flag}:" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # the numeric options are integers: argparse refuses nan and inf
