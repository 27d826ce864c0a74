"""Each published port equals its AUTHORS' network: fixtures made from their code (tests/fixtures/parity/).

Every fixture folder holds a reduced configuration of the authors' network with seeded random weights, saved
in the checkpoint layout their test script loads, one odd-sized input and the output of the authors' own code
through their test pipeline (made by tools/parity/make_fixtures.py at the commit in its ``meta.json``). Here
the file is loaded through the registered method, the input restored as a run restores it (the harness's
padding to ``multiple_of``, the method, the crop) and compared with the authors' output to the fixture's
tolerance (absolute, relative to max(1, |output|)). A second test changes one element of one weight of the
loaded network by 1e-3 and checks that the comparison then fails, so a port that drifts from the authors'
function cannot pass. Where a fixture's ``meta.json`` names an ``encoder`` (DA-CLIP: its embeddings, the
network's conditioning, move x_0 too little to show a one-weight change of the encoder), the port's encoder
outputs (``pipeline.encode`` of the input) are compared with the authors' the same way, and each listed encoder
weight, changed by 1e-3, must make that comparison fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

FIXTURES = Path(__file__).parent / "fixtures" / "parity"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "meta.json").is_file()) if FIXTURES.is_dir() else []
PERTURBATION = 1e-3


def _fixture(name: str) -> tuple[dict, dict]:
    from safetensors.torch import load_file

    folder = FIXTURES / name
    return json.loads((folder / "meta.json").read_text()), load_file(str(folder / "io.safetensors"))


def _method(name: str, meta: dict):
    from bench.methods import create_method

    if meta["method"].partition(":")[0] == "mprnet":
        pytest.importorskip("spandrel_extra_arches")
    files = {option: str(FIXTURES / name / file) for option, file in meta.get("file_options", {}).items()}
    return create_method(meta["method"], checkpoint=str(FIXTURES / name / meta["checkpoint"]), **meta["options"],
                         **files)


def _restore(method, batch):
    from baselines.base import RestoreContext
    from bench.padding import restore_padded

    context = RestoreContext(dataset="parity", task="any", image_ids=("parity",))
    with torch.no_grad():
        return restore_padded(method, batch, context)


def _error(out, reference) -> float:
    """Largest absolute difference, relative to max(1, largest |reference|)."""
    assert out.shape == reference.shape, f"shape {tuple(out.shape)} vs the authors' {tuple(reference.shape)}"
    return float((out - reference).abs().max()) / max(1.0, float(reference.abs().max()))


def _networks(obj, depth: int = 2):
    """The torch modules a method holds (its attributes, and theirs: DA-CLIP's pipeline holds its networks)."""
    found = []
    for value in vars(obj).values():
        if isinstance(value, torch.nn.Module):
            found.append(value)
        elif depth > 1 and hasattr(value, "__dict__") and not isinstance(value, type):
            found += _networks(value, depth - 1)
    return found


def _perturb(method, name: str, weight: str) -> None:
    """Add PERTURBATION to the first element of the parameter ``weight`` of the method's networks."""
    params = [dict(net.named_parameters()) for net in _networks(method)]
    found = [p[weight] for p in params if weight in p]
    assert found, f"{name}: no network of the method has the parameter {weight}"
    with torch.no_grad():
        found[0].view(-1)[0] += PERTURBATION


def _encoder_error(method, meta: dict, tensors: dict) -> float:
    """The larger error of the port's encoder outputs (its pipeline's ``encode`` of the input, in the order
    ``meta["encoder"]["outputs"]`` names the authors' tensors)."""
    outputs = method.pipeline.encode(tensors["input"])
    return max(_error(out, tensors[key]) for out, key in zip(outputs, meta["encoder"]["outputs"], strict=True))


def test_every_port_has_a_fixture():
    from baselines.ports import ports

    metas = [json.loads((FIXTURES / n / "meta.json").read_text()) for n in NAMES]
    names = {meta["method"].partition(":")[0] for meta in metas}
    assert names == {"restormer", "promptir", "airnet", "mprnet", "uformer", "x-restormer", "idr", "diffuir",
                     "daclip"}
    assert names <= {p.name for p in ports()}
    # both LayerNorm kinds of the Restormer releases (deraining/deblurring WithBias, denoising BiasFree)
    assert {m["config"]["LayerNorm_type"] for m in metas if m["method"] == "restormer"} == {"WithBias", "BiasFree"}


@pytest.mark.parametrize("name", NAMES)
def test_parity_with_authors_code(name):
    meta, tensors = _fixture(name)
    out = _restore(_method(name, meta), tensors["input"])
    err = _error(out, tensors["output"])
    assert err <= meta["tolerance"], f"{name}: {err:.3g} from the authors' output (tolerance {meta['tolerance']})"


@pytest.mark.parametrize("name", [n for n in NAMES if "noise_seed" in _fixture(n)[0]])
def test_sampler_fixture_holds_the_ports_draws(name):
    """A sampler's fixture ran the authors' sampler on the draws the port makes for the test's image (the
    documented per-image seed rule), so the comparison above covers the sampling too."""
    from abair.degradations import seed_from_string

    meta, tensors = _fixture(name)
    noise = tensors["noise"]
    g = torch.Generator().manual_seed(seed_from_string(*meta["noise_seed"]))
    assert torch.equal(torch.stack([torch.randn(tuple(noise.shape[1:]), generator=g) for _ in noise]), noise)


@pytest.mark.parametrize("name", NAMES)
def test_parity_fails_when_one_weight_changes(name):
    meta, tensors = _fixture(name)
    method = _method(name, meta)
    _perturb(method, name, meta["perturb"])
    err = _error(_restore(method, tensors["input"]), tensors["output"])
    assert err > meta["tolerance"], f"{name}: changing {meta['perturb']} by {PERTURBATION} went unnoticed"


ENCODED = [n for n in NAMES if "encoder" in _fixture(n)[0]]


@pytest.mark.parametrize("name", ENCODED)
def test_encoder_parity_with_authors_code(name):
    meta, tensors = _fixture(name)
    err = _encoder_error(_method(name, meta), meta, tensors)
    assert err <= meta["tolerance"], f"{name}: encoder {err:.3g} from the authors' (tolerance {meta['tolerance']})"


@pytest.mark.parametrize(("name", "weight"), [(n, w) for n in ENCODED for w in _fixture(n)[0]["encoder"]["perturb"]])
def test_encoder_parity_fails_when_one_encoder_weight_changes(name, weight):
    meta, tensors = _fixture(name)
    method = _method(name, meta)
    _perturb(method, name, weight)
    err = _encoder_error(method, meta, tensors)
    assert err > meta["tolerance"], f"{name}: changing {weight} by {PERTURBATION} went unnoticed in the encoder"
