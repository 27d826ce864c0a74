"""``abair-bench methods list [--json]`` and ``abair-bench methods info NAME``.

``list``: every method with its task, the paper tables it appears in and what it needs, then the
paper's baselines that cannot run here (scored from their outputs through ``folder:``).
``info``: one method in full; for a published baseline its parameter count, variants and their
tasks, checkpoint format, size requirement, test pipeline and what its forward was checked against.

Reads :func:`bench.methods.list_methods` and :mod:`baselines.catalog`; imports nothing heavy, so it
answers instantly.
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
    info = msub.add_parser("info", help="one method in full: parameters, variants, checkpoint format, size, pipeline")
    info.add_argument("name", help="a method (restormer, mprnet, mprnet:deblur, ...) or a paper baseline (IDR, DL, ...)")
    info.set_defaults(func=info_command)
    p.set_defaults(func=list_command, json=False)


def format_table(rows: list[dict]) -> str:
    """Rows ``{name, task, tables, needs, summary}`` -> an aligned text table (header, one line per method)."""
    columns = ("name", "task", "tables", "needs", "summary")
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
    print(not_runnable_note())
    print()
    print(SYNTAX_NOTE)
    return 0


def not_runnable_note() -> str:
    """The paper's baselines that no ``--methods`` name runs, each with why (and ``folder:`` for its rows)."""
    from baselines.catalog import entries

    lines = ["paper baselines scored from their outputs only (abair-bench methods info NAME):"]
    for entry in entries().values():
        if entry.method is None:
            lines.append(f"  {entry.display} (tables {','.join(entry.tables)}): {entry.why_not.split(';')[0]}")
    return "\n".join(lines)


def info_lines(name: str) -> list[str]:
    """What ``methods info NAME`` prints; a UserError (with a suggestion) for an unknown name."""
    from abair.errors import UserError, did_you_mean
    from baselines.catalog import entries, published
    from bench.methods import list_methods

    entry = published(name)
    rows = {row["name"]: row for row in list_methods()}
    if entry is None:
        if name not in rows:
            known = list(rows) + [p.display for p in entries().values()]
            raise UserError(f"unknown method '{name}'{did_you_mean(name, known)}; see 'abair-bench methods list'")
        row = rows[name]
        return [f"{name}: {row.get('summary', '')}", f"  task: {row.get('task', '?')}", f"  needs: {row.get('needs', '?')}"]
    variant = name.partition(":")[2]
    if variant and variant not in entry.variants:
        known = ", ".join(f"{entry.method}:{v}" for v in entry.variants) or "none"
        raise UserError(f"'{name}' is not a variant of {entry.method}{did_you_mean(variant, list(entry.variants))}; "
                        f"its variants: {known}")
    out = [f"{entry.display} ({entry.paper}); paper tables {', '.join(entry.tables)}"]
    if entry.method is None:
        out += [f"  not runnable here: {entry.why_not}"]
        if entry.where:
            out.append(f"  public: {entry.where}")
        return out
    out.append(f"  run: --methods {entry.method}"
               + "".join(f" | {entry.method}:{v}" for v in entry.variants)
               + f" --method-arg {name}.checkpoint=PATH")
    out.append("  released files (tasks):" if entry.releases else "  released files: none (self-trained weights)")
    out += [f"    the authors' {name} setting: {', '.join(tasks)}" for name, tasks in entry.settings.items()]
    for release in entry.releases:
        if variant and release.variant != variant:
            continue
        note = f"; {release.note}" if release.note else ""
        if not release.runs:
            out.append(f"    {release.file}: {', '.join(release.tasks)}{note}")
            continue
        spec = f"{entry.method}:{release.variant}" if release.variant else entry.method
        out.append(f"    {release.file}: {', '.join(release.tasks)} -> {spec}{note}")
    out += [
        f"  parameters: {entry.params}",
        f"  checkpoint format: {entry.checkpoint}",
        f"  size requirement: {entry.size}",
        f"  test pipeline: {entry.pipeline}",
        f"  forward checked against: {entry.checked}",
        f"  weights from: {entry.where}",
    ]
    out += [f"  option {k}: {v}" for k, v in entry.options.items()]
    return out


def info_command(args) -> int:
    print("\n".join(info_lines(args.name)))
    return 0
