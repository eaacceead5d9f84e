"""`peoplenet-report`: self-contained HTML reports (and their PNGs), readable offline.

    peoplenet-report sweep SWEEP_JSON -o DIR                  a sweep (its sweep.json)
    peoplenet-report compare BASELINE CURRENT -o DIR          two run sets, judged as
        [--golden-diff FILE ...]                              `peoplenet-gate compare` does
    peoplenet-report history [PATH ...] [--metric M] -o DIR   each benchmark's history, as
                                                              `peoplenet-history` finds it
    peoplenet-report capacity CAPACITY_JSON -o DIR            camera streams per configuration
                                                              (`peoplenet-capacity --json`)

Each writes DIR/report.html, every plot embedded in it, and the plots beside it as
DIR/NAME.png; it prints the page's path. BASELINE, CURRENT and PATH are read as
`peoplenet-gate` and `peoplenet-history` read them (saved names, files, folders, a store).

Exit codes: 0 written (whatever the verdict it shows), 2 not written (an unreadable or
foreign input, runs the gate refuses to compare, no history).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pnsuite.cli import gate as gate_cli
from pnsuite.cli import history as history_cli
from pnsuite.errors import SuiteError
from pnsuite.report.capacity_report import write_capacity_report
from pnsuite.report.comparison_report import write_comparison_report
from pnsuite.report.history_report import write_history_report
from pnsuite.report.html import ReportError
from pnsuite.report.sweep_report import write_sweep_report
from pnsuite.sweep.points import SweepDocument
from pnsuite.verdict import gate

WRITTEN, NOT_WRITTEN = 0, 2
_SWEEP_HINT = "give the sweep.json a sweep wrote into its output folder"


def read_sweep(path: Path) -> SweepDocument:
    """The sweep document in `path`, or a SuiteError saying why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        why = getattr(err, "strerror", None) or err
        raise ReportError(f"{path}: cannot be read ({why})", _SWEEP_HINT) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ReportError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: "
            f"{err.msg}); a sweep interrupted while saving?",
            "re-run the sweep: it resumes from its journal",
        ) from None
    if not isinstance(data, dict):
        raise ReportError(
            f"{path}: JSON, but not a sweep document (a {type(data).__name__})", _SWEEP_HINT
        )
    try:
        return SweepDocument.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ReportError(
            f"{path}: not a sweep document ({type(err).__name__}: {err})", _SWEEP_HINT
        ) from None


def cmd_sweep(args: argparse.Namespace) -> Path:
    return write_sweep_report(read_sweep(args.sweep), args.output)


def cmd_compare(args: argparse.Namespace) -> Path:
    # The sets, notes and report exactly as `peoplenet-gate compare` builds them.
    baseline, current = gate_cli.run_set(args.baseline, args), gate_cli.run_set(args.current, args)
    notes = gate.check_sets(baseline, current, args.new_release)
    report = gate.compare_sets(baseline, current, gate_cli.policy_of(args))
    return write_comparison_report(
        baseline, current, report, notes, args.output, args.golden_diff or ()
    )


def read_capacity(path: Path) -> list[dict]:
    """The configurations `peoplenet-capacity --json` wrote to `path`, or why not."""
    hint = "give the file peoplenet-capacity --json wrote"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReportError(f"{path}: cannot be read as JSON ({err})", hint) from None
    needed = {"repo", "streams", "fps", "rule", "deadline_ms", "runs"}
    if (
        not isinstance(data, list)
        or not data
        or not all(isinstance(d, dict) and needed <= d.keys() for d in data)
    ):
        raise ReportError(
            f"{path}: not a capacity document (a list of configurations with "
            f"{', '.join(sorted(needed))})",
            hint,
        )
    return data


def cmd_capacity(args: argparse.Namespace) -> Path:
    return write_capacity_report(read_capacity(args.capacity), args.output)


def cmd_history(args: argparse.Namespace) -> Path:
    return write_history_report(history_cli.find_histories(args)[1], args.output)


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for report.html and its PNGs (made if missing)",
    )
    parser = argparse.ArgumentParser(
        prog="peoplenet-report",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n")[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {}
    p = commands["sweep"] = sub.add_parser("sweep", parents=[output], help="a sweep's report")
    p.add_argument("sweep", type=Path, metavar="SWEEP_JSON", help="the sweep's sweep.json")
    p = commands["compare"] = sub.add_parser(
        "compare",
        parents=[gate_cli.common_options(), output],
        help="two run sets with the gate's verdicts",
    )
    p.add_argument("baseline")
    p.add_argument("current")
    p.add_argument(
        "--golden-diff",
        type=Path,
        nargs="+",
        action="extend",
        metavar="FILE",
        help="golden update .diff.txt files to show (default: none given)",
    )
    p = commands["capacity"] = sub.add_parser(
        "capacity", parents=[output], help="camera streams served per configuration"
    )
    p.add_argument(
        "capacity", type=Path, metavar="CAPACITY_JSON", help="what peoplenet-capacity --json wrote"
    )
    commands["history"] = sub.add_parser(
        "history",
        parents=[history_cli.history_options(), output],
        help="benchmark histories with change points",
    )
    return parser, commands


COMMAND_FUNCTIONS = {
    "sweep": cmd_sweep,
    "compare": cmd_compare,
    "history": cmd_history,
    "capacity": cmd_capacity,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Write one report and print its path; 2 (and why, on stderr) when it cannot be."""
    parser, commands = _parser()
    args = parser.parse_args(argv)
    if args.command == "history":
        history_cli.check_arguments(commands["history"], args)
    try:
        page = COMMAND_FUNCTIONS[args.command](args)
    except SuiteError as err:
        print(f"peoplenet-report: {err}", file=sys.stderr)
        return NOT_WRITTEN
    print(page)
    return WRITTEN


if __name__ == "__main__":
    sys.exit(main())
