"""`peoplenet-gate BASELINE [CURRENT]`: a perf run against a saved baseline, red only on real regressions.

BASELINE and CURRENT are JSON files or names in pytest-benchmark's storage (`.benchmarks`,
as written by `--benchmark-save=NAME --benchmark-save-data`); the newest match is used.
`./suite gate NAME` records the current run and then runs this. The decision rule is
`pnsuite.perf.gate`'s: slower by more than the threshold AND significantly so.

Exit codes: 0 passed, 1 regression (or a baseline benchmark missing), 2 refused (not
comparable, no such run, a file that is not a pytest-benchmark run), 3 inconclusive
(slower, but other processes took the CPU).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from pnsuite.errors import SuiteError
from pnsuite.perf.gate import (DEFAULT_ALPHA, DEFAULT_THRESHOLD, DISTURBED_CORES, Row,
                               check_comparable, compare_runs, load_run)

PASSED, REGRESSED, REFUSED, INCONCLUSIVE = 0, 1, 2, 3


def format_table(rows: Sequence[Row]) -> str:
    """The rows as an aligned text table: medians in ms, change, p-value, verdict."""
    header = ("benchmark", "baseline ms", "current ms", "change", "p-value", "verdict")
    lines = [header]
    for r in rows:
        lines.append((r.name,
                      f"{r.old_median * 1e3:.1f}" if r.old_median is not None else "-",
                      f"{r.new_median * 1e3:.1f}" if r.new_median is not None else "-",
                      f"{r.change:+.1%}" if r.change is not None else "-",
                      f"{r.p_value:.4f}" if r.p_value is not None else "-",
                      r.verdict))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(line, widths)))
                     for line in lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peoplenet-gate", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n")[-1])
    parser.add_argument("baseline", help="baseline run: JSON file or saved name (e.g. baseline)")
    parser.add_argument("current", nargs="?", default=".benchmarks/current.json",
                        help="current run: JSON file or saved name (default %(default)s)")
    parser.add_argument("--storage", type=Path, default=Path(".benchmarks"),
                        help="pytest-benchmark storage dir (default %(default)s)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="slowdown of the median that counts (default %(default)s = 10%%)")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                        help="significance level of the Mann-Whitney U test (default %(default)s)")
    parser.add_argument("--new-release", action="store_true",
                        help="allow a different Triton/JetPack release (validating a new "
                             "release against the old one's baseline); the rest must match")
    return parser


def verdict(rows: Sequence[Row], threshold: float, alpha: float) -> tuple[int, str]:
    """The exit code and the closing line for the rows."""
    regressions = [r for r in rows if r.verdict in ("REGRESSION", "MISSING")]
    disturbed = [r for r in rows if r.verdict == "DISTURBED"]
    if regressions:
        return REGRESSED, (f"gate: FAILED: {len(regressions)} of {len(rows)} benchmark(s) "
                           f"regressed or missing (threshold {threshold:.0%}, alpha {alpha})")
    if disturbed:
        return INCONCLUSIVE, (f"gate: INCONCLUSIVE: {len(disturbed)} benchmark(s) slower while "
                              f"other processes used > {DISTURBED_CORES} cores; re-run on a quiet runner")
    return PASSED, (f"gate: passed: no regression in {len(rows)} benchmark(s) "
                    f"(threshold {threshold:.0%}, alpha {alpha})")


def main(argv: Sequence[str] | None = None) -> int:
    """Compare the runs, print the table and the verdict; the exit code says which."""
    args = _parser().parse_args(argv)
    try:
        old_path, old = load_run(args.baseline, args.storage)
        new_path, new = load_run(args.current, args.storage)
        print(f"baseline: {old_path}\ncurrent:  {new_path}")
        for note in check_comparable(old, new, args.new_release):
            print(f"note: {note}")
        rows = compare_runs(old, new, args.threshold, args.alpha)
    except SuiteError as err:
        print(f"peoplenet-gate: {err}", file=sys.stderr)
        return REFUSED
    code, closing = verdict(rows, args.threshold, args.alpha)
    print(format_table(rows))
    print(f"\n{closing}")
    return code


if __name__ == "__main__":
    sys.exit(main())
