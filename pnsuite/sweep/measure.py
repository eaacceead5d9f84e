"""One sweep point measured on a ready server by the measurement engine (pnsuite.measure):
its run at the point's concurrency, with the board's monitor around the windows, as the
SweepPoint the rest of the sweep reads."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from pnsuite.client.image_set import ImageSet
from pnsuite.client.memory import Memory
from pnsuite.client.multiprocess_load import make_load
from pnsuite.measure.run import MeasuredRun, Measurement
from pnsuite.measure.windows import WindowPlan
from pnsuite.server import TritonServer
from pnsuite.sweep import monitors
from pnsuite.sweep.points import PHASES, Platform, PointKey, SweepPoint

#: a point's windows: the engine's, capped at 6 so that a point takes 4-7 s on a 2-core
#: machine (a grid has dozens of points; the leaders are confirmed in independent runs)
POINT_WINDOWS = WindowPlan(max_windows=6)


@dataclass(frozen=True, kw_only=True)
class PointPlan:
    """How each point is measured: the engine's windows, and the load around them."""

    windows: WindowPlan = POINT_WINDOWS
    #: where request tensors travel
    memory: Memory = Memory.SYSTEM
    load_processes: int = 1
    #: a resolved monitor kind (pnsuite.sweep.monitors)
    monitor: str = "none"


def measure_point(
    server: TritonServer,
    key: PointKey,
    plan: PointPlan,
    tensor: ImageSet | np.ndarray,
    model: str = "peoplenet",
) -> SweepPoint:
    """Measure `key` on `server`, which already serves `key.variant`, with a load of
    `tensor` (one tensor, or a set of images whose answers are checked under load)."""
    began = time.monotonic()
    measured_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with (
        make_load(
            server.grpc_url, tensor, key.concurrency, plan.memory, plan.load_processes, model
        ) as load,
        Measurement(server, load, plan.windows, model=model) as measurement,
    ):
        measurement.warm_up()
        monitor = monitors.start_monitor(plan.monitor)
        try:
            measurement.settle()
        finally:
            summary = monitor.stop() if monitor is not None else None
        run = measurement.result()
    return point_of(
        key, run, monitors.platform_of(plan.monitor, summary), measured_at, time.monotonic() - began
    )


def point_of(
    key: PointKey, run: MeasuredRun, platform: Platform, measured_at: str, seconds: float
) -> SweepPoint:
    """The sweep point of the engine's `run` of `key`: its figures over the counted
    windows, Triton's statistics among them."""
    stats = run.server_stats
    return SweepPoint(
        key,
        throughput=round(run.throughput, 3),
        windows_throughput=[round(w.throughput, 3) for w in run.windows],
        windows_counted=run.counted,
        stable=run.stable,
        latency_p50_ms=run.latency_p50_ms,
        latency_p99_ms=run.latency_p99_ms,
        per_inference_ms={p: stats[f"{p}_ms_per_inference"] for p in PHASES},
        batch_sizes={int(size): n for size, n in stats["batch_sizes"].items()},
        inferences=stats["inference_count"],
        executions=stats["execution_count"],
        platform=platform,
        measured_at=measured_at,
        seconds=round(seconds, 2),
    )
