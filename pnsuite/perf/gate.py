"""The regression gate: a perf run against a saved baseline, failing only on real regressions.

A benchmark fails the gate when its median round time got worse by more than the
threshold AND a one-sided Mann-Whitney U test on the rounds says the new rounds are
slower at level alpha (Google Benchmark's compare.py and asv decide the same way), so
noise alone does not go red. Runs from a different machine identity (device, board,
power mode, clocks, launcher, transport, and Triton/JetPack release unless `--new-release`) are
refused with a message instead of compared.

    peoplenet-gate BASELINE [CURRENT]      (see `--help`; `./suite gate` runs both steps)

Exit codes: 0 passed, 1 regression (or a baseline benchmark missing), 2 refused (not
comparable, no such run), 3 inconclusive (slower, but other processes took the CPU).

BASELINE and CURRENT are JSON files or names in pytest-benchmark's storage (`.benchmarks`,
as written by `--benchmark-save=NAME --benchmark-save-data`); the newest match is used.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from pytest_benchmark.storage.file import FileStorage

from pnsuite.perf import significance
from pnsuite.platform import jetson
from pnsuite.perf.records import IDENTITY_KEYS, RELEASE_KEYS

DEFAULT_THRESHOLD = 0.10
DEFAULT_ALPHA = 0.05
#: CPU (in cores) that other processes may have used during a benchmark before a
#: slowdown in it is called disturbed rather than a regression (see fixtures/cpu_load.py)
DISTURBED_CORES = 0.5


class GateError(Exception):
    """The runs cannot be compared (missing file, no raw rounds, other machine)."""


def load_run(ref: str, storage: Path) -> tuple[Path, dict[str, Any]]:
    """A run by file path, or the newest in pytest-benchmark's storage matching `ref`."""
    if Path(ref).is_file():
        return Path(ref), json.loads(Path(ref).read_text())
    store = FileStorage(storage, logger=logging.getLogger("gate"))
    found = list(store.load(f"*{ref}" if not ref.startswith("*") else ref))
    if not found:
        raise GateError(f"no benchmark run {ref!r} in {storage} (save one with "
                        f"`./suite test tests/perf --benchmark-save={ref} --benchmark-save-data`)")
    path, data = found[-1]
    return storage / path, data


def identity_check(old: dict[str, Any], new: dict[str, Any],
                   new_release: bool = False) -> tuple[list[str], list[str]]:
    """(refusals, notes) for gating run `new` against `old`, from their machine_info.

    Device, launcher, transport, Jetson board, power mode and clocks must match. Triton and JetPack
    releases must match too unless `new_release` (validating a new release against the
    old one's baseline), when their differences become notes.
    """
    # Runs saved before the transport was recorded all used system shared memory.
    old, new = ({"transport": "system_shm", **old}, {"transport": "system_shm", **new})
    refusals = [f"{key}: baseline {old.get(key)!r}, current {new.get(key)!r}"
                for key in IDENTITY_KEYS if old.get(key) != new.get(key)]
    release = [f"{key}: baseline {old.get(key)!r}, current {new.get(key)!r}"
               for key in RELEASE_KEYS if old.get(key) != new.get(key)]
    board = jetson.comparable(old, new)
    refusals += list(board.refusals)
    notes = list(board.notes)
    if new_release:
        notes += release
    else:
        refusals += [f"{r} (pass --new-release to validate a new release against it)"
                     for r in release]
    return refusals, notes


@dataclass(frozen=True)
class Row:
    name: str
    verdict: str  # ok, REGRESSION, DISTURBED, improved, new, MISSING, too few rounds
    old_median: float | None = None
    new_median: float | None = None
    p_value: float | None = None

    @property
    def change(self) -> float | None:
        if self.old_median and self.new_median is not None:
            return self.new_median / self.old_median - 1.0
        return None


def _rounds(bench: dict[str, Any], which: str) -> list[float]:
    data = bench.get("stats", {}).get("data")
    if not data:
        raise GateError(f"{which} run has no raw rounds for {bench.get('fullname')}: "
                        "record it with --benchmark-save-data")
    return [float(x) for x in data]


def _foreign(bench: dict[str, Any]) -> float:
    return float(bench.get("extra_info", {}).get("foreign_cpu_cores", 0.0))


def compare_runs(old: dict[str, Any], new: dict[str, Any], threshold: float = DEFAULT_THRESHOLD,
                 alpha: float = DEFAULT_ALPHA) -> list[Row]:
    """One row per benchmark in either run, with its verdict."""
    olds = {b["fullname"]: b for b in old.get("benchmarks", [])}
    news = {b["fullname"]: b for b in new.get("benchmarks", [])}
    rows = []
    for name in sorted(set(olds) | set(news)):
        if name not in news:
            rows.append(Row(name, "MISSING"))  # a benchmark that vanished hides its result
            continue
        if name not in olds:
            rows.append(Row(name, "new"))
            continue
        before, after = _rounds(olds[name], "baseline"), _rounds(news[name], "current")
        if len(before) < 3 or len(after) < 3:
            rows.append(Row(name, "too few rounds"))
            continue
        slower = significance.compare(after, before)
        faster = significance.compare(before, after)
        foreign = max(_foreign(olds[name]), _foreign(news[name]))
        if slower.holds(1.0 + threshold, alpha):
            # Slower while a neighbour took the CPU: not evidence about the build.
            verdict = "DISTURBED" if foreign > DISTURBED_CORES else "REGRESSION"
        elif faster.holds(1.0 + threshold, alpha):
            verdict = "improved"
        else:
            verdict = "ok"
        p = slower.p_value if verdict != "improved" else faster.p_value
        rows.append(Row(name, verdict, slower.fast_median, slower.slow_median, p))
    return rows


def format_table(rows: Sequence[Row]) -> str:
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="peoplenet-gate", description=__doc__.split("\n\n")[0])
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
    args = parser.parse_args(argv)
    try:
        old_path, old = load_run(args.baseline, args.storage)
        new_path, new = load_run(args.current, args.storage)
        print(f"baseline: {old_path}\ncurrent:  {new_path}")
        refusals, notes = identity_check(old.get("machine_info", {}),
                                         new.get("machine_info", {}), args.new_release)
        if refusals:
            raise GateError("refusing to compare runs from different machines or servers:\n  "
                            + "\n  ".join(refusals))
        for note in notes:
            print(f"note: {note}")
        rows = compare_runs(old, new, args.threshold, args.alpha)
    except GateError as err:
        print(f"peoplenet-gate: {err}", file=sys.stderr)
        return 2
    print(format_table(rows))
    regressions = [r for r in rows if r.verdict in ("REGRESSION", "MISSING")]
    disturbed = [r for r in rows if r.verdict == "DISTURBED"]
    if regressions:
        print(f"\ngate: FAILED: {len(regressions)} of {len(rows)} benchmark(s) regressed or "
              f"missing (threshold {args.threshold:.0%}, alpha {args.alpha})")
        return 1
    if disturbed:
        print(f"\ngate: INCONCLUSIVE: {len(disturbed)} benchmark(s) slower while other "
              f"processes used > {DISTURBED_CORES} cores; re-run on a quiet runner")
        return 3
    print(f"\ngate: passed: no regression in {len(rows)} benchmark(s) "
          f"(threshold {args.threshold:.0%}, alpha {args.alpha})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
