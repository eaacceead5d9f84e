"""One sweep point measured on a ready server: a warm-up that sizes the rounds, then timed
rounds of a closed loop at the point's concurrency, with Triton's statistics over exactly
those rounds and the board's monitor running around them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from pnsuite.client.memory import Memory
from pnsuite.client.multiprocess_load import make_load
from pnsuite.perf import triton_stats
from pnsuite.server import TritonServer
from pnsuite.sweep import monitors
from pnsuite.sweep.points import PHASES, PointKey, SweepPoint

#: a round never sends more than this many requests, however fast the model is
MAX_ROUND_REQUESTS = 20000


@dataclass(frozen=True)
class PointPlan:
    """How each point is measured."""

    #: timed rounds per point (rounds share one server start: the noise across
    #: independent runs is what the sweep's confirmation measures)
    rounds: int = 3
    #: the length a round aims at, seconds: its request count comes from the warm-up's rate
    round_s: float = 2.0
    #: where request tensors travel
    memory: Memory = Memory.SYSTEM
    load_processes: int = 1
    #: a resolved monitor kind (pnsuite.sweep.monitors)
    monitor: str = "none"

    def round_requests(self, concurrency: int, warm_rate: float) -> int:
        """Requests per timed round: `round_s` at the warm-up's rate, at least two per
        worker so every worker is busy for the whole round."""
        wanted = int(warm_rate * self.round_s)
        return max(2 * concurrency, min(wanted, MAX_ROUND_REQUESTS))


def measure_point(server: TritonServer, key: PointKey, plan: PointPlan, tensor: np.ndarray,
                  model: str = "peoplenet") -> SweepPoint:
    """Measure `key` on `server`, which already serves `key.variant`."""
    began = time.monotonic()
    measured_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    c = key.concurrency
    with server.grpc_client() as client, \
            make_load(server.grpc_url, tensor, c, plan.memory,
                      plan.load_processes, model) as load:
        start = triton_stats.snapshot(client, model)
        warm_requests = max(2 * c, 4)
        warm = load.run(warm_requests)
        before = start + triton_stats.wait_for_delta(client, model, start, warm_requests)
        requests = plan.round_requests(c, warm.throughput)
        monitor = monitors.start_monitor(plan.monitor)
        rounds, latencies = [], []
        try:
            for _ in range(plan.rounds):
                done = load.run(requests)
                rounds.append(done.throughput)
                latencies.extend(done.latencies_s)
        finally:
            summary = monitor.stop() if monitor is not None else None
        delta = triton_stats.wait_for_delta(client, model, before, plan.rounds * requests)
    lat_ms = np.asarray(latencies) * 1e3
    return SweepPoint(key, rounds_throughput=[round(r, 3) for r in rounds],
                      latency_p50_ms=float(np.percentile(lat_ms, 50)),
                      latency_p99_ms=float(np.percentile(lat_ms, 99)),
                      per_inference_ms={p: round(delta.per_inference_ms(p), 4) for p in PHASES},
                      batch_sizes=dict(delta.batches), inferences=delta.inference_count,
                      executions=delta.execution_count,
                      platform=monitors.platform_of(plan.monitor, summary),
                      measured_at=measured_at, seconds=round(time.monotonic() - began, 2))
