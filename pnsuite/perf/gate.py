"""The regression gate: a perf run against a saved baseline, failing only on real regressions.

A benchmark fails the gate when its median round time got worse by more than the
threshold AND a one-sided Mann-Whitney U test on the rounds says the new rounds are
slower at level alpha (Google Benchmark's compare.py and asv decide the same way), so
noise alone does not go red. Runs from a different machine identity (device, board,
power mode, clocks, launcher, transport, and Triton/JetPack release unless a new release
is being validated) are refused with a message instead of compared.

`load_run` reads a run, `check_comparable` refuses or notes, `compare_runs` gives one
`Row` per benchmark; `pnsuite.cli.gate` (`peoplenet-gate`) prints them and sets the exit code.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_benchmark.storage.file import FileStorage

from pnsuite.errors import SuiteError
from pnsuite.perf import significance
from pnsuite.platform import jetson
from pnsuite.perf.records import IDENTITY_KEYS, RELEASE_KEYS

DEFAULT_THRESHOLD = 0.10
DEFAULT_ALPHA = 0.05
#: CPU (in cores) that other processes may have used during a benchmark before a
#: slowdown in it is called disturbed rather than a regression (see pnsuite/perf/cpu_load.py)
DISTURBED_CORES = 0.5

_RECORD_HINT = ("re-record it: `./suite test tests/perf --benchmark-json=FILE` or "
                "`--benchmark-save=NAME --benchmark-save-data`")


class GateError(SuiteError):
    """The runs cannot be compared (missing or broken file, no raw rounds, other machine)."""

    default_hint = "see `peoplenet-gate --help`"


def read_run(path: Path) -> dict[str, Any]:
    """A pytest-benchmark run from its JSON file, or a GateError saying what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GateError(f"{path}: not a text file, so not a pytest-benchmark run", _RECORD_HINT) from None
    except OSError as err:
        raise GateError(f"{path}: cannot be read ({err.strerror or err})",
                        "check the path and its permissions") from None
    if not text.strip():
        raise GateError(f"{path}: empty (a run interrupted while saving?)", _RECORD_HINT)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise GateError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
                        "truncated? a run interrupted while saving leaves part of a file",
                        _RECORD_HINT) from None
    problem = _run_problem(data)
    if problem:
        raise GateError(f"{path}: JSON, but not a pytest-benchmark run ({problem})",
                        "give the file written by --benchmark-json or saved by --benchmark-save")
    return data


def _run_problem(data: Any) -> str | None:
    """What keeps `data` from being a pytest-benchmark run, or None."""
    if not isinstance(data, dict):
        return f"the top level is a {type(data).__name__}, not an object"
    benchmarks = data.get("benchmarks")
    if not isinstance(benchmarks, list):
        return 'no "benchmarks" list'
    if not isinstance(data.get("machine_info", {}), dict):
        return '"machine_info" is not an object'
    for i, bench in enumerate(benchmarks):
        if not isinstance(bench, dict) or not isinstance(bench.get("fullname"), str):
            return f'benchmark {i} has no "fullname"'
    return None


def load_run(ref: str, storage: Path) -> tuple[Path, dict[str, Any]]:
    """A run by file path, or the newest in pytest-benchmark's storage matching `ref`."""
    if Path(ref).is_file():
        return Path(ref), read_run(Path(ref))
    if ref.endswith(".json"):
        raise GateError(f"no such file: {ref}",
                        "record the run first (`./suite gate NAME` runs the perf suite, then the gate)")
    store = FileStorage(storage, logger=logging.getLogger("gate"))
    try:
        found = store.query(ref if ref.startswith("*") else f"*{ref}")
    except ValueError:  # more than platform/name: neither a file nor a saved run's name
        found = []
    if not found:
        raise GateError(f"no benchmark run {ref!r} in {storage}",
                        f"save one with `./suite test tests/perf --benchmark-save={ref} "
                        "--benchmark-save-data`, or give a JSON file's path")
    # The newest, even if it is broken: falling back to an older run would hide that.
    newest = found[-1]
    shown = storage / newest.relative_to(store.path) if newest.is_relative_to(store.path) else newest
    return shown, read_run(newest)


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


def check_comparable(old: dict[str, Any], new: dict[str, Any], new_release: bool = False) -> list[str]:
    """The notes on gating run `new` against `old`; a GateError naming every refusal."""
    refusals, notes = identity_check(old.get("machine_info", {}), new.get("machine_info", {}),
                                     new_release)
    if refusals:
        raise GateError("refusing to compare runs from different machines or servers:\n  "
                        + "\n  ".join(refusals),
                        "gate against a baseline recorded on this runner with the same settings")
    return notes


@dataclass(frozen=True)
class Row:
    """One benchmark's verdict, with the medians (seconds) and p-value behind it."""

    name: str
    verdict: str  # ok, REGRESSION, DISTURBED, improved, new, MISSING, too few rounds
    old_median: float | None = None
    new_median: float | None = None
    p_value: float | None = None

    @property
    def change(self) -> float | None:
        """Relative change of the median (+0.2 = 20% slower), None without both medians."""
        if self.old_median and self.new_median is not None:
            return self.new_median / self.old_median - 1.0
        return None


def _rounds(bench: dict[str, Any], which: str) -> list[float]:
    stats = bench.get("stats")
    data = stats.get("data") if isinstance(stats, dict) else None
    if not data:
        raise GateError(f"{which} run has no raw rounds for {bench.get('fullname')}",
                        "record it with --benchmark-save-data (or --benchmark-json)")
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
