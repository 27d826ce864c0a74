"""The contract every published port keeps, parametrized over the registry (baselines.ports) and the parity
fixtures (tests/fixtures/parity/<name>/: a reduced network of the authors' code in their file format).

For each port with a fixture: its file loads through the registered name; a file with one key missing, one
extra or one of another shape is refused in one line saying so; another port's file is refused in one line;
a variant that does not exist is refused (ports with named variants); the run config records the authors'
test pipeline (what the manifest stores). For every port: its profile configuration is registered with the
port's summary and builds the registered method.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abair.errors import UserError
from baselines.ports import port, ports

torch = pytest.importorskip("torch")

FIXTURES = Path(__file__).parent / "fixtures" / "parity"


def _fixtures() -> dict[str, dict]:
    """Port name -> the fixture's meta.json (with its folder)."""
    found = {}
    for meta_file in sorted(FIXTURES.glob("*/meta.json")) if FIXTURES.is_dir() else ():
        meta = json.loads(meta_file.read_text())
        found[meta["method"].partition(":")[0]] = {**meta, "folder": meta_file.parent}
    return found


FIXTURE = _fixtures()
WITH_FIXTURE = sorted(n for n in FIXTURE if port(n) is not None)


def _create(name: str, checkpoint: Path, method: str | None = None):
    from bench.methods import create_method

    meta = FIXTURE[name]
    if name == "mprnet":
        pytest.importorskip("spandrel_extra_arches")
    files = {option: str(meta["folder"] / file) for option, file in meta.get("file_options", {}).items()}
    return create_method(method or meta["method"], checkpoint=str(checkpoint), **meta["options"], **files)


def _state_dict(name: str) -> dict:
    """The fixture's network tensors as a bare state dict (every port's loader reads one)."""
    from baselines.archs.loading import find_state_dict, read_checkpoint, strip_common_prefix

    path = FIXTURE[name]["folder"] / FIXTURE[name]["checkpoint"]
    state = strip_common_prefix(find_state_dict(read_checkpoint(path), path))
    if name == "diffuir":  # the network of the trainer file's model (its schedule buffers are not read)
        state = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.unet0.")}
    return state


def _refusal(name: str, path: Path) -> str:
    with pytest.raises(UserError) as caught:
        _create(name, path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.mark.parametrize("name", WITH_FIXTURE)
def test_the_fixture_file_loads_as_a_bare_state_dict(name, tmp_path):
    path = tmp_path / "bare.pth"
    torch.save(_state_dict(name), path)
    assert _create(name, path).name == FIXTURE[name]["method"]


@pytest.mark.parametrize("name", WITH_FIXTURE)
@pytest.mark.parametrize("change", ["missing", "extra", "shape"])
def test_strict_keys_refuse_one_wrong_tensor_in_one_line(name, change, tmp_path):
    state = _state_dict(name)
    # the last weight: the configuration is read from the first tensors, a change there reads as another size
    key = [k for k, v in state.items() if v.ndim >= 1 and v.numel() > 1 and k.endswith(".weight")][-1]
    extra = f"{key.partition('.')[0]}.extra_layer.weight"
    if change == "missing":
        del state[key]
    elif change == "extra":
        state[extra] = torch.zeros(2)
    else:
        state[key] = torch.zeros(*state[key].shape[:-1], state[key].shape[-1] + 1)
    path = tmp_path / f"{change}.pth"
    torch.save(state, path)
    message = _refusal(name, path)
    expected = {"missing": f"1 missing keys (e.g. {key})", "extra": "1 unexpected keys (e.g. ",
                "shape": f"1 keys with another shape (e.g. {key}: file"}[change]
    assert expected in message and (change != "extra" or "extra_layer.weight" in message)


class _CountAllocations:
    """Elements of the tensors created off the meta device while active (a torch dispatch mode)."""

    def __enter__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                if func.overloadpacket in (torch.ops.aten.empty, torch.ops.aten.empty_strided) and out.device.type != "meta":
                    counter.elements += out.numel()
                return out

        self.elements, self._mode = 0, Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        self._mode.__exit__(*exc)


@pytest.mark.parametrize("name", WITH_FIXTURE)
def test_another_ports_file_is_refused_in_one_line(name):
    other = next(n for n in WITH_FIXTURE if n != name and n != "diffuir")  # a file of a checkpoint port
    with _CountAllocations() as allocated:
        message = _refusal(name, FIXTURE[other]["folder"] / FIXTURE[other]["checkpoint"])
    assert port(name).display in message
    # the keys are compared on a network built on the meta device: the released-size network the refusal
    # compares with (millions of weights) is never allocated
    assert allocated.elements < 100_000, allocated.elements


@pytest.mark.parametrize("name", sorted(p.name for p in ports() if p.variants))
def test_a_variant_that_does_not_exist_is_refused(name, tmp_path):
    from bench.methods import create_method

    with pytest.raises(UserError, match=rf"^'{name}:nope' is not a variant of {name}\b.*; its variants: {name}:"):
        create_method(f"{name}:nope", checkpoint=str(tmp_path / "x.pth"))


@pytest.mark.parametrize("name", WITH_FIXTURE)
def test_the_run_config_records_the_authors_test_pipeline(name):
    meta = FIXTURE[name]
    pipeline = _create(name, meta["folder"] / meta["checkpoint"]).config()["pipeline"]
    assert {"pad", "crop", "clip", "colour", "range", "source"} <= set(pipeline)
    assert pipeline["source"].startswith(port(name).upstream.split("/")[0])


@pytest.mark.parametrize("name", sorted(p.name for p in ports()))
def test_the_profile_configuration_is_the_ports(name):
    from bench.profile.configs import CONFIGS

    assert CONFIGS[name].family == "baseline" and CONFIGS[name].summary == port(name).profile


@pytest.mark.parametrize("name", sorted(p.name for p in ports()))
def test_the_profile_builds_the_registered_method(name):
    """At the main release's size (DA-CLIP's 0.9 GB), so in a process of its own (tests/isolated.py)."""
    from isolated import run_isolated

    if name == "mprnet":
        pytest.importorskip("spandrel_extra_arches")
    result = run_isolated("from baselines.published import profile_method\n"
                          f"method = profile_method({name!r})\n"
                          "result = {'name': method.name, 'restore': callable(getattr(method, 'restore', None))}\n")
    assert result["name"] == name and result["restore"] is True
