"""Recorded perf runs as the gate reads them: files, saved names, and sets of runs.

One pytest session of the benchmarks is one *run* (its servers start once), saved by
pytest-benchmark as one JSON file. A *run set* is several such runs of one build: a
baseline recorded with `peoplenet-gate record NAME` is every run saved under NAME, and so
is the current side of a check. Each benchmark of a run gives one value per metric
(SERIES_METRICS), and says whether others took the CPU meanwhile.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from pnsuite.errors import SuiteError
from pnsuite.perf import records

#: A round is disturbed when processes other than the suite's took more than this share
#: of the machine's cores during it: half a core on the 2-core CI machine, where the
#: stand-in's own work is one core per request in flight; 4 cores of a 16-core host.
DISTURBED_SHARE = 0.25

#: what each benchmark of a run file gives per run (from the keys pnsuite/perf/records.py
#: writes): its median round time (what pytest-benchmark records), the mean time per
#: inference over the counted windows (the gate's metric, pnsuite.perf.verdicts.GATED),
#: the server's compute_infer time per inference and the client's p99 latency
SERIES_METRICS = ("round_s", "inference_ms", "compute_infer_ms", "latency_p99_ms")

_RECORD_HINT = ("re-record it: `peoplenet-gate record NAME` (or a pytest run with "
                "`--benchmark-save=NAME --benchmark-save-data`)")


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
        raise RunFileError(f"{path}: cannot be read ({err.strerror or err})",
                           "check the path and its permissions") from None
    if not text.strip():
        raise RunFileError(f"{path}: empty (a run interrupted while saving?)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise RunFileError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: "
                           f"{err.msg}); truncated? a run interrupted while saving leaves part "
                           "of a file") from None
    problem = _run_problem(data)
    if problem:
        raise RunFileError(f"{path}: JSON, but not a pytest-benchmark run ({problem})",
                           "give a file written by --benchmark-json or saved by --benchmark-save")
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
    found = [p for p in root.glob(f"*/[0-9]*_{name}.json")
             if p.stem.split("_", 1)[1] == name and p.stem.split("_", 1)[0].isdigit()]
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
        raise RunFileError(f"no such file: {ref}",
                           "record the runs first: `peoplenet-gate record NAME`")
    found = saved_runs(ref, storage)
    if not found:
        raise RunFileError(f"no benchmark run {ref!r} in {storage}",
                           f"record some with `peoplenet-gate record {ref}` (or save pytest runs "
                           f"with --benchmark-save={ref} --benchmark-save-data), or give files")
    return found


@dataclass(frozen=True)
class BenchmarkRun:
    """One benchmark in one run: a value per metric, and how busy the neighbours were."""

    source: Path
    benchmark: str
    values: dict[str, float]
    #: the most CPU (cores) others used in any one round, and the machine's core count
    foreign_cores: float
    cores: int
    #: the runner-speed probe beside the benchmark (pnsuite.perf.runner_speed), if recorded
    probe_ms: float | None = None

    @property
    def disturbed(self) -> bool:
        return self.foreign_cores > DISTURBED_SHARE * self.cores


def benchmark_runs(run: dict[str, Any], source: Path) -> list[BenchmarkRun]:
    """The per-metric values of every benchmark of one run."""
    info = run.get("machine_info", {})
    cores = int(info.get("cpu_count") or (info.get("cpu") or {}).get("count") or os.cpu_count()
                or 1)
    found = []
    for bench in run["benchmarks"]:
        stats = bench.get("stats") if isinstance(bench.get("stats"), dict) else {}
        extra = bench.get("extra_info") or {}
        data = stats.get("data") or []
        values: dict[str, float] = {}
        if data:
            values["round_s"] = float(statistics.median(data))
        elif stats.get("median"):
            values["round_s"] = float(stats["median"])
        if extra.get(records.THROUGHPUT):
            values["inference_ms"] = 1e3 / float(extra[records.THROUGHPUT])
        for metric, key in (("compute_infer_ms", records.COMPUTE_INFER),
                            ("latency_p99_ms", records.LATENCY_P99)):
            if extra.get(key):
                values[metric] = float(extra[key])
        per_window = extra.get(records.FOREIGN_PER_WINDOW)
        foreign = (max(per_window) if per_window
                   else float(extra.get(records.FOREIGN_LEGACY, 0.0)))
        probe = extra.get(records.RUNNER_PROBE)
        found.append(BenchmarkRun(source, bench["fullname"], values, float(foreign), cores,
                                  float(probe) if probe else None))
    return found


@dataclass
class RunSet:
    """Several runs of one build: the files, their machine_info, each benchmark's runs."""

    label: str
    files: list[Path]
    machine_infos: list[dict[str, Any]] = field(default_factory=list)
    benchmarks: dict[str, list[BenchmarkRun]] = field(default_factory=dict)

    @property
    def machine_info(self) -> dict[str, Any]:
        return self.machine_infos[0] if self.machine_infos else {}

    def runs_of(self, benchmark: str, include_disturbed: bool = False) -> list[BenchmarkRun]:
        runs = self.benchmarks.get(benchmark, [])
        return runs if include_disturbed else [r for r in runs if not r.disturbed]

    def disturbed(self) -> list[BenchmarkRun]:
        return [r for runs in self.benchmarks.values() for r in runs if r.disturbed]

    def probes(self) -> list[float]:
        """One runner-speed probe per run (the median over its undisturbed benchmarks), for
        the runs that recorded it."""
        per_run: dict[Path, list[float]] = {}
        for runs in self.benchmarks.values():
            for r in runs:
                if r.probe_ms and not r.disturbed:
                    per_run.setdefault(r.source, []).append(r.probe_ms)
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
            result.benchmarks.setdefault(bench.benchmark, []).append(bench)
    return result
