"""One module per ``abair-bench`` sub-command; each exposes ``add_parser(subparsers)``."""


def csv_list(text: str | None) -> list[str] | None:
    """``"a,b, c"`` -> ``["a", "b", "c"]``; None or empty -> None."""
    if not text:
        return None
    return [item.strip() for item in text.split(",") if item.strip()]
