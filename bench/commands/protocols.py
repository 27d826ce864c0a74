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
        "Append @pyiqa to a name (e.g. allinone-rgb@pyiqa) to compute it with pyiqa, batched on the GPU.",
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
    backends = ", ".join(f"@{name}" for name in BACKENDS.names() if name != "skimage")
    print(f"\nbackends: skimage (default, the reference); append {backends} to a name for the batched GPU variant")
    return 0
