"""The method registry: every name ``abair-bench run --methods`` accepts.

Three ways to get a method:

- a registered name (``identity``, ``abair-sw``, ``nlm``, ``restormer`` ...), see ``abair-bench methods list``;
- ``module:callable`` (any importable factory returning a :class:`baselines.base.Method`);
- a third-party package's entry point in the group ``abair_bench.methods``.

Options reach the factory as keyword arguments from ``--method-arg NAME.key=value`` (see
:mod:`bench.method_args`); an option the factory does not take is refused with a did-you-mean.
"""

from __future__ import annotations

import inspect
from importlib import metadata
from typing import Any

from abair.errors import UserError, did_you_mean, shorten

from .registry import Registry, import_target

ENTRY_POINT_GROUP = "abair_bench.methods"

METHODS = Registry("method", "abair-bench methods list")
METHODS.register(
    "identity", "baselines.identity:make", task="any", needs="none",
    summary="returns the degraded input; the floor every table shows",
)
# the ABAIR variants (bench/abair_methods.py): one checkpoint, six blending modes
for _name, _factory, _summary in (
    ("abair-oh", "make_oh", "ABAIR one-hot: the estimator's arg-max adapter per image"),
    ("abair-sw", "make_sw", "ABAIR soft weights: adapters blended by the estimator's probabilities"),
    ("abair-oracle", "make_oracle", "ABAIR with the known degradation's adapter(s): the upper bound"),
    ("abair-sum", "make_sum", "ABAIR with all adapters summed (Table 8)"),
    ("abair-avg", "make_avg", "ABAIR with all adapters averaged (Table 8)"),
    ("abair-backbone", "make_backbone", "the pre-trained ABAIR backbone alone, no adapter"),
):
    METHODS.register(_name, f"bench.abair_methods:{_factory}", task="all-in-one",
                     needs="checkpoint (embedded default)", summary=_summary)
# published methods ported here (one folder each under baselines/published/, registry baselines.ports),
# run from the authors' released checkpoints; those without named variants are registered names
from baselines.ports import ports as _ports  # noqa: E402 - after the ABAIR names, as methods list shows them

for _port in _ports():
    if not _port.variants:
        METHODS.register(_port.name, _port.factory, task="all-in-one", needs=_port.needs_line, summary=_port.summary)

#: ``PREFIX:<argument>`` method names: the factory is called as ``factory(argument, **options)``; the ported
#: methods with named variants (mprnet, mprnet:deblur, ...: the variant may be empty) come from their ports
PREFIX_METHODS: dict[str, str] = {
    "spandrel": "baselines.published:make_spandrel",
    "folder": "baselines.folder:make_from_spec",  # folder:NAME=/path, precomputed outputs
    **{p.name: p.factory for p in _ports() if p.variants},
}
#: the method name (in the records) of ``PREFIX:<argument>``, known before the method is built
PREFIX_RECORD_NAMES: dict[str, str] = {
    "spandrel": "baselines.published:spandrel_record_name",
    "folder": "baselines.folder:record_name",
    **{p.name: p.record_name for p in _ports() if p.variants},
}

# classical restorers (no weights; see baselines/classical and docs/METHODS.md)
for _name, _target, _task, _needs, _summary in (
    ("nlm", "nlm:make", "denoise", "none", "non-local means (scikit-image), strength from the estimated sigma"),
    ("bm3d", "bm3d_denoise:make", "denoise", "none (the optional bm3d package)", "BM3D colour denoising (slow)"),
    ("dcp", "dcp:make", "dehaze", "none", "dark channel prior + guided-filter transmission (He et al.)"),
    ("wiener-ml", "wiener_ml:make", "deblur", "none",
     "semi-blind: Gaussian/disk/linear-motion blur picked by maximum likelihood, Wiener deconvolution"),
    ("motion-deblur", "motion_deblur:make", "deblur", "none",
     "blind camera shake: L0 alternating kernel estimate, curve-projected, checked, hyper-Laplacian deconvolution"),
    ("lime", "lime:make", "lowlight", "none", "LIME: max-RGB illumination map, structure-aware smoothing, gamma"),
    ("derain-guided", "derain_guided:make", "derain", "none",
     "removes thin achromatic bright streaks (oriented opening residual), guided-filter refined"),
    ("deblock", "deblock:make", "jpeg", "none",
     "re-application of JPEG at 64 shifted grids, quality estimated blindly (Nosratinia 2001)"),
    ("dequant", "dequant:make", "bitdepth", "none", "smoothing within quantisation bands, projected onto the cells"),
    ("desnow-median", "desnow_median:make", "desnow", "none",
     "bright-flake detection (opening residual), median fill, veil removal"),
):
    METHODS.register(_name, f"baselines.classical.{_target}", task=_task, needs=_needs, summary=_summary)


def builtin_names() -> set[str]:
    """The names of the methods this project ships: the registered ones and the ``PREFIX`` of each
    ``PREFIX:<argument>`` family but ``folder`` (whose records take the name the user gives). No
    plug-in, ``baselines.register`` or ``folder:NAME=...`` may record its results under one of them."""
    return set(METHODS.names()) | {prefix for prefix in PREFIX_METHODS if prefix != "folder"}


def _is_builtin_source(name: str) -> bool:
    """Whether ``--methods NAME`` builds one of this project's own methods (not a plug-in or a folder)."""
    prefix = name.partition(":")[0]
    return name in METHODS or (prefix in PREFIX_METHODS and prefix != "folder")


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def list_methods() -> list[dict[str, Any]]:
    """One row per known method (registered, then entry points) for ``methods list``."""
    from baselines.registry import REGISTERED

    rows = [{"name": e.name, **e.meta} for e in (METHODS.entry(n) for n in METHODS.names())]
    rows = _with_published(rows)
    rows += [{"name": n, **r.meta} for n, r in sorted(REGISTERED.items()) if n not in METHODS]
    for name, ep in sorted(_entry_points().items()):
        if name not in METHODS and name not in REGISTERED:
            rows.append({"name": name, "task": "?", "needs": "?", "summary": f"plug-in {ep.value}"})
    return rows


def _with_published(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The paper tables of each published baseline on its row, and its named variants as rows of their own
    (after the last published method already registered)."""
    from baselines.catalog import variant_rows

    by_name = {row["name"]: row for row in rows}
    extra, last = [], -1
    for row in variant_rows():
        if row["name"] in by_name:
            by_name[row["name"]]["tables"] = row["tables"]
            last = max(last, rows.index(by_name[row["name"]]))
        else:
            extra.append(row)
    return rows[:last + 1] + extra + rows[last + 1:]


def record_name(name: str) -> str | None:
    """The method name the records of ``--methods NAME`` carry, when known without building the method:
    ``NAME`` for a registered method, ``theirs`` for ``folder:theirs=/x``, ``spandrel:x.pth`` for
    ``spandrel:/w/x.pth``; None for ``module:callable`` and entry points (their ``name`` attribute)."""
    prefix, _, argument = name.partition(":")
    if prefix in PREFIX_RECORD_NAMES:
        try:
            return import_target(PREFIX_RECORD_NAMES[prefix])(argument)
        except UserError:
            return None  # a malformed spec: creating the method says what is wrong
    from baselines.registry import REGISTERED

    return name if name in METHODS or name in REGISTERED else None


def _factory(name: str):
    prefix, _, argument = name.partition(":")
    if prefix in PREFIX_METHODS:
        from functools import partial

        return partial(import_target(PREFIX_METHODS[prefix]), argument)
    if name in METHODS:
        return METHODS.load(name)
    if ":" in name:
        return import_target(name)
    from baselines.registry import REGISTERED

    if name in REGISTERED:
        return REGISTERED[name].factory
    eps = _entry_points()
    if name in eps:
        return eps[name].load()
    METHODS.entry(name)  # raises the did-you-mean UserError
    raise AssertionError("unreachable")


def factory_options(factory) -> list[str] | None:
    """The keyword options a factory takes, or None when it takes any (``**options``) or cannot be inspected."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]


def _check_options(name: str, factory, options: dict[str, Any]) -> None:
    accepted = factory_options(factory)
    if accepted is None:
        return
    for option in options:
        if option not in accepted:
            takes = f"its options: {', '.join(accepted)}" if accepted else "it takes no option"
            raise UserError(f"method '{shorten(name)}' has no option '{shorten(option)}'"
                            f"{did_you_mean(option, accepted)}; {takes}")


def create_method(name: str, **options: Any):
    """Instantiate a method by registry name, ``module:callable`` or entry point.

    A factory that raises is one :class:`UserError` line naming the method and the exception; a
    plug-in (or ``folder:NAME=...``) whose records would carry a built-in method's name is refused.
    """
    factory = _factory(name)
    _check_options(name, factory, options)
    try:
        method = factory(**options)
    except UserError:
        raise
    except TypeError as exc:
        raise UserError(f"method '{shorten(name)}': bad options {shorten(sorted(options))}: {shorten(exc, 300)}") \
            from None
    except Exception as exc:  # a plug-in's __init__ failing: one line, not a traceback
        raise UserError(f"method '{shorten(name)}' could not be created: {type(exc).__name__}: "
                        f"{shorten(exc, 300)}") from exc
    if not hasattr(method, "restore"):
        raise UserError(f"'{shorten(name)}' did not return a method (an object with .restore), got "
                        f"{type(method).__name__}")
    if ":" in name or name not in METHODS:
        current = getattr(method, "name", None)
        method.name = name if current in (None, "", "method") else current
    if not _is_builtin_source(name) and method.name in builtin_names():
        how = "folder:OTHER=PATH" if name.startswith("folder:") else "its 'name' attribute"
        raise UserError(f"method '{shorten(name)}' records its results as '{method.name}', the name of a built-in "
                        f"method; give it a name of its own ({how})")
    return method


def factory_accepts(name: str, option: str) -> bool:
    """Whether the registered factory of ``name`` takes the keyword ``option`` (e.g. ``checkpoint``)."""
    if name not in METHODS:
        return False
    return option in (factory_options(METHODS.load(name)) or ())


def _reserve_builtin_names() -> None:
    from baselines.registry import reserve

    reserve(builtin_names)


_reserve_builtin_names()
