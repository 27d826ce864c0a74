"""The ``abair-bench`` command line.

Each sub-command lives in its own module under :mod:`bench.commands` exposing
``add_parser(subparsers)`` (which sets ``func`` via ``set_defaults``). Modules are imported only to
build the parser, and they must import nothing heavy at module level (torch, pandas, skimage...):
``abair-bench --help`` has to answer in well under a second.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from abair.errors import UserError

# sub-command modules, in the order `--help` lists them
COMMAND_MODULES = [
    "bench.commands.run",
    "bench.commands.sweep",
    "bench.commands.suite",
    "bench.commands.datasets",
    "bench.commands.methods",
    "bench.commands.protocols",
    "bench.commands.report",
    "bench.commands.model",
    "bench.commands.train",
    "bench.commands.estimator",
    "bench.commands.profile",
]


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``abair-bench run: error: ...``), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="abair-bench",
        description="Reproducible benchmark and reference implementation of ABAIR "
        "(adaptive blind all-in-one image restoration).",
    )
    from abair import __version__

    parser.add_argument("--version", action="version", version=f"abair-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from abair import allocator

    allocator.tune()  # before any tensor exists: keep freed activations in the heap (abair/allocator.py)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for commands that start copies of themselves
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        from bench.local_jobs import report_error

        line = f"abair-bench: error: {exc}"
        if not report_error(line):  # a --jobs rank gives it to its launcher, which prints it once for all
            print(line, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from bench.local_jobs import started_by_launcher

        if not started_by_launcher():  # a --jobs rank: its launcher prints the line once for all
            print("abair-bench: interrupted; records written so far are kept, rerun to resume", file=sys.stderr)
        return 130
    except RuntimeError:
        from bench.local_jobs import peer_refused

        if peer_refused():  # a --jobs rank whose group broke when another rank refused: that line says it
            return 1
        raise
    except BrokenPipeError:  # `abair-bench datasets list | head`: the reader left; say nothing more
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a command whose pipe closed


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail a second time."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor (a test's capture)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
