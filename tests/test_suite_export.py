"""``suite export`` writes file names that come from the project, never paths that come from data."""

from __future__ import annotations

from bench.commands.suite import export_name


def test_plain_and_nested_ids_are_kept():
    assert export_name("astronaut-r0c0") == "astronaut-r0c0"
    assert export_name("train/0001") == "train/0001"


def test_hostile_ids_become_one_safe_name():
    for image_id in ("../../../x", "/abs/x", "a/../b", ".hidden", "x" * 300, "a//b", "sub/..", "é/x"):
        name = export_name(image_id)
        assert "/" not in name and not name.startswith(".") and len(name) <= 120, (image_id, name)
    assert export_name("../x") != export_name("../y")  # distinct ids never share a file
