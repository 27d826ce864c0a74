"""The one exception type that reaches the user as a single readable line.

Raise :class:`UserError` for anything a user can fix (a missing file, an unknown name, a wrong
checkpoint, a size mismatch). The command line prints ``abair-bench: error: <message>`` and exits
with status 2; nothing else is printed, so the message must name the thing and what to do. Inside
the ``abair`` package messages speak of arguments and files, not of ``abair-bench`` flags.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(ValueError):
    """An error caused by the user's input; its message is shown as one line, without a traceback.

    A :class:`ValueError`, so code that calls the library can catch it as one. Messages name the
    file, value or option in the library's own terms (never a command-line flag): the command line
    that called the library adds that context.
    """


def shorten(value: object, limit: int = 80) -> str:
    """``value`` as text fit to echo in a one-line message: line breaks escaped, and cut to its first
    ``limit`` characters plus ``... (N characters)`` when longer (a 100 KB argument is not echoed whole)."""
    text = str(value).replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest of ``choices``, or ``""`` if none is close."""
    choices = list(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_name(kind: str, name: str, choices: Iterable[str], list_command: str | None = None) -> UserError:
    """Build the standard "unknown X" error: names the bad value, suggests the closest valid one."""
    choices = sorted(choices)
    hint = did_you_mean(name, choices)
    where = f"; run '{list_command}' to see them all" if list_command else f"; valid: {', '.join(choices)}"
    return UserError(f"unknown {kind} '{shorten(name)}'{hint}{where}")
