"""One measured run: the unit of evidence of every verdict.

A run is one server start's measurement: a warm-up, then time windows of a closed-loop
load until they are stable (pnsuite/measure/windows.py), with the server's statistics
taken over exactly the windows that count, the CPU that other processes took in each
window, and, if asked, the runner-speed probe beside it. Windows inside one run share the
server's start-up luck, so they are summarised into one value per metric; only runs are
independent samples of a build.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pnsuite.client.load import Load
from pnsuite.detection import goldens
from pnsuite.measure.windows import WindowPlan, stable_tail
from pnsuite.perf import runner_speed, triton_stats
from pnsuite.perf.answer_check import check_answers
from pnsuite.perf.cpu_load import ForeignLoad
from pnsuite.repository.model_config import loaded_config, model_identity
from pnsuite.server import TritonServer

#: mean time per inference over the counted windows (1000 / throughput): the gated metric
INFERENCE_MS = "inference_ms"
#: the client's 99th-percentile request latency over the counted windows
LATENCY_P99_MS = "latency_p99_ms"
#: the server's compute_infer time per inference over the counted windows (what the model
#: itself costs, free of client and transport): shown, not gated
COMPUTE_INFER_MS = "compute_infer_ms"
METRICS = (INFERENCE_MS, LATENCY_P99_MS, COMPUTE_INFER_MS)


@dataclass(frozen=True)
class Window:
    """One time window of the load: its requests, wall time, p99 and the CPU others took."""

    requests: int
    seconds: float
    latency_p99_ms: float
    foreign_cores: float

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


@dataclass
class MeasuredRun:
    """A run's windows and what the counted ones (the last `counted`) add up to."""

    concurrency: int
    windows: list[Window]
    #: how many of the last windows count (the stable tail, or the last ones at the cap)
    counted: int
    #: whether the counted windows agreed within the plan's tolerance
    stable: bool
    inference_ms: float
    latency_p99_ms: float
    compute_infer_ms: float
    #: Triton's statistics over the counted windows (ModelStats.summary())
    server_stats: dict[str, Any] = field(default_factory=dict)
    #: the machine's CPU count when the run was measured
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    #: wall-clock time the run began (seconds since the epoch)
    started: float = field(default_factory=time.time)
    #: seconds the server took to become ready, where the caller started it
    start_s: float | None = None
    #: the runner-speed probe measured beside the run (pnsuite.perf.runner_speed), in ms
    probe_ms: float | None = None
    #: free-form labels a caller adds (side, pair, block, condition...)
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def counted_windows(self) -> list[Window]:
        return self.windows[-self.counted:]

    @property
    def foreign_cores(self) -> list[float]:
        """CPU others took in each counted window, in cores."""
        return [w.foreign_cores for w in self.counted_windows]

    @property
    def throughput(self) -> float:
        return 1e3 / self.inference_ms if self.inference_ms > 0 else 0.0

    @property
    def measured_s(self) -> float:
        return sum(w.seconds for w in self.windows)

    def metric(self, name: str) -> float:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
        return float(getattr(self, name))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "MeasuredRun":
        data = dict(data)
        data["windows"] = [Window(**w) for w in data.get("windows", [])]
        return cls(**data)


def _warm_up(load: Load, plan: WindowPlan) -> tuple[float, int]:
    """Run the load for at least `plan.warmup_s`, doubling the requests each time: the
    rate (requests per second) of the last part, which calibrates the windows, and the
    requests sent in all."""
    requests, sent, began = load.concurrency, 0, time.monotonic()
    while True:
        done = load.run(requests)
        sent += done.requests
        rate = done.requests / done.total_s if done.total_s > 0 else 0.0
        if time.monotonic() - began >= plan.warmup_s or done.total_s >= plan.seconds:
            return rate, sent
        requests *= 2


def measure(server: TritonServer, load: Load, plan: WindowPlan = WindowPlan(),
            model: str = "peoplenet", probe: bool = False,
            goldens_dir: Path = goldens.DETECTIONS_DIR) -> MeasuredRun:
    """Measure one run of `load` (a closed loop against `server`): answers checked once,
    a warm-up, then windows until `plan` says they are stable, with Triton's statistics
    over the counted windows. `probe`: measure the runner-speed probe after the windows,
    with the server up and idle."""
    began = time.time()
    with server.grpc_client() as client:
        # A model that answers nothing must not be measured as if it worked.
        identity = model_identity(loaded_config(client, model))
        check_answers(server.grpc_url, identity, goldens_dir, model=model)
        start = triton_stats.snapshot(client, model)
        rate, warm_up = _warm_up(load, plan)
        requests = plan.requests_per_window(rate, load.concurrency)
        # Statistics are counted just after responses go out: wait for the warm-up's.
        edges = [start + triton_stats.wait_for_delta(client, model, start, warm_up)]
        windows: list[Window] = []
        latencies: list[np.ndarray] = []
        while len(windows) < plan.max_windows:
            with ForeignLoad() as neighbours:
                done = load.run(requests)
            windows.append(Window(done.requests, done.total_s, done.latency_ms(99),
                                  round(neighbours.cores, 3)))
            latencies.append(np.asarray(done.latencies_s))
            edges.append(edges[-1] + triton_stats.wait_for_delta(
                client, model, edges[-1], done.requests))
            if stable_tail([w.throughput for w in windows], plan):
                break
    stable = stable_tail([w.throughput for w in windows], plan)
    counted = min(plan.stable, len(windows))
    tail = windows[-counted:]
    delta = edges[-1] - edges[-1 - counted]
    seconds, served = sum(w.seconds for w in tail), sum(w.requests for w in tail)
    p99 = float(np.percentile(np.concatenate(latencies[-counted:]), 99)) * 1e3
    return MeasuredRun(
        concurrency=load.concurrency, windows=windows, counted=counted, stable=stable,
        inference_ms=seconds / served * 1e3, latency_p99_ms=p99,
        compute_infer_ms=delta.per_inference_ms("compute_infer"),
        server_stats=delta.summary(), started=began,
        probe_ms=runner_speed.probe_ms() if probe else None)
