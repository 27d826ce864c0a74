"""Sweep specs: which degradations, at which explicit parameters, make the points of a sweep.

A spec is a YAML mapping (``bench/data/sweeps/<name>.yaml`` for the shipped ``default`` and ``smoke``,
or any file)::

    images: 8                  # clean images per point (evenly spaced over the source; omit: all)
    axes:                      # one severity axis per entry: one operator, one parameter, its values
      - {operator: noise, param: sigma, values: [5, 15, 25, 50, 75]}
      - {operator: blur, param: size, values: [7, 15, 27], fixed: {kind: motion}}
    compositions:              # 2 or 3 steps joined by '+', applied in every order
      - blur(kind=motion,size=11) + noise(sigma=25)

A **point** is an ordered list of steps ``operator(param=value,...)``; its dataset name is
``sweep:`` plus the steps joined by ``+`` (``sweep:noise(sigma=35)``,
``sweep:blur(kind=motion,size=11)+noise(sigma=25)``). Parameters a step does not name are drawn per
image from the operator's documented range, from the image's generator (as the mini suite does), so
a point is fully reproducible from its name, the image and the seed
``seed_from_string("sweep", point name, image id)``. Units and allowed ranges are the operators'
own (``abair.degradations.<operator>``): noise ``sigma`` in 8-bit units, blur ``size``/``radius`` in
pixels, JPEG ``quality`` 1..100, ``bits`` 1..8, densities as fractions of pixels.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abair.errors import UserError, did_you_mean

PREFIX = "sweep:"
SHIPPED = ("default", "smoke")
#: (operator, parameter) whose larger values are the milder degradation: plots run from mild to severe
MILDER_WHEN_LARGER = {("jpeg", "quality"), ("bitdepth", "bits"), ("lowlight", "factor")}
_STEP = re.compile(r"^([a-z]+)(?:\((.*)\))?$")
MAX_STEPS = 3


def format_value(value: Any) -> str:
    """A parameter value as it appears in a point name: ``35.0`` -> ``35``, ``0.002`` -> ``0.002``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return format(value, ".6g") if isinstance(value, float) else str(value)


def _parse_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@dataclass(frozen=True)
class Step:
    """One operator with its explicit parameters (the rest drawn per image from its documented range)."""

    operator: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        inner = ",".join(f"{k}={format_value(v)}" for k, v in self.params)
        return f"{self.operator}({inner})" if inner else self.operator

    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True)
class Point:
    """One sweep point: its steps in order, and for a single-operator axis the axis and level."""

    steps: tuple[Step, ...]
    axis: str | None = None  # "noise sigma", "blur size (kind=motion)"
    param: str | None = None
    level: float | None = None

    @property
    def name(self) -> str:
        return PREFIX + "+".join(s.name for s in self.steps)

    @property
    def operators(self) -> tuple[str, ...]:
        return tuple(s.operator for s in self.steps)

    @property
    def composition(self) -> str | None:
        """``"blur+noise"``: the operators in this order, for points of a composition (else None)."""
        return "+".join(self.operators) if self.axis is None else None

    @property
    def family(self) -> str | None:
        """The operators in sorted order (``"blur+noise"`` for both orders), for compositions."""
        return "+".join(sorted(self.operators)) if self.axis is None else None

    def describe(self) -> dict[str, Any]:
        """What the manifest's dataset entry holds under ``sweep``."""
        return {"point": self.name, "steps": [{"operator": s.operator, "params": s.kwargs()} for s in self.steps],
                "axis": self.axis, "param": self.param, "level": self.level, "composition": self.composition,
                "family": self.family}


@dataclass
class SweepSpec:
    """A parsed spec: its name (or file), image count and points in a fixed order."""

    name: str
    images: int | None
    points: list[Point] = field(default_factory=list)


def parse_step(text: str, where: str) -> Step:
    """``"blur(kind=motion,size=11)"`` -> :class:`Step` (UserError naming ``where`` when malformed)."""
    match = _STEP.match(str(text).replace(" ", ""))
    if not match:
        raise UserError(f"{where}: '{text}' is no step; write OPERATOR(param=value,...), e.g. noise(sigma=25)")
    params = []
    for item in filter(None, (match.group(2) or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UserError(f"{where}: '{item}' in '{text}' must look like param=value")
        params.append((key, _parse_value(value)))
    return Step(match.group(1), tuple(params))


def parse_point_name(name: str) -> list[Step]:
    """The steps of a point's dataset name (``sweep:a(x=1)+b(y=2)``), the inverse of :attr:`Point.name`."""
    return [parse_step(part, name) for part in name[len(PREFIX):].split("+")]


def _check_step(step: Step, where: str) -> None:
    """One line when the operator or a parameter is unknown or a value out of its allowed range."""
    import inspect

    import torch

    from abair.degradations import DEGRADATIONS, apply, get_operator

    if step.operator not in DEGRADATIONS:
        raise UserError(f"{where}: unknown degradation '{step.operator}'{did_you_mean(step.operator, DEGRADATIONS)}; "
                        f"valid: {', '.join(DEGRADATIONS)}")
    known = [p for p in inspect.signature(get_operator(step.operator)).parameters if p not in ("image", "generator")]
    for key, _value in step.params:
        if key not in known:
            raise UserError(f"{where}: the {step.operator} operator has no parameter '{key}'"
                            f"{did_you_mean(key, known)}; its parameters: {', '.join(known)}")
    try:
        apply(step.operator, torch.full((3, 32, 32), 0.5, dtype=torch.float64), 0, **step.kwargs())
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None


def _check_keys(entry: Any, keys: tuple[str, ...], where: str) -> None:
    """One line when ``entry`` is no mapping or holds a key outside ``keys``."""
    if not isinstance(entry, dict):
        raise UserError(f"{where} must be a mapping with keys {', '.join(keys)}")
    unknown = set(entry) - set(keys)
    if unknown:
        raise UserError(f"{where} has unknown key(s) {', '.join(sorted(map(str, unknown)))}; keys: {', '.join(keys)}")


def _axis_points(entry: Any, where: str) -> list[Point]:
    _check_keys(entry, ("operator", "param", "values", "fixed"), where)
    for key in ("operator", "param", "values"):
        if key not in entry:
            raise UserError(f"{where} has no '{key}'")
    operator, param, values = str(entry["operator"]), str(entry["param"]), entry["values"]
    fixed = entry.get("fixed") or {}
    if not isinstance(values, list) or not values:
        raise UserError(f"{where}: values must be a non-empty list of numbers")
    if not isinstance(fixed, dict):
        raise UserError(f"{where}: fixed must be a mapping param: value")
    if param in fixed:
        raise UserError(f"{where}: '{param}' is both the swept param and in fixed")
    if len(set(map(float, (v for v in values if isinstance(v, (int, float)))))) != len(values):
        raise UserError(f"{where}: values must be distinct numbers, got {values}")
    axis = f"{operator} {param}" + (f" ({','.join(f'{k}={format_value(v)}' for k, v in fixed.items())})"
                                    if fixed else "")
    points = []
    for value in values:
        step = Step(operator, (*((str(k), v) for k, v in fixed.items()), (param, value)))
        _check_step(step, where)
        points.append(Point((step,), axis=axis, param=param, level=float(value)))
    return points


def _composition_points(entry: Any, where: str) -> list[Point]:
    if isinstance(entry, str):
        entry = entry.split("+")
    if not isinstance(entry, list) or not 2 <= len(entry) <= MAX_STEPS:
        raise UserError(f"{where} must be 2 or {MAX_STEPS} steps joined by '+', e.g. "
                        "blur(kind=motion,size=11) + noise(sigma=25)")
    steps = [parse_step(item, where) for item in entry]
    operators = [s.operator for s in steps]
    if len(set(operators)) != len(operators):
        raise UserError(f"{where}: each operator may appear once, got {'+'.join(operators)}")
    for step in steps:
        _check_step(step, where)
    return [Point(tuple(order)) for order in itertools.permutations(steps)]


def parse_spec(data: Any, name: str) -> SweepSpec:
    """A spec from parsed YAML (see the module docstring); one-line UserError naming ``name`` and the entry."""
    _check_keys(data, ("images", "axes", "compositions", "description"), f"sweep spec {name}")
    images = data.get("images")
    if images is not None and (isinstance(images, bool) or not isinstance(images, int) or images < 1):
        raise UserError(f"sweep spec {name}: images must be a positive number of images, got {images!r}")
    axes, comps = data.get("axes") or [], data.get("compositions") or []
    if not isinstance(axes, list) or not isinstance(comps, list):
        raise UserError(f"sweep spec {name}: 'axes' and 'compositions' must be lists")
    points: list[Point] = []
    for i, entry in enumerate(axes, 1):
        points += _axis_points(entry, f"sweep spec {name}: axes entry {i}")
    for i, entry in enumerate(comps, 1):
        points += _composition_points(entry, f"sweep spec {name}: compositions entry {i}")
    if not points:
        raise UserError(f"sweep spec {name} defines no point; give 'axes' or 'compositions'")
    seen: dict[str, int] = {}
    for point in points:
        if point.name in seen:
            raise UserError(f"sweep spec {name} names the point {point.name} twice; remove one")
        seen[point.name] = 1
    return SweepSpec(name, images, points)


def load_spec(spec: str) -> SweepSpec:
    """A shipped spec by name (``default``, ``smoke``) or a YAML file; one-line UserError otherwise."""
    import yaml

    if spec in SHIPPED:
        from importlib import resources

        text = resources.files("bench").joinpath(f"data/sweeps/{spec}.yaml").read_text(encoding="utf-8")
        return parse_spec(yaml.safe_load(text), spec)
    path = Path(spec)
    if not path.is_file():
        hint = did_you_mean(spec, SHIPPED)
        raise UserError(f"--spec '{spec}' is neither a shipped spec ({', '.join(SHIPPED)}){hint} nor a YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read sweep spec {path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"sweep spec {path}{where} is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse_spec(data, str(path))
