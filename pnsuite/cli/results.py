"""peoplenet-results: the fleet's results store (a SQLite file or PostgreSQL).

Subcommands: `import` pytest-benchmark JSON files (a runner's .benchmarks/, committed
results); `series` of one benchmark on one board over builds and JetPack releases, with its
change points; `baseline`, the last good baseline of this runner's identity (what
`peoplenet-gate check NAME --results-store URL` gates against, with no file); `regressions`, the
runners whose benchmarks got slower since a date; `info`.

Exit codes: 0 done (`regressions`: none found), 1 `regressions` found some, 2 an error.
The store's URL is never printed with its password.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Sequence
from datetime import datetime, timezone

from pnsuite.cli.history import format_history
from pnsuite.cli.vocabulary import add_option
from pnsuite.errors import SuiteError
from pnsuite.history import history
from pnsuite.measure.runsets import SERIES_METRICS as METRICS
from pnsuite.store import open_store, queries
from pnsuite.store.importer import benchmark_files, import_files
from pnsuite.store.results_store import ResultsStore
from pnsuite.store.rows import machine_key
from pnsuite.verdict import verdicts

OK, FOUND, ERROR = 0, 1, 2


def _parse_day(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date like 2026-11-01 (or an ISO time), got {text!r}"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def cmd_import(store: ResultsStore, args: argparse.Namespace) -> int:
    files = benchmark_files(args.paths)
    new = sum(1 for _, run_id in import_files(store, files) if run_id is not None)
    store.analyze()
    print(
        f"imported {new} new run(s) of {len(files)} file(s) into {store.url} "
        f"({len(files) - new} were stored already)"
    )
    return OK


def cmd_series(store: ResultsStore, args: argparse.Namespace) -> int:
    found = queries.board_series(store, args.benchmark, args.board, args.metric)
    if not found:
        where = f" on board {args.board!r}" if args.board else ""
        raise SuiteError(
            f"no runs of {args.benchmark!r}{where} record {args.metric} in {store.url}",
            "check the benchmark's full name (peoplenet-history "
            "lists them) and the board (machine_info jetson_model)",
        )
    print("\n\n".join(format_history(history.analyse(s)) for s in found))
    return OK


def cmd_baseline(store: ResultsStore, args: argparse.Namespace) -> int:
    node = args.node or platform.node()
    mine = [
        d
        for d in store.documents(include_disturbed=False, with_benchmarks=False)
        if d["machine_info"].get("node") == node
    ]
    keys = sorted({machine_key(d["machine_info"]) for d in mine})
    if not keys:
        raise SuiteError(
            f"no undisturbed runs of host {node!r} in {store.url}",
            "record a baseline on it "
            "(peoplenet-gate record NAME --results-store URL), "
            "or name another host with --node",
        )
    for key in keys:
        labels = [
            (label, n, when)
            for label, n, when in store.labels(key)
            if (label == args.label if args.label else label.startswith("baseline"))
        ]
        good = next(((label, n, when) for label, n, when in labels if n >= verdicts.MIN_RUNS), None)
        sample = next(d for d in mine if machine_key(d["machine_info"]) == key)
        machine = ", ".join(
            f"{k}={v}"
            for k, v in history.machine_identity(sample["machine_info"])
            if v not in (None, "")
        )
        print(f"{node} [{machine}]")
        for label, n, when in labels:
            mark = "<- last good baseline" if good and label == good[0] else ""
            print(f"  {when:%Y-%m-%d %H:%M}  {label:<32} {n:>3} undisturbed runs  {mark}")
        if good is None:
            print(f"  no label with {verdicts.MIN_RUNS}+ undisturbed runs: no baseline to gate on")
    return OK


def cmd_regressions(store: ResultsStore, args: argparse.Namespace) -> int:
    found = queries.regressions_since(store, args.since, args.metric, args.board)
    for r in found:
        print(r.line())
    runners = queries.runners(found)
    print(
        f"\n{len(runners)} runner identit{'y' if len(runners) == 1 else 'ies'} regressed "
        f"since {args.since:%Y-%m-%d}" + (": " + "; ".join(runners) if runners else "")
    )
    return FOUND if found else OK


def cmd_info(store: ResultsStore, args: argparse.Namespace) -> int:
    print(f"{store.url}: schema revision {store.revision()}, {store.count_runs()} runs")
    return OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peoplenet-results",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n")[-1],
    )
    add_option(
        parser,
        "--results-store",
        dest="store",
        default=os.environ.get("TRITON_SUITE_RESULTS_STORE") or None,
        help="SQLite path or postgresql:// URL (default: env TRITON_SUITE_RESULTS_STORE)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("import", help="store pytest-benchmark JSON files")
    p.add_argument("paths", nargs="+", help="files or folders (searched recursively)")
    p = sub.add_parser("series", help="one benchmark's series over builds and releases")
    p.add_argument("benchmark", help="the benchmark's full name")
    p.add_argument("--board", help="machine_info jetson_model, e.g. 'NVIDIA Jetson Orin NX'")
    p.add_argument("--metric", choices=list(METRICS), default="round_s")
    p = sub.add_parser("baseline", help="the last good baseline of this runner's identity")
    p.add_argument(
        "label",
        nargs="?",
        help="only this label (default: every label starting with 'baseline', as "
        "peoplenet-gate record names them in the Jetson workflow)",
    )
    p.add_argument("--node", help="the runner's host name (default: this host)")
    p = sub.add_parser("regressions", help="runners with change points to slower since a date")
    p.add_argument("--since", type=_parse_day, required=True)
    p.add_argument("--board")
    p.add_argument("--metric", choices=list(METRICS), default="round_s")
    sub.add_parser("info", help="schema revision and number of runs")
    return parser


COMMANDS = {
    "import": cmd_import,
    "series": cmd_series,
    "baseline": cmd_baseline,
    "regressions": cmd_regressions,
    "info": cmd_info,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.store:
        parser.error("no store: give --results-store PATH_OR_URL or set TRITON_SUITE_RESULTS_STORE")
    try:
        with open_store(args.store) as store:
            return COMMANDS[args.command](store, args)
    except SuiteError as err:
        print(f"peoplenet-results: {err}", file=sys.stderr)
        return ERROR


if __name__ == "__main__":
    sys.exit(main())
