"""Recorded perf runs as the gate reads them: files, saved names, and sets of runs.

One pytest session of the benchmarks is one *run* (its servers start once), saved by
pytest-benchmark as one JSON file. A *run set* is several such runs of one build: a
baseline recorded with `peoplenet-gate record NAME` is every run saved under NAME, and so
is the current side of a check. Each benchmark of a run is read back as the MeasuredRun
it recorded (pnsuite.measure.records.measured_run), labelled with the benchmark and the file:
one value per metric (SERIES_METRICS), and whether others took the CPU meanwhile.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pnsuite.errors import SuiteError
from pnsuite.measure import records
from pnsuite.measure.run import COMPUTE_INFER_MS, INFERENCE_MS, LATENCY_P99_MS, ROUND_S, MeasuredRun

#: what each benchmark of a run file gives per run (MeasuredRun.metric): its median round
#: time (what pytest-benchmark records), the mean time per inference over the counted
#: windows (the gate's metric, pnsuite.verdict.verdicts.GATED), the server's compute_infer
#: time per inference and the client's p99 latency
SERIES_METRICS = (ROUND_S, INFERENCE_MS, COMPUTE_INFER_MS, LATENCY_P99_MS)

#: the labels of a run read back from a record: the benchmark's fullname, and the file
#: (or results-store row) it came from
BENCHMARK = "benchmark"
SOURCE = "source"

_RECORD_HINT = (
    "re-record it: `peoplenet-gate record NAME` (or a pytest run with "
    "`--benchmark-save=NAME --benchmark-save-data`)"
)


class RunFileError(SuiteError):
    """A run file is missing, unreadable, or not a pytest-benchmark run."""

    default_hint = _RECORD_HINT


def read_run(path: Path) -> dict[str, Any]:
    """A pytest-benchmark run from its JSON file, or a RunFileError saying what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RunFileError(f"{path}: not a text file, so not a pytest-benchmark run") from None
    except OSError as err:
        raise RunFileError(
            f"{path}: cannot be read ({err.strerror or err})", "check the path and its permissions"
        ) from None
    if not text.strip():
        raise RunFileError(f"{path}: empty (a run interrupted while saving?)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise RunFileError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: "
            f"{err.msg}); truncated? a run interrupted while saving leaves part "
            "of a file"
        ) from None
    problem = _run_problem(data)
    if problem:
        raise RunFileError(
            f"{path}: JSON, but not a pytest-benchmark run ({problem})",
            "give a file written by --benchmark-json or saved by --benchmark-save",
        )
    return data


def _run_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return f"the top level is a {type(data).__name__}, not an object"
    if not isinstance(data.get("benchmarks"), list):
        return 'no "benchmarks" list'
    if not isinstance(data.get("machine_info", {}), dict):
        return '"machine_info" is not an object'
    for i, bench in enumerate(data["benchmarks"]):
        if not isinstance(bench, dict) or not isinstance(bench.get("fullname"), str):
            return f'benchmark {i} has no "fullname"'
    return None


def saved_runs(name: str, storage: Path) -> list[Path]:
    """Every run saved under exactly `name` in pytest-benchmark's storage
    (`<storage>/<machine>/NNNN_<name>.json`), oldest first."""
    root = Path(storage)
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.glob(f"*/[0-9]*_{name}.json")
        if p.stem.split("_", 1)[1] == name and p.stem.split("_", 1)[0].isdigit()
    ]
    return sorted(found, key=lambda p: (p.name, str(p.parent)))


def resolve(ref: str, storage: Path) -> list[Path]:
    """The run files `ref` names: a JSON file, a directory of them, or a saved name."""
    path = Path(ref)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise RunFileError(f"{path}: a directory without run files (*.json)")
        return files
    if ref.endswith(".json"):
        raise RunFileError(
            f"no such file: {ref}", "record the runs first: `peoplenet-gate record NAME`"
        )
    found = saved_runs(ref, storage)
    if not found:
        raise RunFileError(
            f"no benchmark run {ref!r} in {storage}",
            f"record some with `peoplenet-gate record {ref}` (or save pytest runs "
            f"with --benchmark-save={ref} --benchmark-save-data), or give files",
        )
    return found


def benchmark_of(run: MeasuredRun) -> str:
    """The fullname of the benchmark a read-back run recorded."""
    return str(run.labels[BENCHMARK])


def source_of(run: MeasuredRun) -> Path:
    """The file (or results-store row) a read-back run came from."""
    return Path(run.labels[SOURCE])


def _saved_at(run: dict[str, Any]) -> float:
    """When pytest-benchmark saved the run (seconds since the epoch; 0.0 if it does not say)."""
    try:
        when = datetime.fromisoformat(str(run.get("datetime")))
    except ValueError:
        return 0.0
    # pytest-benchmark writes UTC without an offset
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def benchmark_runs(run: dict[str, Any], source: Path) -> list[MeasuredRun]:
    """Every benchmark of one pytest-benchmark run, read back as the MeasuredRun it
    recorded and labelled with its BENCHMARK and SOURCE."""
    info = run.get("machine_info", {})
    cores = int(
        info.get("cpu_count") or (info.get("cpu") or {}).get("count") or os.cpu_count() or 1
    )
    started = _saved_at(run)
    return [
        records.measured_run(
            bench, cores, started, {BENCHMARK: bench["fullname"], SOURCE: str(source)}
        )
        for bench in run["benchmarks"]
    ]


@dataclass
class RunSet:
    """Several runs of one build: the files, their machine_info, each benchmark's runs."""

    label: str
    files: list[Path]
    machine_infos: list[dict[str, Any]] = field(default_factory=list)
    benchmarks: dict[str, list[MeasuredRun]] = field(default_factory=dict)

    @property
    def machine_info(self) -> dict[str, Any]:
        return self.machine_infos[0] if self.machine_infos else {}

    def runs_of(self, benchmark: str, include_disturbed: bool = False) -> list[MeasuredRun]:
        runs = self.benchmarks.get(benchmark, [])
        return runs if include_disturbed else [r for r in runs if not r.disturbed]

    def disturbed(self) -> list[MeasuredRun]:
        return [r for runs in self.benchmarks.values() for r in runs if r.disturbed]

    def probes(self) -> list[float]:
        """One runner-speed probe per run (the median over its undisturbed benchmarks), for
        the runs that recorded it."""
        per_run: dict[Path, list[float]] = {}
        for runs in self.benchmarks.values():
            for r in runs:
                if r.probe_ms and not r.disturbed:
                    per_run.setdefault(source_of(r), []).append(r.probe_ms)
        return [statistics.median(v) for v in per_run.values()]


def load_set(refs: Sequence[str], storage: Path, label: str = "") -> RunSet:
    """The runs every ref names (files, directories, saved names), as one set."""
    files: list[Path] = []
    for ref in refs:
        files += [f for f in resolve(ref, storage) if f not in files]
    return set_of(label or " ".join(refs), [(path, read_run(path)) for path in files])


def set_of(label: str, runs: Sequence[tuple[Path, dict[str, Any]]]) -> RunSet:
    """A run set of (where it came from, pytest-benchmark document) pairs: files, or runs
    from the results store (pnsuite.store)."""
    result = RunSet(label, [path for path, _ in runs])
    for path, run in runs:
        result.machine_infos.append(run.get("machine_info", {}))
        for bench in benchmark_runs(run, path):
            result.benchmarks.setdefault(benchmark_of(bench), []).append(bench)
    return result
