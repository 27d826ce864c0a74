"""One module per ``abair-bench`` sub-command; each exposes ``add_parser(subparsers)``."""


def csv_list(text: str | None, flag: str | None = None, required: bool = False) -> list[str] | None:
    """``"a,b, c"`` -> ``["a", "b", "c"]``; None -> None.

    An empty list (``""``, ``","``) is None, or, when ``flag`` names the option it came from, a
    UserError: a flag given with nothing in it is a mistake, not "the default" (``required``: the
    flag cannot be left out either).
    """
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items and flag:
        from abair.errors import UserError, shorten

        instead = "" if required else f" or leave {flag} out"
        raise UserError(f"{flag} '{shorten(text, 40)}' names nothing; give comma-separated names{instead}")
    return items or None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--limit``, ``--tile``)."""
    import argparse

    from abair.errors import shorten

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got '{shorten(text, 40)}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def add_force(p, what: str) -> None:
    """The ``--force`` flag of a command that writes ``what`` (e.g. "--out FILE")."""
    p.add_argument("--force", action="store_true",
                   help=f"overwrite files at {what} that this command did not write (by default refused; a run "
                   "store's or training folder's own files are refused even so)")
