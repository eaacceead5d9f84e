"""One independent run of a benchmark, measured against a ready server.

A *run* is the unit the gate reasons about (pnsuite/perf/verdicts.py): a server start, a
warm-up, then a few timed rounds of the same closed-loop load. Rounds inside one run share
the server's start-up luck (memory layout, which core its threads landed on, a neighbour,
the clock state), so they are summarised into one value per run; only runs are treated
as independent.

The A/B command and the gate's error-rate benchmark measure runs with `measure_run`; the
pytest benchmarks record the same quantities through pytest-benchmark
(tests/perf/test_benchmarks.py) and `pnsuite.perf.runsets` reads them back as runs.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pnsuite.client.load import Load
from pnsuite.perf import triton_stats
from pnsuite.perf.answer_check import check_answers
from pnsuite.perf.cpu_load import ForeignLoad
from pnsuite.repository.model_config import loaded_config, model_identity
from pnsuite.server import TritonServer

#: What the gate compares per run, lower is better for each: the median round time
#: (the recorded benchmark), the server's compute_infer time per inference (what the
#: model itself costs, free of client and transport), and the client's p99 latency.
METRICS = ("round_s", "compute_infer_ms", "latency_p99_ms")


@dataclass
class RunSample:
    """One run's figures: the rounds, and what they add up to per metric."""

    rounds_s: list[float]
    compute_infer_ms: float
    latency_p99_ms: float
    #: CPU that processes other than the suite's used during each round, in cores
    foreign_cores: list[float] = field(default_factory=list)
    #: the machine's CPU count when the run was measured
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    #: wall-clock time the run began (seconds since the epoch)
    started: float = field(default_factory=time.time)
    #: the runner-speed probe measured beside the run (pnsuite.perf.runner_speed), in ms
    probe_ms: float | None = None
    #: free-form labels a caller adds (side, block, condition...)
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def round_s(self) -> float:
        """The run's median round time: one value per run for the round-time metric."""
        return statistics.median(self.rounds_s)

    def metric(self, name: str) -> float:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
        return float(getattr(self, name))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunSample":
        return cls(**data)


def measure_run(server: TritonServer, load: Load, requests: int, rounds: int,
                warmup: int = 1, model: str = "peoplenet") -> RunSample:
    """`warmup` uncounted rounds, then `rounds` timed rounds of `requests` requests each on
    `load` (a closed loop against `server`), with the foreign CPU of every round and the
    server's statistics over the timed rounds."""
    if rounds < 1 or requests < load.concurrency:
        raise ValueError(f"need rounds >= 1 and requests >= concurrency, got {rounds} and "
                         f"{requests} (concurrency {load.concurrency})")
    began = time.time()
    with server.grpc_client() as client:
        # A model that answers nothing must not be measured as if it worked.
        check_answers(server.grpc_url, model_identity(loaded_config(client, model)), model=model)
        start = triton_stats.snapshot(client, model)
        for _ in range(warmup):
            load.run(requests)
        before = start + triton_stats.wait_for_delta(client, model, start, warmup * requests)
        times, foreign, latencies = [], [], []
        for _ in range(rounds):
            with ForeignLoad() as neighbours:
                done = load.run(requests)
            times.append(done.total_s)
            foreign.append(round(neighbours.cores, 3))
            latencies.extend(done.latencies_s)
        delta = triton_stats.wait_for_delta(client, model, before, rounds * requests)
    return RunSample(rounds_s=times,
                     compute_infer_ms=delta.per_inference_ms("compute_infer"),
                     latency_p99_ms=float(np.percentile(latencies, 99)) * 1e3,
                     foreign_cores=foreign, started=began)
