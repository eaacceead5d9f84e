"""A sweep point is the measurement engine's run (pnsuite.measure), here on the engine's
fake server and load: its throughput, latencies and Triton's statistics are the counted
windows', every window is kept, the board's monitor runs around the windows and not the
warm-up, and a run that never settles says so."""

from contextlib import nullcontext

import pytest

from pnsuite.measure.windows import WindowPlan
from pnsuite.sweep import measure as point_measure
from pnsuite.sweep.measure import PointPlan, measure_point
from pnsuite.sweep.points import Batching, Platform, PointKey, Variant
from tests.unit.test_measurement import FakeLoad, server  # noqa: F401 (server: a fixture)

#: 10 requests a window (the warm-up's one request at 10 ms calibrates it), 3 counted
WINDOWS = WindowPlan(seconds=0.1, stable=3, tolerance=0.05, max_windows=6, warmup_s=0.0)
PLAN = PointPlan(windows=WINDOWS, monitor="fake")
KEY = PointKey(Variant(2, Batching(True, 100)), 1)
TENSOR = object()


class FakeMonitor:
    """A power monitor that says whether it was running when each request run began."""

    def __init__(self):
        self.running = True

    def stop(self):
        self.running = False
        return {"power": "sampled"}


@pytest.fixture
def measured(server, monkeypatch):  # noqa: F811 (the engine's fake server)
    """`measured(per_request_s, plan)`: the point measure_point makes of a fake load with
    those per-request times, and whether the monitor ran during each load run."""
    monitor_states = []

    def measure(per_request_s, plan=PLAN):
        load = FakeLoad(server, per_request_s)
        monitors = []
        run = load.run

        def watched_run(requests):
            monitor_states.append(bool(monitors) and monitors[-1].running)
            return run(requests)

        load.run = watched_run

        def make_load(url, tensor, concurrency, memory, processes, model):
            assert (url, tensor, concurrency) == (server.grpc_url, TENSOR, KEY.concurrency)
            assert (memory, processes, model) == (plan.memory, plan.load_processes, "peoplenet")
            return nullcontext(load)

        def start_monitor(kind):
            assert kind == plan.monitor
            monitors.append(FakeMonitor())
            return monitors[-1]

        def platform_of(kind, summary):
            assert summary == {"power": "sampled"}
            return Platform("fake", power_w=10.0)

        monkeypatch.setattr(point_measure, "make_load", make_load)
        monkeypatch.setattr(point_measure.monitors, "start_monitor", start_monitor)
        monkeypatch.setattr(point_measure.monitors, "platform_of", platform_of)
        return measure_point(server, KEY, plan, TENSOR)

    measure.monitor_states = monitor_states
    return measure


def test_a_point_is_the_engines_run_over_its_counted_windows(measured):
    # warm-up, a slow window, then three that agree within 5%
    point = measured([0.01, 0.03, 0.010, 0.0102, 0.0101])
    assert point.key == KEY and point.ok and point.error is None
    assert point.windows_throughput == [33.333, 100.0, 98.039, 99.01]
    assert point.windows_counted == 3 and point.stable is True
    counted_s = 10 * (0.010 + 0.0102 + 0.0101)
    assert point.throughput == pytest.approx(30 / counted_s, abs=1e-3)
    # Triton's statistics over exactly the counted windows: not the warm-up's request,
    # not the slow window's ten
    assert point.inferences == point.executions == 30 and point.batch_sizes == {1: 30}
    assert point.per_inference_ms["compute_infer"] == pytest.approx(1e3 * counted_s / 30 / 2,
                                                                    abs=1e-3)
    assert set(point.per_inference_ms) == {"queue", "compute_input", "compute_infer",
                                           "compute_output"}
    assert point.latency_p50_ms == pytest.approx(10.1)
    assert point.latency_p99_ms == pytest.approx(10.2)
    assert point.platform == Platform("fake", power_w=10.0)
    assert point.measured_at and point.seconds >= 0


def test_the_monitor_runs_around_the_windows_not_the_warm_up(measured):
    measured([0.01, 0.010, 0.0101, 0.0102])
    assert measured.monitor_states == [False, True, True, True]


def test_a_point_whose_windows_never_agree_says_so(measured):
    point = measured([0.01, 0.01, 0.02, 0.01, 0.02, 0.01, 0.02])
    assert len(point.windows_throughput) == WINDOWS.max_windows
    assert point.windows_counted == 3 and point.stable is False
    assert point.inferences == 30


def test_a_point_reads_back_from_its_json_as_measured(measured):
    point = measured([0.01, 0.010, 0.0101, 0.0102])
    again = type(point).from_json(point.to_json())
    assert again == point
