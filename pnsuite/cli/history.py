"""`peoplenet-history [PATH ...]`: each benchmark's history over saved runs, with change points.

PATHs are pytest-benchmark JSON files or folders searched for them (default `.benchmarks`,
where `--benchmark-save=NAME` puts runs). One series per benchmark and machine; a Triton or
JetPack release change is a known step, and change points (E-divisive means, permutation
test at --alpha) are searched between known steps; see `pnsuite.history.history`.

Exit codes: 0 done (no regression since the last known step, or not asked to fail on one),
1 a regression since the last known step with --fail-on-regression, 2 no history (no runs,
a broken file, nothing matching).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from collections.abc import Sequence
from datetime import timezone
from pathlib import Path

from pnsuite.cli.vocabulary import add_option
from pnsuite.errors import SuiteError
from pnsuite.history import changepoints
from pnsuite.history.history import (
    METRICS,
    Change,
    History,
    HistoryError,
    KnownStep,
    Point,
    analyse,
    load_runs,
    series,
)
from pnsuite.store import open_store

DONE, REGRESSED, ERROR = 0, 1, 2


def _release(point: Point) -> str:
    text = f"Triton {point.triton_version or '?'}"
    return f"{text}, {point.jetson_release}" if point.jetson_release else text


def _commit(point: Point) -> str:
    return f"{point.commit}-dirty" if point.dirty else point.commit


def _time(point: Point) -> str:
    return point.time.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")


def _label(change: Change) -> str:
    """Regressions in capitals: they are what a reader looks for."""
    return change.kind.upper() if change.kind == "regression" else change.kind


def format_history(history: History, min_size: int = changepoints.DEFAULT_MIN_SIZE) -> str:
    """One series: its machine, a table of its points, then its known steps and changes."""
    s = history.series
    notes = {st.index: "known step" for st in history.known_steps}
    notes.update({c.index: _label(c) for c in history.changes})
    header = ("#", "time (UTC)", "commit", "release", s.metric, "")
    rows = [header] + [
        (str(i), _time(p), _commit(p), _release(p), f"{p.value:.4g}", notes.get(i, ""))
        for i, p in enumerate(s.points)
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    table = [
        "  "
        + "  ".join(
            cell.rjust(w) if i in (0, 4) else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        ).rstrip()
        for row in rows
    ]
    lines = [s.benchmark, f"  machine: {s.machine or '?'}", *table]
    events: list[KnownStep | Change] = sorted(
        [*history.known_steps, *history.changes], key=lambda e: (e.index, isinstance(e, Change))
    )
    for event in events:
        before, after = s.points[event.index - 1], s.points[event.index]
        where = f"between #{event.index - 1} and #{event.index} ({before.commit}..{after.commit})"
        if isinstance(event, KnownStep):
            lines.append(
                f"  known step {where}: {'; '.join(event.changes)}; "
                f"segment median {event.relative_change:+.1%} (not a regression)"
            )
        else:
            lines.append(
                f"  {_label(event)} {where}: median {event.relative_change:+.1%}, "
                f"p={event.p_value:.3f}"
            )
    bounds = [0, *(st.index for st in history.known_steps), len(s.points)]
    if all(hi - lo < 2 * min_size for lo, hi in itertools.pairwise(bounds)):
        lines.append(
            f"  not searched for change points: no release segment has the "
            f"{2 * min_size} runs needed (twice --min-size)"
        )
    elif not history.changes:
        lines.append("  no change point")
    if s.disturbed:
        lines.append(
            f"  left out {len(s.disturbed)} disturbed run(s) (other processes took the "
            "CPU): " + ", ".join(f"{_time(p)} {p.commit}" for p in s.disturbed)
        )
    return "\n".join(lines)


def history_options() -> argparse.ArgumentParser:
    """The options that say which runs and series to analyse, and how: shared with
    `peoplenet-report history`."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        default=[Path(".benchmarks")],
        help="run files or folders holding them (default .benchmarks)",
    )
    add_option(
        parser,
        "--results-store",
        dest="store",
        default=os.environ.get("TRITON_SUITE_RESULTS_STORE") or None,
        help="read the runs from this results store (SQLite path or "
        "postgresql:// URL; default env TRITON_SUITE_RESULTS_STORE) "
        "instead of files",
    )
    parser.add_argument(
        "--board",
        help="with --results-store: only runs of this Jetson board (machine_info jetson_model)",
    )
    parser.add_argument(
        "--metric",
        choices=list(METRICS),
        default="round_s",
        help="what to follow (default %(default)s; all are lower-is-better)",
    )
    parser.add_argument(
        "-k",
        "--benchmark",
        metavar="SUBSTRING",
        help="only benchmarks whose full name contains SUBSTRING",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=changepoints.DEFAULT_ALPHA,
        help="significance level of a change point (default %(default)s)",
    )
    parser.add_argument(
        "--permutations",
        type=int,
        default=changepoints.DEFAULT_PERMUTATIONS,
        help="shuffles in each permutation test (default %(default)s)",
    )
    parser.add_argument(
        "--min-size",
        type=int,
        default=changepoints.DEFAULT_MIN_SIZE,
        help="fewest runs between two change points (default %(default)s)",
    )
    parser.add_argument(
        "--include-disturbed",
        action="store_true",
        help="keep runs during which other processes took the CPU (left out "
        "by default, as the gate leaves them out)",
    )
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peoplenet-history",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n")[-1],
        parents=[history_options()],
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="also write the series, known steps and change points to FILE",
    )
    parser.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 if a regression lies after the last known step",
    )
    return parser


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.permutations < 1:
        parser.error("--permutations must be at least 1")
    if args.min_size < 1:
        parser.error("--min-size must be at least 1")
    smallest = 1.0 / (args.permutations + 1)
    if not smallest < args.alpha <= 1.0:
        parser.error(
            f"--alpha must be above {smallest:.4g} (the smallest p-value "
            f"{args.permutations} permutations can give) and at most 1"
        )


def find_histories(args: argparse.Namespace) -> tuple[int, list[History]]:
    """(how many runs were read, each matching series analysed) for these arguments: the
    store's runs (of `--board`) or the runs in PATHs."""
    if args.store:
        with open_store(args.store) as store:
            runs = store.documents(board=args.board)
    else:
        runs = load_runs(args.paths)
    found = [
        s
        for s in series(runs, args.metric, args.include_disturbed)
        if args.benchmark is None or args.benchmark in s.benchmark
    ]
    if not found:
        which = f"matching {args.benchmark!r} " if args.benchmark is not None else ""
        raise HistoryError(
            f"no benchmark {which}records {args.metric} in the {len(runs)} run(s)",
            f"check -k, or choose another --metric ({', '.join(METRICS)})",
        )
    return len(runs), [analyse(s, args.alpha, args.permutations, args.min_size) for s in found]


def main(argv: Sequence[str] | None = None) -> int:
    """Print each series' history; the exit code says whether a new regression was found."""
    parser = _parser()
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    try:
        runs, histories = find_histories(args)
        if args.json:
            _write_json(args, runs, histories)
    except SuiteError as err:
        print(f"peoplenet-history: {err}", file=sys.stderr)
        return ERROR
    print(
        f"{args.metric} of {len(histories)} series from {runs} run(s), "
        f"alpha {args.alpha}, min size {args.min_size}\n"
    )
    print("\n\n".join(format_history(h, args.min_size) for h in histories))
    code, closing = verdict(histories, args.fail_on_regression)
    print(f"\n{closing}")
    return code


def _write_json(args: argparse.Namespace, runs: int, histories: Sequence[History]) -> None:
    document = {
        "metric": args.metric,
        "alpha": args.alpha,
        "permutations": args.permutations,
        "min_size": args.min_size,
        "runs": runs,
        "series": [h.to_json() for h in histories],
    }
    try:
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as err:
        raise HistoryError(
            f"cannot write {args.json} ({err.strerror or err})", "give a writable path to --json"
        ) from None


def verdict(histories: Sequence[History], fail_on_regression: bool) -> tuple[int, str]:
    """The exit code and the closing line."""
    changes = [c for h in histories for c in h.changes]
    regressions = sum(c.kind == "regression" for c in changes)
    steps = sum(len(h.known_steps) for h in histories)
    current = [(h, c) for h in histories for c in h.regressions_in_last_segment()]
    summary = (
        f"{len(changes)} change point(s) ({regressions} regression(s)), {steps} known "
        f"step(s) in {len(histories)} series"
    )
    if current:
        names = sorted({h.series.benchmark for h, _ in current})
        line = f"{len(current)} regression(s) since the last known step, in {', '.join(names)}"
        if fail_on_regression:
            return REGRESSED, f"history: FAILED: {line}"
        return DONE, f"history: {summary}; {line}"
    return DONE, f"history: {summary}; no regression since the last known step"


if __name__ == "__main__":
    sys.exit(main())
