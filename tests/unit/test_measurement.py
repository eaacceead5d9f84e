"""The measurement engine step by step, on a fake server and load: measure() counts the
stable tail; pytest-benchmark's rounds (benchmark.pedantic's protocol) are exactly the
counted windows, with only the requests timed; a disabled benchmark's one window is
closed and counted; Triton's statistics cover exactly the counted windows."""

from types import SimpleNamespace

import numpy as np
import pytest

from pnsuite.client.image_set import ImageSet, LoadImage
from pnsuite.client.load import ClosedLoopRun
from pnsuite.client.samples import Sample
from pnsuite.detection import detectnet
from pnsuite.detection.detectnet import Detection
from pnsuite.measure import run as engine
from pnsuite.measure import triton_stats
from pnsuite.measure.run import Measurement, measure
from pnsuite.measure.triton_stats import Duration, ModelStats
from pnsuite.measure.windows import WindowPlan
from pnsuite.measure.answers_under_load import AnswersDifferUnderLoad

#: 10 requests a window: the warm-up's first run (one request at 10 ms) calibrates it
PLAN = WindowPlan(seconds=0.1, stable=3, tolerance=0.05, max_windows=6, warmup_s=0.0)


class FakeTriton:
    """A server whose counters the fake load moves: each request's compute_infer time is
    half its latency, so the statistics tell which windows they were taken over."""

    grpc_url = "fake:8001"

    def __init__(self):
        self.requests, self.compute_ns = 0, 0
        self.timing = False  # True while a timed target runs: nothing else may happen then

    def grpc_client(self):
        return SimpleNamespace(close=lambda: None)

    def stats(self):
        assert not self.timing, "statistics read inside the timed part"
        n = self.requests
        return ModelStats(n, n, {"success": Duration(n, 0), "fail": Duration(0, 0),
                                 "compute_infer": Duration(n, self.compute_ns)}, {1: n})


class FakeLoad:
    """One request in flight; each run() takes the next per-request time (seconds)."""

    concurrency = 1

    def __init__(self, server, per_request_s):
        self.server, self.times = server, list(per_request_s)

    def run(self, requests):
        latency = self.times.pop(0) if len(self.times) > 1 else self.times[0]
        self.server.requests += requests
        self.server.compute_ns += round(requests * latency / 2 * 1e9)
        return ClosedLoopRun(1, [latency] * requests, latency * requests)


class FakeNeighbours:
    def __init__(self, server):
        self.server, self.cores = server, 0.0

    def __enter__(self):
        assert not self.server.timing, "CPU monitor opened inside the timed part"
        return self

    def __exit__(self, *exc):
        assert not self.server.timing, "CPU monitor closed inside the timed part"


@pytest.fixture
def server(monkeypatch):
    server = FakeTriton()
    monkeypatch.setattr(engine, "loaded_config", lambda client, model: None)
    monkeypatch.setattr(engine, "model_identity", lambda config: "fake")
    def check_answers(*args, on_answer=None, **kwargs):
        if on_answer is not None:  # capture.jpg alone: its tensor, cov and bbox
            on_answer("capture tensor", "cov", "bbox")
        return "5 boxes, as its goldens"
    monkeypatch.setattr(engine, "check_answers", check_answers)
    monkeypatch.setattr(engine, "ForeignLoad", lambda: FakeNeighbours(server))
    monkeypatch.setattr(triton_stats, "snapshot", lambda client, model: server.stats())
    probes = []
    monkeypatch.setattr(engine, "runner_speed",
                        SimpleNamespace(probe_ms=lambda: probes.append(1) or 12.5))
    server.probes = probes
    return server


def pedantic(server, target, setup, teardown, rounds, iterations, warmup_rounds,
             disabled=False):
    """pytest-benchmark's benchmark.pedantic, as it calls what it is given: each round
    setup(), the timed target(), teardown(); disabled, setup() and target() once."""
    assert iterations == 1 and warmup_rounds == 0
    for _ in range(1 if disabled else rounds):
        setup()
        server.timing = True
        try:
            target()
        finally:
            server.timing = False
        if not disabled:
            teardown()


def mean_ms(times):
    return sum(times) / len(times) * 1e3


def test_measure_counts_the_stable_tail_and_the_statistics_over_it(server):
    # warm-up, then a slow window; the last three agree within 5%
    load = FakeLoad(server, [0.01, 0.03, 0.010, 0.0102, 0.0101])
    run = measure(server, load, PLAN, probe=True)
    assert [w.requests for w in run.windows] == [10] * 4
    assert run.counted == 3 and run.stable
    assert run.inference_ms == pytest.approx(mean_ms([0.010, 0.0102, 0.0101]))
    assert run.compute_infer_ms == pytest.approx(run.inference_ms / 2)
    assert run.server_stats["inference_count"] == run.counted_requests == 30
    assert run.latency_p99_ms == pytest.approx(10.2)
    assert run.probe_ms == 12.5 and run.answer_check == "5 boxes, as its goldens"


def test_a_run_that_never_settles_stops_at_the_cap_and_says_so(server):
    load = FakeLoad(server, [0.01, 0.01, 0.02, 0.01, 0.02, 0.01, 0.02])
    run = measure(server, load, PLAN)
    assert len(run.windows) == PLAN.max_windows and run.counted == 3 and not run.stable
    assert run.probe_ms is None


@pytest.mark.parametrize("rounds, stable", [([0.02, 0.0201, 0.0202], True),
                                            ([0.02, 0.01, 0.02], False)])
def test_benchmark_rounds_are_the_counted_windows_with_only_the_requests_timed(
        server, rounds, stable):
    load = FakeLoad(server, [0.01, 0.01, 0.01, 0.01, *rounds])
    with Measurement(server, load, PLAN, probe=True) as m:
        m.warm_up()
        assert m.settle() and len(m.windows) == 3
        pedantic(server, **m.benchmark_rounds())
    run = m.result()
    assert len(run.windows) == 6 and run.counted == 3 and run.stable is stable
    assert [w.seconds for w in run.counted_windows] == pytest.approx([10 * t for t in rounds])
    assert run.inference_ms == pytest.approx(mean_ms(rounds))
    # the statistics are the rounds' alone, not the settling windows'
    assert run.compute_infer_ms == pytest.approx(mean_ms(rounds) / 2)
    assert run.server_stats["inference_count"] == run.counted_requests == 30
    assert m.result().probe_ms == 12.5 and len(server.probes) == 1  # measured once


def test_a_disabled_benchmark_sends_one_window_which_result_closes_and_counts(server):
    load = FakeLoad(server, [0.01, 0.01, 0.01, 0.01, 0.02])
    with Measurement(server, load, PLAN) as m:
        m.warm_up()
        m.settle()
        pedantic(server, **m.benchmark_rounds(), disabled=True)
    run = m.result()
    assert len(run.windows) == 4 and run.counted == 3 and not run.stable
    assert run.inference_ms == pytest.approx(mean_ms([0.01, 0.01, 0.02]))
    assert run.server_stats["inference_count"] == run.counted_requests == 30


def test_steps_out_of_order_are_refused(server):
    m = Measurement(server, FakeLoad(server, [0.01]), PLAN)
    with pytest.raises(RuntimeError, match="warm_up"):
        m.window()
    m.warm_up()
    with pytest.raises(RuntimeError, match="no window"):
        m.result()
    m.open_window()
    with pytest.raises(RuntimeError, match="open already"):
        m.open_window()


class ImageLoad(FakeLoad):
    """A fake load of two distinct images that keeps one response per run: right until
    run `wrong_from` (counting the warm-up's runs), then image 1 gets image 0's answer."""

    images = ImageSet([LoadImage(name, np.zeros((1, *detectnet.INPUT_SHAPE), np.float32))
                       for name in ("a.jpg", "b.jpg")])
    answers = [[Detection("person", 0.9, 100.0, 40.0, 180.0, 240.0)],
               [Detection("person", 0.8, 500.0, 100.0, 560.0, 260.0)]]

    def __init__(self, server, per_request_s, wrong_from):
        super().__init__(server, per_request_s)
        self.runs, self.wrong_from = 0, wrong_from

    def run(self, requests):
        done = super().run(requests)
        self.runs += 1
        answer = self.answers[0 if self.runs >= self.wrong_from else 1]
        done.samples = [Sample(1, 0, 3, *(t[None] for t in detectnet.encode(answer)))]
        return done


@pytest.fixture
def references(monkeypatch, server):
    """The references the engine takes at the start: each image's answer, as if alone;
    and the check of sampled answers, which must never run inside the timed part."""
    taken = []

    def alone(given_server, images, model, known=()):
        assert given_server is server and not server.timing
        # the answer check's request alone serves as its image's reference
        assert list(known) == [("capture tensor", "cov", "bbox")]
        taken.append(images)
        return [detectnet.decode(*detectnet.encode(a)) for a in ImageLoad.answers]
    monkeypatch.setattr(engine.answers_under_load, "references_for", alone)
    check = engine.answers_under_load.check_samples

    def untimed_check(*args, **kwargs):
        assert not server.timing, "answers checked inside the timed part"
        return check(*args, **kwargs)
    monkeypatch.setattr(engine.answers_under_load, "check_samples", untimed_check)
    return taken


def test_sampled_answers_are_checked_after_each_window_outside_the_timed_part(
        server, references):
    load = ImageLoad(server, [0.01, 0.01, 0.01, 0.01, 0.02, 0.01], wrong_from=99)
    with Measurement(server, load, PLAN) as m:
        m.warm_up()
        m.settle()
        pedantic(server, **m.benchmark_rounds())
    run = m.result()
    assert references == [load.images]
    assert run.answers_checked_under_load == 1 + len(run.windows)  # the warm-up's too
    assert run.load_images == ["a.jpg", "b.jpg"]
    assert run.answer_check.endswith("under load, 7 sampled responses agreed with their "
                                     "images alone (2 distinct)"), run.answer_check


def test_a_wrong_answer_in_a_window_fails_the_run_naming_image_request_and_window(
        server, references):
    load = ImageLoad(server, [0.01], wrong_from=3)  # the warm-up's run, then windows 1, 2
    with pytest.raises(AnswersDifferUnderLoad,
                       match=r"b\.jpg: request 3 of slot 0 \(window 2\) differs .* it is "
                             r"the answer of a\.jpg alone"):
        measure(server, load, PLAN)
