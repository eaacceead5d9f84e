"""A benchmark's history over saved perf runs: its series, known steps and change points.

Each saved pytest-benchmark file is one run (one server start), so one point per benchmark;
several runs of one commit are several points. A series is one benchmark on one machine
identity (`IDENTITY_KEYS`, and on a Jetson its board, power mode and clocks): runs of other
machines never share a series. Points are in run time order.

Where the Triton or JetPack release (`RELEASE_KEYS`) changes between two points, the step
is *known*: it is annotated with the change of the segment medians and never called a
regression, and change points are searched only within the segments between known steps,
on log values (a slowdown is a ratio), by `pnsuite.history.changepoints.e_divisive`. Every
metric is lower-is-better, so a change point after which values are higher is a regression.

`load_runs` reads the files, `series` builds the series of a metric, `analyse` finds the
known steps and change points of one; `pnsuite.cli.history` (`peoplenet-history`) prints them.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from pnsuite.errors import SuiteError
from pnsuite.history import changepoints
from pnsuite.measure.records import IDENTITY_KEYS, RELEASE_KEYS
from pnsuite.measure.run import MeasuredRun
from pnsuite.measure.runsets import SERIES_METRICS as METRICS
from pnsuite.measure.runsets import RunFileError, benchmark_of, benchmark_runs, read_run

#: what else tells Jetson machines apart: the board and its state (power mode, pinned
#: clocks, the GPU and EMC clock settings); pnsuite.platform.jetson.machine_identity's keys,
#: and pnsuite.platform.jetson.comparable refuses to compare runs where they differ. Each
#: counts only where a run has it, so runs saved before a key was recorded keep their series.
JETSON_IDENTITY_KEYS = (
    "jetson_model",
    "nvpmodel_mode",
    "nvpmodel_id",
    "jetson_clocks",
    "jetson_gpu_clock",
    "jetson_emc_clock",
)
#: the key load_runs adds to each run: the file it was read from
SOURCE_KEY = "source_file"

_SAVE_HINT = (
    "record runs with `peoplenet-gate record NAME` (or a pytest run with "
    "`--benchmark-save=NAME`; both save to .benchmarks/), or give the folders or "
    "JSON files that hold them"
)


class HistoryError(SuiteError):
    """No history can be built: no runs, a run without a time, an unknown metric."""

    default_hint = "see `peoplenet-history --help`"


# --------------------------------------------------------------------------- runs


def load_runs(paths_or_storage: str | Path | Iterable[str | Path]) -> list[dict[str, Any]]:
    """The pytest-benchmark runs in the given files and folders (searched recursively).

    Each run gets its file's path under `SOURCE_KEY`. In a folder, JSON files without a
    "benchmarks" key are other tools' output and are skipped; any other file that is not a
    readable pytest-benchmark run raises a RunFileError naming it, and finding no run at all
    raises a HistoryError.
    """
    given = (
        [paths_or_storage] if isinstance(paths_or_storage, (str, Path)) else list(paths_or_storage)
    )
    runs: list[dict[str, Any]] = []
    seen: set[Path] = set()
    for entry in map(Path, given):
        if entry.is_dir():
            files, strict = sorted(entry.rglob("*.json")), False
        elif entry.is_file():
            files, strict = [entry], True
        else:
            raise HistoryError(f"no such file or folder: {entry}", _SAVE_HINT)
        for path in files:
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            run = _read(path, strict)
            if run is not None:
                run[SOURCE_KEY] = str(path)
                runs.append(run)
    if not runs:
        where = ", ".join(map(str, given)) or "(no path given)"
        raise HistoryError(f"no pytest-benchmark runs in {where}", _SAVE_HINT)
    return runs


def _read(path: Path, strict: bool) -> dict[str, Any] | None:
    """The run in `path`; None for another tool's JSON found in a folder (not `strict`)."""
    try:
        return read_run(path)
    except RunFileError:
        if not strict and _is_other_json(path):
            return None
        raise


def _is_other_json(path: Path) -> bool:
    """A JSON object with no "benchmarks" key: a summary or report, not a broken run."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and "benchmarks" not in data


# --------------------------------------------------------------------------- metrics


def metric_value(run: MeasuredRun, metric: str) -> float | None:
    """The metric of a benchmark's run (`runsets.benchmark_runs`); None where the record
    did not keep it, or it is not positive or not finite (nothing to take the log of)."""
    value = run.metric(metric)
    return value if math.isfinite(value) and value > 0 else None


def machine_identity(machine_info: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The (key, value) pairs that must match for two runs to be one series."""
    # Runs saved before the transport was recorded all used system shared memory.
    info = {"transport": "system_shm", **machine_info}
    keys = [*IDENTITY_KEYS, *(k for k in JETSON_IDENTITY_KEYS if k in info)]
    return tuple((key, info.get(key)) for key in keys)


# --------------------------------------------------------------------------- series


@dataclass(frozen=True)
class Point:
    """One run's value of a benchmark's metric, with when and what it ran."""

    time: datetime
    commit: str  # short id, "unknown" where the run was saved outside a git checkout
    value: float
    triton_version: str | None = None
    jetson_release: str | None = None
    triton_image: str | None = None
    dirty: bool = False
    source: str = ""
    #: the most CPU (cores) other processes took during one of its rounds
    foreign_cores: float = 0.0

    @property
    def release(self) -> tuple[str | None, ...]:
        """The RELEASE_KEYS values: a change between two points is a known step."""
        return tuple(getattr(self, key) for key in RELEASE_KEYS)

    def to_json(self) -> dict[str, Any]:
        """The point as JSON-ready values (time in ISO 8601)."""
        return {
            "time": self.time.isoformat(),
            "commit": self.commit,
            "dirty": self.dirty,
            "triton_version": self.triton_version,
            "triton_image": self.triton_image,
            "jetson_release": self.jetson_release,
            "value": self.value,
            "source": self.source,
            "foreign_cores": self.foreign_cores,
        }


@dataclass(frozen=True)
class Series:
    """One benchmark's metric on one machine identity, in time order.

    `disturbed` holds the runs left out because other processes took the CPU meanwhile
    (as the gate leaves them out: `pnsuite.measure.run.DISTURBED_SHARE`).
    """

    benchmark: str
    identity: tuple[tuple[str, Any], ...]
    metric: str
    points: tuple[Point, ...]
    disturbed: tuple[Point, ...] = ()

    @property
    def machine(self) -> str:
        """The identity as `key=value` pairs, leaving out the unknown ones."""
        return ", ".join(f"{k}={v}" for k, v in self.identity if v not in (None, ""))


def _run_time(run: Mapping[str, Any]) -> datetime:
    raw = run.get("datetime")
    try:
        when = datetime.fromisoformat(str(raw))
    except ValueError:
        raise HistoryError(
            f'{run.get(SOURCE_KEY, "a run")}: no valid "datetime" ({raw!r})',
            "give runs as pytest-benchmark saves them",
        ) from None
    # Runs are compared across machines' clocks: naive times are taken as UTC.
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _short_commit(commit_info: Mapping[str, Any]) -> str:
    commit = str(commit_info.get("id") or "unknown")
    return commit[:8] if commit != "unknown" else commit


def series(
    runs: Iterable[Mapping[str, Any]], metric: str = "round_s", include_disturbed: bool = False
) -> list[Series]:
    """The series of `metric`, one per benchmark fullname and machine identity.

    Sorted by benchmark, then machine; points by run time (then file). A benchmark record
    without the metric gives no point; a disturbed one goes to `Series.disturbed` unless
    `include_disturbed`.
    """
    if metric not in METRICS:
        raise HistoryError(f"unknown metric {metric!r}", f"choose one of {', '.join(METRICS)}")
    kept: dict[tuple[str, tuple[tuple[str, Any], ...]], list[Point]] = {}
    left_out: dict[tuple[str, tuple[tuple[str, Any], ...]], list[Point]] = {}
    for run in runs:
        info = run.get("machine_info") or {}
        commit_info = run.get("commit_info") or {}
        identity = machine_identity(info)
        when = _run_time(run)
        source = str(run.get(SOURCE_KEY, ""))
        for bench in benchmark_runs(dict(run), Path(source)):
            value = metric_value(bench, metric)
            if value is None:
                continue
            point = Point(
                when,
                _short_commit(commit_info),
                value,
                info.get("triton_version"),
                info.get("jetson_release"),
                info.get("triton_image"),
                bool(commit_info.get("dirty")),
                source,
                bench.peak_foreign_cores,
            )
            into = left_out if bench.disturbed and not include_disturbed else kept
            into.setdefault((benchmark_of(bench), identity), []).append(point)
            kept.setdefault((benchmark_of(bench), identity), [])

    def in_order(points: list[Point]) -> tuple[Point, ...]:
        return tuple(sorted(points, key=lambda p: (p.time, p.source)))

    return [
        Series(
            name, identity, metric, in_order(points), in_order(left_out.get((name, identity), []))
        )
        for (name, identity), points in sorted(
            kept.items(), key=lambda kv: (kv[0][0], repr(kv[0][1]))
        )
    ]


# --------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class KnownStep:
    """A release change between points `index - 1` and `index`: expected, not a regression."""

    index: int
    changes: tuple[str, ...]  # e.g. "triton_version 2.51.0 -> 2.52.0"
    relative_change: float  # of the medians of the release segments either side


@dataclass(frozen=True)
class Change:
    """A change point found between points `index - 1` and `index` of one release segment."""

    index: int
    kind: str  # "regression" (later values higher) or "improvement"
    p_value: float
    relative_change: float  # of the medians between this and the neighbouring boundaries
    commit_before: str
    commit_after: str


@dataclass(frozen=True)
class History:
    """A series with its known steps and change points."""

    series: Series
    known_steps: tuple[KnownStep, ...]
    changes: tuple[Change, ...]

    @property
    def last_segment_start(self) -> int:
        """Index of the first point of the current release (after the last known step)."""
        return self.known_steps[-1].index if self.known_steps else 0

    def regressions_in_last_segment(self) -> list[Change]:
        """The regressions since the last known step: what the current release brought."""
        return [
            c for c in self.changes if c.kind == "regression" and c.index >= self.last_segment_start
        ]

    def to_json(self) -> dict[str, Any]:
        """The series, known steps and changes as JSON-ready values."""
        points = self.series.points
        return {
            "benchmark": self.series.benchmark,
            "machine": dict(self.series.identity),
            "metric": self.series.metric,
            "points": [p.to_json() for p in points],
            "known_steps": [
                {
                    "index": s.index,
                    "time": points[s.index].time.isoformat(),
                    "commit_before": points[s.index - 1].commit,
                    "commit_after": points[s.index].commit,
                    "changes": list(s.changes),
                    "relative_change": s.relative_change,
                }
                for s in self.known_steps
            ],
            "changes": [
                {
                    "index": c.index,
                    "time": points[c.index].time.isoformat(),
                    "kind": c.kind,
                    "p_value": c.p_value,
                    "relative_change": c.relative_change,
                    "commit_before": c.commit_before,
                    "commit_after": c.commit_after,
                    "in_last_segment": c.index >= self.last_segment_start,
                }
                for c in self.changes
            ],
        }


def _relative(before: list[float], after: list[float]) -> float:
    return statistics.median(after) / statistics.median(before) - 1.0


def release_starts(points: tuple[Point, ...] | list[Point]) -> list[int]:
    """The indices where the release (RELEASE_KEYS) differs from the previous point's."""
    return [i for i in range(1, len(points)) if points[i].release != points[i - 1].release]


def known_steps(
    points: tuple[Point, ...] | list[Point], change_indices: Iterable[int] = ()
) -> list[KnownStep]:
    """The release changes between consecutive points, each with the change of the medians
    of the segments either side; a segment ends at the next release change or change point,
    so a regression earlier in a release is not put down to the next one."""
    starts = release_starts(points)
    bounds = sorted({0, *starts, *change_indices, len(points)})
    values = [p.value for p in points]
    steps = []
    for lo, index, hi in zip(bounds, bounds[1:-1], bounds[2:]):
        if index not in starts:
            continue
        old, new = points[index - 1], points[index]
        changes = tuple(
            f"{key} {getattr(old, key) or '?'} -> {getattr(new, key) or '?'}"
            for key in RELEASE_KEYS
            if getattr(old, key) != getattr(new, key)
        )
        steps.append(KnownStep(index, changes, _relative(values[lo:index], values[index:hi])))
    return steps


def analyse(
    s: Series,
    alpha: float = changepoints.DEFAULT_ALPHA,
    permutations: int = changepoints.DEFAULT_PERMUTATIONS,
    min_size: int = changepoints.DEFAULT_MIN_SIZE,
    seed: int | None = 0,
) -> History:
    """The known steps of a series and the change points within its release segments.

    Each release segment is searched on its own (log values, `e_divisive` with these
    arguments and the same seed, so a segment's verdict does not depend on the others).
    """
    values = [p.value for p in s.points]
    changes = []
    for lo, hi in itertools.pairwise([0, *release_starts(s.points), len(values)]):
        found = changepoints.e_divisive(np.log(values[lo:hi]), alpha, permutations, min_size, seed)
        edges = [lo, *(lo + cp.index for cp in found), hi]
        for cp, start, index, stop in zip(found, edges, edges[1:-1], edges[2:]):
            change = _relative(values[start:index], values[index:stop])
            # A change of spread can leave the medians equal: then the log means decide.
            later_higher = change > 0 or (change == 0 and cp.mean_after > cp.mean_before)
            changes.append(
                Change(
                    index,
                    "regression" if later_higher else "improvement",
                    cp.p_value,
                    change,
                    s.points[index - 1].commit,
                    s.points[index].commit,
                )
            )
    steps = known_steps(s.points, (c.index for c in changes))
    return History(s, tuple(steps), tuple(changes))
