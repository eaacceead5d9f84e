"""`peoplenet-jetson` / `python3 -m pnsuite.cli.jetson [--field KEY]`: this machine's Jetson
identity.

Prints `machine_identity()` as JSON, or one field's value alone (empty when it is absent,
as on a machine that is not a Jetson) for shell steps such as `l4t=$(... --field
l4t_release)`. Standard library only: the Jetson workflow runs it with the system
python3 before the suite's venv exists.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from pnsuite.platform import jetson


def field_text(value: object) -> str:
    """A field as a shell step reads it: empty for None, JSON for a list or dict."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the identity (JSON) or, with --field, one key's value."""
    parser = argparse.ArgumentParser(prog="peoplenet-jetson", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--field",
        metavar="KEY",
        help="print only this key's value (empty if absent), e.g. l4t_release",
    )
    args = parser.parse_args(argv)
    identity = jetson.machine_identity()
    if args.field:
        print(field_text(identity.get(args.field)))
    else:
        json.dump(identity, sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
