"""Synthetic pytest-benchmark documents shaped like the suite's own runs on Jetson boards,
for the results store's tests and its benchmark (benchmarks/results_store/bench.py).

Every document is built from a seed, so a process that writes one and a process that
checks it build the same dict; documents with different seeds differ (the store keys a
run by the digest of its document).
"""

from __future__ import annotations

import hashlib
import random
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

#: the pytest-benchmark version the documents claim to come from
PYTEST_BENCHMARK_VERSION = "5.2.3"


@dataclass(frozen=True)
class Board:
    """A Jetson module as the suite's machine_info names it."""

    model: str
    soc: str
    cpu_count: int
    power_mode: str
    power_mode_id: int


@dataclass(frozen=True)
class Release:
    """A JetPack release with the L4T and Triton that come with it."""

    jetpack: str
    l4t: str
    triton: str
    tensorrt: str


AGX_ORIN = Board("NVIDIA Jetson AGX Orin", "tegra234", 12, "MAXN", 0)
ORIN_NX = Board("NVIDIA Jetson Orin NX", "tegra234", 8, "MAXN", 0)
BOARDS = (AGX_ORIN, ORIN_NX)

RELEASES = (
    Release("5.1.2", "35.4.1", "2.40.0", "8.5.2.2"),
    Release("6.0", "36.3.0", "2.46.0", "8.6.2.3"),
    Release("6.1", "36.4.0", "2.49.0", "10.3.0.30"),
)

#: (repository, concurrency) of the suite's throughput benchmarks
BENCHMARK_POINTS = (
    ("sample_1_instances", 1),
    ("sample_1_instances", 4),
    ("sample_2_dynamic_batching", 1),
    ("sample_2_dynamic_batching", 8),
    ("baseline_1_instance", 1),
    ("baseline_1_instance", 2),
)

_CPU_FLAGS = ["aes", "asimd", "asimddp", "asimdhp", "asimdrdm", "atomics", "cpuid", "crc32",
              "dcpop", "evtstrm", "fp", "fphp", "ilrcpc", "jscvt", "lrcpc", "paca", "pacg",
              "pmull", "sha1", "sha2", "uscat"]


def benchmark_fullname(repo: str, concurrency: int) -> str:
    """The fullname pytest gives the suite's throughput benchmark at one point."""
    return f"tests/perf/test_benchmarks.py::{benchmark_name(repo, concurrency)}"


def benchmark_name(repo: str, concurrency: int) -> str:
    return f"test_throughput[embedded-{repo}-c{concurrency}]"


#: the fullnames of BENCHMARK_POINTS, in order
BENCHMARK_FULLNAMES = tuple(benchmark_fullname(r, c) for r, c in BENCHMARK_POINTS)


def machine_info(board: Board, release: Release, clocks_pinned: bool = True) -> dict[str, Any]:
    """machine_info as the suite records it on a Jetson board (pytest-benchmark's keys plus
    the suite's identity, release and power keys)."""
    return {
        "node": f"{board.model.split()[-1].lower()}-runner",
        "processor": "aarch64", "machine": "aarch64",
        "python_compiler": "GCC 11.4.0", "python_implementation": "CPython",
        "python_implementation_version": "3.10.12", "python_version": "3.10.12",
        "python_build": ["main", "Nov 20 2023 15:14:05"],
        "release": f"5.15.136-tegra-{release.l4t}", "system": "Linux",
        "cpu": {"python_version": "3.10.12.final.0 (64 bit)", "cpuinfo_version": [9, 0, 0],
                "cpuinfo_version_string": "9.0.0", "arch": "ARM_8", "bits": 64,
                "count": board.cpu_count, "arch_string_raw": "aarch64",
                "brand_raw": "Cortex-A78AE", "flags": list(_CPU_FLAGS),
                "l2_cache_size": 3145728, "l3_cache_size": 6291456},
        "triton_version": release.triton, "tensorrt_version": release.tensorrt,
        "launcher": "embedded", "transport": "system_shm", "cpu_model": "Cortex-A78AE",
        "gpu": f"{board.model} (Ampere, {board.soc})", "cpu_count": board.cpu_count,
        "model_configs": {
            f"/opt/suite/model_repos/embedded/{repo}": {
                "digest": hashlib.sha256(f"{repo}@{release.jetpack}".encode()).hexdigest()[:16],
                "identity": "peoplenet-2.3.3-pruned-int8"}
            for repo in sorted({r for r, _ in BENCHMARK_POINTS})},
        "jetson": True, "jetson_model": board.model, "jetson_soc": board.soc,
        "l4t_release": release.l4t, "jetpack_release": release.jetpack,
        "jetpack_package": f"{release.jetpack}+b0",
        "jetson_release": f"JetPack {release.jetpack} (L4T R{release.l4t})",
        "nvpmodel_mode": board.power_mode, "nvpmodel_id": board.power_mode_id,
        "jetson_clocks": clocks_pinned, "jetson_identity_problems": [],
    }


def benchmark_entry(repo: str, concurrency: int, rng: random.Random, rounds: int = 5,
                    cores: int = 8, disturbed: bool = False) -> dict[str, Any]:
    """One throughput benchmark as pytest-benchmark saves it (with `--benchmark-save-data`:
    the rounds in stats.data) and the suite's extra_info."""
    base = 0.012 * (1 + 0.4 * (concurrency - 1)) * (0.8 if "batching" in repo else 1.0)
    data = [base * rng.lognormvariate(0.0, 0.08) for _ in range(rounds)]
    q1, _, q3 = statistics.quantiles(data, n=4) if len(data) > 1 else (data[0],) * 3
    mean = statistics.fmean(data)
    stddev = statistics.stdev(data) if len(data) > 1 else 0.0
    # a disturbed round: neighbours took more than a quarter of the cores
    foreign = [round(rng.uniform(0.0, 0.1) * cores, 3) for _ in range(rounds)]
    if disturbed:
        foreign[rng.randrange(rounds)] = round(0.6 * cores, 3)
    infer_ms = base * 1000 * 0.55 * rng.lognormvariate(0.0, 0.05)
    requests = 30 * concurrency
    return {
        "group": None,
        "name": benchmark_name(repo, concurrency),
        "fullname": benchmark_fullname(repo, concurrency),
        "params": {"triton_server": f"UNSERIALIZABLE[PosixPath('/opt/suite/model_repos/"
                                    f"embedded/{repo}')]", "concurrency": concurrency},
        "param": f"embedded-{repo}-c{concurrency}",
        "extra_info": {
            "throughput_infer_per_s": round(requests / sum(data), 3),
            "latency_p50_ms": round(infer_ms * 1.3, 3),
            "latency_p90_ms": round(infer_ms * 1.9, 3),
            "latency_p99_ms": round(infer_ms * 2.6, 3),
            "server_queue_ms": round(rng.uniform(0.02, 0.2) * concurrency, 3),
            "server_compute_input_ms": round(rng.uniform(0.5, 1.2), 3),
            "server_compute_infer_ms": round(infer_ms, 3),
            "server_compute_output_ms": round(rng.uniform(0.1, 0.3), 3),
            "inference_count": requests, "execution_count": requests,
            "batch_size_histogram": {"1": requests},
            "repo": repo, "instance_count": 2 if "2_" in repo else 1,
            "dynamic_batching": "batching" in repo, "concurrency": concurrency,
            "transport": "system_shm", "model_config_digest": f"{rng.getrandbits(64):016x}",
            "foreign_cpu_cores_per_round": foreign,
            "foreign_cpu_cores": max(foreign),
        },
        "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": rounds,
                    "max_time": 1.0, "min_time": 5e-06, "warmup": False},
        "stats": {
            "min": min(data), "max": max(data), "mean": mean, "stddev": stddev,
            "rounds": rounds, "median": statistics.median(data), "iqr": q3 - q1,
            "q1": q1, "q3": q3, "iqr_outliers": 0, "stddev_outliers": 1, "outliers": "1;0",
            "ld15iqr": min(data), "hd15iqr": max(data), "ops": 1 / mean,
            "total": sum(data), "data": data, "iterations": 1,
        },
    }


def run_document(board: Board, release: Release, commit: str, when: datetime, seed: int,
                 benchmarks: int = 4, rounds: int = 5, disturbed: bool = False,
                 points: tuple[tuple[str, int], ...] | None = None) -> dict[str, Any]:
    """One pytest-benchmark document: a session of the suite on `board` under `release`,
    built from `commit`, saved at `when` (UTC). `points` (default: the first `benchmarks`
    of BENCHMARK_POINTS) chooses the benchmarks; `disturbed` puts a busy round in the
    first one (the store flags the run from it)."""
    rng = random.Random(seed)
    chosen = points if points is not None else BENCHMARK_POINTS[:benchmarks]
    entries = [benchmark_entry(repo, concurrency, rng, rounds, board.cpu_count,
                               disturbed and i == 0)
               for i, (repo, concurrency) in enumerate(chosen)]
    return {
        "machine_info": machine_info(board, release),
        "commit_info": {"id": commit, "time": when.replace(microsecond=0).isoformat(),
                        "author_time": when.replace(microsecond=0).isoformat(),
                        "dirty": False, "project": "peoplenet-triton-suite",
                        "branch": "main"},
        "benchmarks": entries,
        "datetime": when.astimezone(timezone.utc).isoformat(),
        "version": PYTEST_BENCHMARK_VERSION,
    }


def many_benchmarks_document(count: int, seed: int = 0) -> dict[str, Any]:
    """A document with `count` benchmarks (each point repeated under new concurrencies), for
    a write that takes long enough to be interrupted."""
    points = tuple((BENCHMARK_POINTS[i % len(BENCHMARK_POINTS)][0], i + 1)
                   for i in range(count))
    return run_document(AGX_ORIN, RELEASES[-1], commit_id(seed), datetime(
        2026, 12, 1, 8, 0, tzinfo=timezone.utc), seed, points=points)


def writer_documents(writer: int, count: int) -> list[dict[str, Any]]:
    """The `count` runs that writer number `writer` of several at once stores (4 benchmarks
    of 5 rounds each), none like another writer's."""
    start = datetime(2026, 10, 1, tzinfo=timezone.utc) + timedelta(days=writer)
    return [run_document(BOARDS[writer % len(BOARDS)], RELEASES[n % len(RELEASES)],
                         commit_id(writer), start + timedelta(seconds=n),
                         seed=1_000_000 + writer * 10_000 + n)
            for n in range(count)]


def commit_id(n: int) -> str:
    """A 40-hex-digit commit id, different for each n."""
    return f"{random.Random(f'commit-{n}').getrandbits(160):040x}"


@dataclass(frozen=True)
class FleetRun:
    """One synthetic run of a fleet, with what built it (what queries select on)."""

    document: dict[str, Any]
    board: Board
    release: Release
    commit: str
    label: str
    when: datetime
    disturbed: bool


def fleet_runs(count: int, start: datetime, step: timedelta, seed: int = 0,
               runs_per_commit: int = 5, disturbed_every: int = 0) -> Iterator[FleetRun]:
    """`count` runs in time order, `step` apart from `start`, over both boards: each board
    runs each commit `runs_per_commit` times (label "jp<jetpack>-<commit[:8]>"), the
    JetPack release moving on every third of the runs; every `disturbed_every`-th run
    (0: none) is disturbed."""
    for i in range(count):
        board = BOARDS[i % len(BOARDS)]
        release = RELEASES[min(len(RELEASES) - 1, i * len(RELEASES) // count)]
        commit = commit_id(i // (len(BOARDS) * runs_per_commit))
        when = start + i * step
        disturbed = bool(disturbed_every) and i % disturbed_every == disturbed_every - 1
        yield FleetRun(run_document(board, release, commit, when, seed * 1_000_003 + i,
                                    disturbed=disturbed),
                       board, release, commit, f"jp{release.jetpack}-{commit[:8]}", when,
                       disturbed)
