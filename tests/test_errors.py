"""The library's error type: catchable as ValueError, worded without command-line flags."""

import ast
import re
from pathlib import Path

import pytest

from abair.errors import UserError

ABAIR = Path(__file__).resolve().parents[1] / "abair"
SKIP: set[str] = set()
FLAG = re.compile(r"(^|[\s'\"(`])--[a-z]")
COMMAND = re.compile(r"abair-bench\s+(run|report|suite|datasets|methods|protocols|model|train|estimator|profile)\b")


def test_user_error_is_a_value_error():
    from abair.model.presets import adapter_specs

    assert issubclass(UserError, ValueError)
    with pytest.raises(ValueError, match=r"^adapters must be 0\.\.\d+ \(one per degradation class\), got 99$"):
        adapter_specs(adapters=99)


def _message_strings(tree: ast.AST):
    """(line, text) of every string literal inside a UserError(...) or unknown_name(...) call."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in (
                "UserError", "unknown_name"):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    yield sub.lineno, sub.value


def test_library_messages_name_no_command_line_flag_or_command():
    offenders = []
    for path in sorted(ABAIR.rglob("*.py")):
        if SKIP & set(path.relative_to(ABAIR).parts):
            continue
        for line, text in _message_strings(ast.parse(path.read_text(encoding="utf-8"))):
            if FLAG.search(text) or COMMAND.search(text):
                offenders.append(f"{path.relative_to(ABAIR.parent)}:{line}: {text!r}")
    assert not offenders, "\n".join(offenders)
