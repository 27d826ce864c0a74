"""``abair-bench protocols list [--json]``: the named metric protocols and their settings.

Imports nothing heavy: the protocol table is plain data.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "protocols",
        help="list the metric protocols (colour space, crop, rounding, SSIM window, backend)",
        description="Metric protocols fix every setting that changes a PSNR/SSIM number. "
        "Append @torch (exact, batched, on the device; what 'abair-bench run' uses for a bare name), "
        "@skimage (the reference) or @pyiqa (pyiqa's functions; measured deviations) to a name.",
    )
    actions = parser.add_subparsers(dest="protocols_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="one line per protocol; --json for every setting")
    listing.add_argument("--json", action="store_true", help="print every setting of every protocol as JSON")
    listing.set_defaults(func=list_command)


def list_command(args: argparse.Namespace) -> int:
    import json

    from bench.protocols import BACKENDS, list_protocols

    protocols = list_protocols()
    if args.json:
        print(json.dumps([p.settings() for p in protocols], indent=2))
        return 0
    width = max(len(p.spec) for p in protocols)
    for p in protocols:
        print(f"{p.spec:<{width}}  {p.summary}")
    print("\nbackends: " + "; ".join(f"@{name}: {BACKENDS.entry(name).meta.get('summary', '')}" for name in BACKENDS.names()))
    print("abair-bench run scores a bare name with @torch (exact: same numbers and spec as @skimage)")
    return 0
