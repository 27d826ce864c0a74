"""``abair-bench methods list [--json]``: every method with its task and what it needs.

Reads :func:`bench.methods.list_methods` (the registry plus installed ``abair_bench.methods`` entry
points); imports nothing heavy, so it answers instantly.
"""

from __future__ import annotations

SYNTAX_NOTE = (
    "also: folder:NAME=/path (score precomputed outputs, /path/<dataset>/<image_id>.png), "
    "module:callable (any factory returning a Method), spandrel:/path/model.pth; "
    "options: --method-arg METHOD.KEY=VALUE"
)


def add_parser(sub) -> None:
    p = sub.add_parser("methods", help="list the restoration methods (task, what they need)")
    msub = p.add_subparsers(dest="methods_command", metavar="SUBCOMMAND")
    ls = msub.add_parser("list", help="every method with its task and what it needs (weights or none)")
    ls.add_argument("--json", action="store_true", help="print a JSON list of objects instead of a table")
    ls.set_defaults(func=list_command)
    p.set_defaults(func=list_command, json=False)


def format_table(rows: list[dict]) -> str:
    """Rows ``{name, task, needs, summary}`` -> an aligned text table (header, one line per method)."""
    columns = ("name", "task", "needs", "summary")
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(c.upper())] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(widths[i]) for i, c in enumerate(columns[:-1])) + "  SUMMARY"]
    for r in cells:
        lines.append("  ".join(r[i].ljust(widths[i]) for i in range(len(columns) - 1)) + "  " + r[-1])
    return "\n".join(lines)


def list_command(args) -> int:
    import json

    from bench.methods import list_methods

    rows = list_methods()
    if getattr(args, "json", False):
        print(json.dumps(rows, indent=2))
        return 0
    print(format_table(rows))
    print()
    print(SYNTAX_NOTE)
    return 0
