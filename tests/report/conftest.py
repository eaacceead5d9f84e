"""Synthetic inputs of the three reports: a sweep document (3 configurations x 4
concurrencies, a failed point, a throttled one, power on some, confirmation runs), two run
sets of pytest-benchmark documents with the gate's report on them, and a benchmark history
with a regression and a release step."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pnsuite.client.memory import Memory
from pnsuite.history import history
from pnsuite.measure import runsets
from pnsuite.sweep.points import (
    Batching,
    BestVsRunnerUp,
    Candidate,
    Confirmation,
    Platform,
    PointKey,
    SweepDocument,
    SweepPoint,
    Variant,
)
from pnsuite.verdict import gate, verdicts
from tests.store import documents

VARIANTS = (Variant(1), Variant(2), Variant(2, Batching(True, 100, (4, 8))))
CONCURRENCIES = (1, 2, 4, 8)
#: the point whose variant failed to load, and the one measured below its clock
FAILED = "i1-boff-c8"
THROTTLED = "i2-boff-c4"
P99_LIMIT_MS = 400.0
BEST_CONFIG = """name: "peoplenet"
max_batch_size: 8
instance_group [ { count: 2, kind: KIND_GPU } ]
dynamic_batching { max_queue_delay_microseconds: 100, preferred_batch_size: [ 4, 8 ] }
"""


def _point(variant: Variant, concurrency: int, power: bool) -> SweepPoint:
    """A plausible point: throughput that saturates with concurrency, more with more
    instances and with batching, latency growing with the queue."""
    key = PointKey(variant, concurrency)
    if key.label == FAILED:
        return SweepPoint(key, error="model failed to load: <instance 1> out of memory",
                          measured_at="2026-11-02T10:00:00+00:00", seconds=3.0)
    batching = variant.batching.enabled
    peak = 40.0 * variant.instances ** 0.7 * (1.35 if batching else 1.0)
    throughput = peak * concurrency / (concurrency + 1.5)
    p50 = 1e3 * concurrency / throughput
    infer = 1e3 / peak * variant.instances
    if batching:
        sizes = {1: 40, 2: 25 * concurrency, 4: 12 * concurrency, 8: 3 * concurrency}
    else:
        sizes = {1: 120 * concurrency}
    inferences = sum(size * n for size, n in sizes.items())
    throttled = key.label == THROTTLED
    platform = Platform(
        "tegrastats", power_w=(9.0 + 1.5 * variant.instances + 0.3 * concurrency
                               if power and variant.instances > 1 else None),
        gpu_clock_mhz=600.0 if throttled else 1300.0, gpu_clock_max_mhz=1300.0,
        temperature_c_max=55.0 + 2 * concurrency, samples=12)
    return SweepPoint(
        key, throughput=throughput,
        windows_throughput=[throughput * f for f in (0.9, 0.98, 1.0, 1.01)], windows_counted=3,
        stable=True,
        latency_p50_ms=p50, latency_p99_ms=p50 * 1.6,
        per_inference_ms={"queue": 0.4 * concurrency, "compute_input": 0.9,
                          "compute_infer": infer, "compute_output": 0.3},
        batch_sizes=sizes, inferences=inferences, executions=sum(sizes.values()),
        platform=platform, measured_at="2026-11-02T10:00:00+00:00", seconds=20.0)


def _pareto(points: list[SweepPoint]) -> list[str]:
    """Labels of the points no other beats on both throughput and p99, lowest p99 first."""
    front, best = [], -math.inf
    for p in sorted(points, key=lambda p: (p.latency_p99_ms, -p.throughput)):
        if p.throughput > best:
            front.append(p.key.label)
            best = p.throughput
    return front


def make_sweep_document(power: bool = True, confirmation: bool = True,
                        repository: str = "model_repos/embedded/sample_1_instances",
                        ) -> SweepDocument:
    """The synthetic sweep: every point of VARIANTS x CONCURRENCIES, ranked by throughput
    with p99 <= P99_LIMIT_MS."""
    points = [_point(v, c, power) for v in VARIANTS for c in CONCURRENCIES]
    ok = [p for p in points if p.ok]
    feasible = sorted((p for p in ok if p.latency_p99_ms <= P99_LIMIT_MS),
                      key=lambda p: -p.throughput)
    ranking = [p.key.label for p in feasible]
    doc = SweepDocument(
        repository, model_identity="peoplenet-2.3.3-pruned-int8", launcher="embedded",
        memory=Memory.SYSTEM,
        space={"instances": [1, 2], "batching": ["off", "on-d100-p4.8"],
               "concurrency": list(CONCURRENCIES)},
        search="brute", objective="max:throughput",
        constraints=[f"latency_p99_ms<={P99_LIMIT_MS:g}"],
        machine={"jetson": True, "jetson_model": "NVIDIA Jetson AGX Orin",
                 "jetpack_release": "6.1", "nvpmodel_mode": "MAXN",
                 "cpu": {"count": 12, "brand_raw": "Cortex-A78AE"}},
        started="2026-11-02T09:50:00+00:00", finished="2026-11-02T10:30:00+00:00",
        wall_s=2400.0, points=points, best=ranking[0], ranking=ranking, pareto=_pareto(ok),
        best_config=BEST_CONFIG)
    if confirmation:
        leaders = [doc.point(label) for label in ranking[:2]]
        candidates = [Candidate(p.key, [p.throughput * f for f in (0.97, 1.0, 1.02)])
                      for p in leaders]
        means = [verdicts.geometric_mean(c.runs_throughput) for c in candidates]
        ratio = means[0] / means[1]
        doc.confirmation = Confirmation(
            runs=3, candidates=tuple(candidates),
            best_vs_runner_up=BestVsRunnerUp(best=ranking[0], runner_up=ranking[1],
                                             ratio=ratio, low=ratio * 0.97,
                                             high=ratio * 1.03, verdict="distinct"))
    return doc


@pytest.fixture
def sweep_document() -> SweepDocument:
    return make_sweep_document()


@dataclass
class ComparisonInputs:
    """What the comparison report is given, and the folders the runs are in."""

    baseline: runsets.RunSet
    current: runsets.RunSet
    report: gate.GateReport
    notes: list[str]
    baseline_dir: Path
    current_dir: Path
    golden_diff: Path


#: the current side slows this benchmark down by SLOWDOWN; the baseline's first benchmark
#: is missing from the current runs and the current side's last one is new
SLOWED = documents.BENCHMARK_FULLNAMES[1]
SLOWDOWN = 1.4
BASELINE_POINTS = documents.BENCHMARK_POINTS[:3]
CURRENT_POINTS = documents.BENCHMARK_POINTS[1:4]
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
GOLDEN_DIFF = """peoplenet-2.3.3-pruned-int8: 1 image changed
capture.jpg: lost person 0.91 at <412, 88, 530, 377>; moved person 0.85 by 14 px
"""


def _slowed(document: dict, fullname: str, factor: float) -> dict:
    """The document with one benchmark's rounds and server times scaled by `factor`."""
    for bench in document["benchmarks"]:
        if bench["fullname"] == fullname:
            stats = bench["stats"]
            stats["data"] = [x * factor for x in stats["data"]]
            for key in ("min", "max", "mean", "median", "q1", "q3", "total"):
                stats[key] *= factor
            for key in ("server_compute_infer_ms", "latency_p99_ms"):
                bench["extra_info"][key] *= factor
            bench["extra_info"]["throughput_infer_per_s"] /= factor
    return document


def _write_runs(folder: Path, docs: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n, doc in enumerate(docs, start=1):
        (folder / f"{n:04d}_run.json").write_text(json.dumps(doc))
    return folder


def build_comparison(folder: Path) -> ComparisonInputs:
    """A baseline of 4 runs under JetPack 6.0 and a current side of 5 under JetPack 6.1 (a
    new release, so the machines differ in their release keys), one benchmark slower, one
    missing, one new and one current run disturbed; with the gate's report on them."""
    board, old_release, new_release = documents.AGX_ORIN, documents.RELEASES[1], \
        documents.RELEASES[2]
    old = [documents.run_document(board, old_release, documents.commit_id(1),
                                  START + timedelta(hours=n), 100 + n, points=BASELINE_POINTS)
           for n in range(4)]
    new = [_slowed(documents.run_document(board, new_release, documents.commit_id(2),
                                          START + timedelta(days=1, hours=n), 200 + n,
                                          points=CURRENT_POINTS, disturbed=n == 4),
                   SLOWED, SLOWDOWN)
           for n in range(5)]
    baseline_dir = _write_runs(folder / "baseline", old)
    current_dir = _write_runs(folder / "current", new)
    baseline = runsets.load_set([str(baseline_dir)], folder, label="jp6.0")
    current = runsets.load_set([str(current_dir)], folder, label="jp6.1")
    notes = gate.check_sets(baseline, current, new_release=True)
    report = gate.compare_sets(baseline, current)
    golden = folder / "peoplenet-2.3.3-pruned-int8.diff.txt"
    golden.write_text(GOLDEN_DIFF)
    return ComparisonInputs(baseline, current, report, notes, baseline_dir, current_dir, golden)


@pytest.fixture
def comparison_inputs(tmp_path: Path) -> ComparisonInputs:
    return build_comparison(tmp_path)


#: run levels of the history: a 30% slowdown at run 7, a new release at run 14
HISTORY_RUNS, SLOWDOWN_AT, RELEASE_AT = 20, 7, 14


def write_history_runs(folder: Path) -> Path:
    """HISTORY_RUNS runs of one benchmark, an hour apart, as pytest-benchmark storage."""
    docs = []
    for i in range(HISTORY_RUNS):
        release = documents.RELEASES[1] if i < RELEASE_AT else documents.RELEASES[2]
        level = 1.0 if i < SLOWDOWN_AT else 1.3 if i < RELEASE_AT else 0.8
        doc = documents.run_document(documents.AGX_ORIN, release, documents.commit_id(i),
                                     START + timedelta(hours=i), 300 + i,
                                     points=documents.BENCHMARK_POINTS[:1])
        docs.append(_slowed(doc, documents.BENCHMARK_FULLNAMES[0], level))
    return _write_runs(folder / "Linux-CPython-3.10-64bit", docs).parent


@pytest.fixture
def history_storage(tmp_path: Path) -> Path:
    return write_history_runs(tmp_path / "benchmarks")


def analysed(storage: Path) -> list[history.History]:
    """The runs' analysed series, as `peoplenet-history` analyses them."""
    return [history.analyse(s) for s in history.series(history.load_runs(storage))]


@pytest.fixture
def histories(history_storage: Path) -> list[history.History]:
    """The history's one analysed series."""
    return analysed(history_storage)
