"""One measured run: the unit of evidence of every verdict.

A run is one server start's measurement: the answers checked, a warm-up, then time
windows of a closed-loop load until they are stable (pnsuite/measure/windows.py), with
the server's statistics taken over exactly the windows that count, the CPU that other
processes took in each window, and, if asked, the runner-speed probe beside it. Windows
inside one run share the server's start-up luck, so they are summarised into one value
per metric; only runs are independent samples of a build.

Answers are checked under load too (pnsuite.measure.answers_under_load): at the start the
server's answer for each image of the load's set, sent alone, is its reference (taken
once per server; the answer check's capture.jpg serves as its own); every run of the
load (warm-up and windows) keeps a few responses per request slot, and they are compared
with their image's reference outside the timed part (the warm-up's after it, a window's
when it closes). A difference fails the run with
AnswersDifferUnderLoad, naming the image, the slot and request, and the window.

`Measurement` is the engine, step by step; `measure()` drives it in one call:

    with Measurement(server, load, plan) as m:
        m.warm_up()        # answers checked, warm-up, the window's request count set
        m.settle()         # windows until the last plan.stable agree (or max_windows)
    run = m.result()       # the MeasuredRun over the last plan.stable windows

pytest-benchmark drives it too (tests marked `recorded_benchmark`): after `settle()`,
outside the record, `benchmark.pedantic(**m.benchmark_rounds())` measures plan.stable
more windows as its rounds, one window a round, and `result()` counts exactly those.
Only each window's requests are timed (`send`): the foreign-CPU monitor opens in the
round's setup and closes, with the wait for Triton's statistics, in its teardown, so a
round's time is the window's own. Every window of a run sends the same number of
requests (calibrated once, from the warm-up), so round times compare. The run's
`stable` says whether the counted windows agreed; the windows before them only settle
the load (so a recorded benchmark measures at most max_windows + stable). A disabled
pytest-benchmark (`--benchmark-disable`, xdist) sends one window without its teardown:
`result()` closes it, and counts it with the windows before it.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pnsuite.client.load import ClosedLoopRun, Load
from pnsuite.client.samples import Sample
from pnsuite.detection import goldens
from pnsuite.measure import answers_under_load, runner_speed, triton_stats
from pnsuite.measure.answer_check import check_answers
from pnsuite.measure.cpu_load import ForeignLoad
from pnsuite.measure.windows import WindowPlan, stable_tail
from pnsuite.repository.model_config import (
    ModelConfig,
    answers_batch_invariant,
    loaded_config,
    model_identity,
)
from pnsuite.server import TritonServer

#: mean time per inference over the counted windows (1000 / throughput): the gated metric
INFERENCE_MS = "inference_ms"
#: the client's 99th-percentile request latency over the counted windows
LATENCY_P99_MS = "latency_p99_ms"
#: the server's compute_infer time per inference over the counted windows (what the model
#: itself costs, free of client and transport): shown, not gated
COMPUTE_INFER_MS = "compute_infer_ms"
#: the median counted window's wall time: pytest-benchmark's median round, and the only
#: figure of runs recorded before the engine (they kept no throughput)
ROUND_S = "round_s"
METRICS = (INFERENCE_MS, LATENCY_P99_MS, COMPUTE_INFER_MS, ROUND_S)

#: A run is disturbed when processes other than the suite's took more than this share of
#: the machine's cores in one of its counted windows: half a core on the 2-core CI
#: machine, where the stand-in's own work is one core per request in flight; 4 cores of a
#: 16-core host.
DISTURBED_SHARE = 0.25


@dataclass(frozen=True)
class Window:
    """One time window of the load: its requests, wall time, p99, the CPU others took and
    the CPU the load's own processes took."""

    requests: int
    seconds: float
    latency_p99_ms: float
    foreign_cores: float
    client_cpu_s: float = 0.0

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
    #: the runner-speed probe measured beside the run (pnsuite.measure.runner_speed), in ms
    probe_ms: float | None = None
    #: free-form labels a caller adds (side, pair, block, condition...)
    labels: dict[str, Any] = field(default_factory=dict)
    #: the client's median and 90th-percentile request latency over the counted windows
    latency_p50_ms: float = 0.0
    latency_p90_ms: float = 0.0
    #: what the answer checks found: before the warm-up (pnsuite.measure.answer_check) and
    #: under load (pnsuite.measure.answers_under_load)
    answer_check: str = ""
    #: sampled responses under load checked against their images' answers alone
    answers_checked_under_load: int = 0
    #: the names of the images the load cycled through (one for a single-tensor load)
    load_images: list[str] = field(default_factory=list)
    #: Triton's per batch size over the counted windows: executions and mean ms of each
    #: compute phase (ModelStats.batch_table())
    batch_stats: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def counted_windows(self) -> list[Window]:
        return self.windows[-self.counted :]

    @property
    def client_cpu_s(self) -> float:
        """CPU the load's own processes took over the counted windows."""
        return sum(w.client_cpu_s for w in self.counted_windows)

    @property
    def counted_requests(self) -> int:
        """Requests sent in the counted windows (what Triton's statistics there count)."""
        return sum(w.requests for w in self.counted_windows)

    @property
    def foreign_cores(self) -> list[float]:
        """CPU others took in each counted window, in cores."""
        return [w.foreign_cores for w in self.counted_windows]

    @property
    def peak_foreign_cores(self) -> float:
        """The most CPU others took in any one counted window, in cores."""
        return max(self.foreign_cores, default=0.0)

    @property
    def disturbed(self) -> bool:
        """Whether others took more than DISTURBED_SHARE of the cores in a counted window:
        such a run says more about its neighbours than about the build."""
        return self.peak_foreign_cores > DISTURBED_SHARE * self.cores

    @property
    def throughput(self) -> float:
        return 1e3 / self.inference_ms if self.inference_ms > 0 else 0.0

    @property
    def round_s(self) -> float:
        """The median counted window's wall time (0.0 without windows)."""
        counted = self.counted_windows
        return float(statistics.median(w.seconds for w in counted)) if counted else 0.0

    @property
    def measured_s(self) -> float:
        return sum(w.seconds for w in self.windows)

    def metric(self, name: str) -> float:
        """The figure of one of METRICS; 0.0 where the run has none (a run read back from
        a record that did not keep it)."""
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
        return float(getattr(self, name))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MeasuredRun:
        data = dict(data)
        data["windows"] = [Window(**w) for w in data.get("windows", [])]
        return cls(**data)


def _warm_up(load: Load, plan: WindowPlan) -> tuple[float, int, list[Sample]]:
    """Run the load for at least `plan.warmup_s`, doubling the requests each time: the
    rate (requests per second) of the last part, which calibrates the windows, the
    requests sent in all, and the responses the load kept."""
    requests, sent, began = load.concurrency, 0, time.monotonic()
    samples: list[Sample] = []
    while True:
        done = load.run(requests)
        sent += done.requests
        samples += done.samples
        rate = done.requests / done.total_s if done.total_s > 0 else 0.0
        if time.monotonic() - began >= plan.warmup_s or done.total_s >= plan.seconds:
            return rate, sent, samples
        requests *= 2


class Measurement:
    """One run of `load` (a closed loop against `server`), measured a step at a time (see
    the module's docstring): `warm_up()`, then windows (`settle()`, `window()`, or
    pytest-benchmark's rounds from `benchmark_rounds()`), then `result()`. A context
    manager: it holds a gRPC client for Triton's statistics until closed. `probe`:
    `result()` measures the runner-speed probe, with the server up and idle.
    `overlay_dir`: where a mismatch under load draws its overlay (none drawn if None)."""

    def __init__(
        self,
        server: TritonServer,
        load: Load,
        plan: WindowPlan = WindowPlan(),
        *,
        model: str = "peoplenet",
        probe: bool = False,
        goldens_dir: Path = goldens.DETECTIONS_DIR,
        overlay_dir: Path | None = None,
    ) -> None:
        self.server, self.load, self.plan, self.model = server, load, plan, model
        self.probe, self.goldens_dir, self.overlay_dir = probe, goldens_dir, overlay_dir
        #: the server's answer for each of the load's images sent alone (set by the warm-up)
        self.references: list[answers_under_load.Answer] = []
        #: sampled responses under load checked so far
        self.checked = 0
        #: every window measured so far, oldest first
        self.windows: list[Window] = []
        #: requests each window sends (set by the warm-up)
        self.requests = 0
        #: the model's config as the server loaded it, and what the answer check found
        self.config: ModelConfig | None = None
        self.answers = ""
        self._began = time.time()
        self._client: Any = None
        #: Triton's statistics after the warm-up and after each window, cumulative
        self._edges: list[triton_stats.ModelStats] = []
        self._latencies: list[np.ndarray] = []
        self._neighbours: ForeignLoad | None = None  # the open window's monitor
        self._sent: ClosedLoopRun | None = None  # the open window's requests, once sent
        self._probe_ms: float | None = None

    def __enter__(self) -> Measurement:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _stats_client(self) -> Any:
        if self._client is None:
            self._client = self.server.grpc_client()
        return self._client

    @property
    def stable(self) -> bool:
        """Whether the last `plan.stable` windows agree within the plan's tolerance."""
        return stable_tail([w.throughput for w in self.windows], self.plan)

    def warm_up(self) -> None:
        """Check the answers once, then warm up: the load runs for at least
        `plan.warmup_s`, and its last part's rate sets each window's request count.
        Triton's statistics are read before it and once it is counted."""
        if self._edges:
            raise RuntimeError("this measurement is warmed up already")
        client = self._stats_client()
        # A model that answers nothing must not be measured as if it worked.
        self.config = loaded_config(client, self.model)
        alone: list[answers_under_load.Alone] = []  # capture.jpg's answer: a reference
        self.answers = check_answers(
            self.server.grpc_url,
            model_identity(self.config),
            self.goldens_dir,
            model=self.model,
            on_answer=lambda *answer: alone.append(answer),
        )
        images = getattr(self.load, "images", None)  # a unit test's fake load sends none
        if images is not None:
            self.references = answers_under_load.references_for(
                self.server, images, self.model, alone
            )
        start = triton_stats.snapshot(client, self.model)
        rate, sent, samples = _warm_up(self.load, self.plan)
        self._check(samples, "warm-up")
        self.requests = self.plan.requests_per_window(rate, self.load.concurrency)
        # Statistics are counted just after responses go out: wait for the warm-up's.
        self._edges = [start + triton_stats.wait_for_delta(client, self.model, start, sent)]

    def _check(self, samples: list[Sample], where: str) -> None:
        """The sampled responses of `where` against their images alone (untimed)."""
        if not samples or not self.references:
            return
        tolerances = answers_under_load.tolerances_for(
            self.config is not None and answers_batch_invariant(self.config)
        )
        self.checked += answers_under_load.check_samples(
            samples, self.references, self.load.images, tolerances, where, self.overlay_dir
        )

    def settle(self) -> bool:
        """Windows until the last `plan.stable` agree or `plan.max_windows` are measured
        in all; whether they agree."""
        while not self.stable and len(self.windows) < self.plan.max_windows:
            self.window()
        return self.stable

    def window(self) -> Window:
        """One window: `open_window()`, `send()`, `close_window()`."""
        self.open_window()
        self.send()
        window = self.close_window()
        assert window is not None
        return window

    def open_window(self) -> None:
        """Start a window: the monitor of the CPU others take (untimed)."""
        if not self._edges:
            raise RuntimeError("warm_up() comes before the windows")
        if self._neighbours is not None:
            raise RuntimeError("a window is open already: close_window() first")
        self._neighbours = ForeignLoad().__enter__()

    def send(self) -> ClosedLoopRun:
        """The open window's requests: the part of a window a timer should time."""
        if self._neighbours is None or self._sent is not None:
            raise RuntimeError("send() comes once per window, after open_window()")
        self._sent = self.load.run(self.requests)
        return self._sent

    def close_window(self) -> Window | None:
        """End the open window (untimed): its monitor, and Triton's statistics once they
        count its requests. The window, or None when none was open or nothing was sent."""
        neighbours, done = self._neighbours, self._sent
        if neighbours is None:
            return None
        neighbours.__exit__(None, None, None)
        self._neighbours = self._sent = None
        if done is None:
            return None
        window = Window(
            done.requests,
            done.total_s,
            done.latency_ms(99),
            round(neighbours.cores, 3),
            round(done.cpu_s, 4),
        )
        self._check(done.samples, f"window {len(self.windows) + 1}")
        self.windows.append(window)
        self._latencies.append(np.asarray(done.latencies_s))
        self._edges.append(
            self._edges[-1]
            + triton_stats.wait_for_delta(
                self._stats_client(), self.model, self._edges[-1], done.requests
            )
        )
        return window

    def benchmark_rounds(self) -> dict[str, Any]:
        """Keyword arguments of pytest-benchmark's `benchmark.pedantic` for the counted
        windows: `plan.stable` rounds of one window each, no warm-up rounds (the warm-up
        is done), only the window's requests timed."""
        return {
            "target": self.send,
            "setup": self.open_window,
            "teardown": self.close_window,
            "rounds": self.plan.stable,
            "iterations": 1,
            "warmup_rounds": 0,
        }

    def result(self) -> MeasuredRun:
        """The run over the last `plan.stable` windows (all, if fewer were measured):
        throughput, latency percentiles, Triton's statistics over exactly those windows,
        and the probe (measured once, on the first call)."""
        self.close_window()  # a disabled pytest-benchmark leaves its one round's window open
        if not self.windows:
            raise RuntimeError("no window was measured")
        counted = min(self.plan.stable, len(self.windows))
        tail = self.windows[-counted:]
        delta = self._edges[-1] - self._edges[-1 - counted]
        seconds, served = sum(w.seconds for w in tail), sum(w.requests for w in tail)
        latencies = np.concatenate(self._latencies[-counted:])
        p50, p90, p99 = (float(np.percentile(latencies, p)) * 1e3 for p in (50, 90, 99))
        if self.probe and self._probe_ms is None:
            self._probe_ms = runner_speed.probe_ms()
        return MeasuredRun(
            concurrency=self.load.concurrency,
            windows=list(self.windows),
            counted=counted,
            stable=self.stable,
            inference_ms=seconds / served * 1e3,
            latency_p99_ms=p99,
            compute_infer_ms=delta.per_inference_ms("compute_infer"),
            server_stats=delta.summary(),
            started=self._began,
            probe_ms=self._probe_ms,
            latency_p50_ms=p50,
            latency_p90_ms=p90,
            answer_check=self._answer_summary(),
            answers_checked_under_load=self.checked,
            load_images=self._image_names(),
            batch_stats=delta.batch_table(),
        )

    def _image_names(self) -> list[str]:
        images = getattr(self.load, "images", None)  # a unit test's fake load sends none
        return [] if images is None else images.names

    def _answer_summary(self) -> str:
        if not self.references:
            return self.answers
        return (
            f"{self.answers}; under load, {self.checked} sampled responses agreed with "
            f"their images alone ({len(self.references)} distinct)"
        )


def measure(
    server: TritonServer,
    load: Load,
    plan: WindowPlan = WindowPlan(),
    model: str = "peoplenet",
    probe: bool = False,
    goldens_dir: Path = goldens.DETECTIONS_DIR,
    overlay_dir: Path | None = None,
) -> MeasuredRun:
    """Measure one run of `load` (a closed loop against `server`): answers checked once,
    a warm-up, then windows until `plan` says they are stable, with Triton's statistics
    over the counted windows and sampled answers under load checked against each image
    alone. `probe`: measure the runner-speed probe after the windows, with the server up
    and idle."""
    with Measurement(
        server,
        load,
        plan,
        model=model,
        probe=probe,
        goldens_dir=goldens_dir,
        overlay_dir=overlay_dir,
    ) as measurement:
        measurement.warm_up()
        measurement.settle()
    return measurement.result()
