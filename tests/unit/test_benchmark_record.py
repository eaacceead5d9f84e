"""The benchmark record's schema round-trips: a MeasuredRun written as extra_info
(pnsuite/measure/records.py), saved as pytest-benchmark saves it, and read back by the gate
(pnsuite/measure/runsets.py) is a MeasuredRun with the run's own figures; the keys stored
baselines and the results store read are all there, and records from before the engine
still read back."""

import json
from pathlib import Path

import pytest

from pnsuite.client.memory import Memory
from pnsuite.measure import records, runsets
from pnsuite.measure.run import METRICS, MeasuredRun, Window
from pnsuite.paths import MODEL_REPOS
from pnsuite.repository import model_config

#: the keys runs recorded before the measurement engine had: stored baselines, the
#: results store and the reports read them
EARLIER_KEYS = {"throughput_infer_per_s", "latency_p50_ms", "latency_p90_ms",
                "latency_p99_ms", "server_queue_ms", "server_compute_input_ms",
                "server_compute_infer_ms", "server_compute_output_ms", "inference_count",
                "execution_count", "batch_size_histogram", "repo", "instance_count",
                "dynamic_batching", "concurrency", "transport", "model_config_digest",
                "foreign_cpu_cores_per_round", "answer_check", "runner_probe_ms"}


def measured(foreign=(0.0, 0.1, 0.05)):
    windows = [Window(40, 2.0, 90.0, 0.7)] + [
        Window(requests=48, seconds=s, latency_p99_ms=p, foreign_cores=f)
        for s, p, f in zip((1.01, 0.98, 1.0), (131.5, 128.25, 133.125), foreign)]
    return MeasuredRun(
        concurrency=6, windows=windows, counted=3, stable=True,
        inference_ms=1000 * 2.99 / 144, latency_p99_ms=133.0123456,
        compute_infer_ms=0.6180339887,
        server_stats={"inference_count": 144, "execution_count": 30,
                      "batch_sizes": {"4": 24, "6": 8}, "fail_count": 0,
                      "queue_ms_per_inference": 1.5, "compute_input_ms_per_inference": 0.2,
                      "compute_infer_ms_per_inference": 0.618,
                      "compute_output_ms_per_inference": 0.1},
        probe_ms=23.456789, latency_p50_ms=101.5, latency_p90_ms=120.25,
        answer_check="5 boxes on capture.jpg, as its goldens (5)")


BENCH = "tests/perf/test_benchmarks.py::test_throughput[x-c6]"


def read_back(info, rounds=(1.01, 0.98, 1.0)):
    """The benchmark as the gate reads it from a saved run file."""
    document = {"machine_info": {"cpu_count": 2}, "datetime": "2026-12-04T20:00:00",
                "benchmarks": [{"fullname": BENCH, "stats": {"data": list(rounds)},
                                "extra_info": info}]}
    saved = json.loads(json.dumps(document))  # as pytest-benchmark stores it
    return runsets.benchmark_runs(saved, Path("0001_run.json"))[0]


@pytest.fixture(scope="module")
def config():
    return model_config.read_config(MODEL_REPOS / "embedded" / "sample_2_dynamic_batching")


def test_a_run_read_back_from_its_record_gives_its_own_figures(config):
    run = measured()
    info = records.extra_info(run, config, "sample_2_dynamic_batching", Memory.SYSTEM)
    back = read_back(info)
    assert isinstance(back, MeasuredRun)
    for metric in METRICS:
        assert back.metric(metric) == pytest.approx(run.metric(metric), rel=1e-5), metric
    assert back.round_s == pytest.approx(1.0)
    assert back.peak_foreign_cores == max(run.foreign_cores) == 0.1  # the counted windows only
    assert back.probe_ms == pytest.approx(run.probe_ms, rel=1e-5)
    assert back.cores == 2 and not back.disturbed
    assert runsets.benchmark_of(back) == BENCH
    assert runsets.source_of(back) == Path("0001_run.json")


def test_a_run_round_trips_through_its_record_as_a_measured_run(config):
    """What the record keeps of a run reads back as the same run: its metrics, its
    counted windows with the CPU others took in each, and the server's statistics."""
    run = measured()
    info = records.extra_info(run, config, "sample_2_dynamic_batching", Memory.SYSTEM)
    back = read_back(info, rounds=[w.seconds for w in run.counted_windows])
    assert back.counted == run.counted == len(back.windows)
    assert [(w.requests, w.seconds, w.foreign_cores) for w in back.counted_windows] == \
        [(w.requests, w.seconds, w.foreign_cores) for w in run.counted_windows]
    assert back.foreign_cores == run.foreign_cores
    for metric in METRICS:
        assert back.metric(metric) == pytest.approx(run.metric(metric), rel=1e-5), metric
    assert back.throughput == pytest.approx(run.throughput, rel=1e-5)
    assert (back.latency_p50_ms, back.latency_p90_ms) == (run.latency_p50_ms, run.latency_p90_ms)
    assert (back.concurrency, back.stable, back.answer_check) == \
        (run.concurrency, run.stable, run.answer_check)
    # the record keeps the run's own compute_infer_ms as that phase's time
    phase = "compute_infer_ms_per_inference"
    stats = dict(back.server_stats)
    assert stats.pop(phase) == pytest.approx(run.compute_infer_ms, rel=1e-5)
    assert stats == {k: v for k, v in run.server_stats.items() if k not in ("fail_count", phase)}
    assert back.disturbed == run.disturbed is False
    again = MeasuredRun.from_json(json.loads(json.dumps(back.to_json())))
    assert again == back  # a read-back run is a run like any other


def test_a_record_from_before_the_engine_reads_back_with_its_round_times_only():
    """No throughput, one foreign-CPU figure for the whole benchmark: round_s is its
    metric, inference_ms is not there (0.0), and the one figure still marks it disturbed."""
    legacy = {"server_compute_infer_ms": 5.0, "latency_p99_ms": 30.0,
              "foreign_cpu_cores": 0.6}
    back = read_back(legacy, rounds=(0.2, 0.1, 0.3))
    assert back.metric("round_s") == pytest.approx(0.2)
    assert back.metric("inference_ms") == 0.0 and back.throughput == 0.0
    assert (back.compute_infer_ms, back.latency_p99_ms) == (5.0, 30.0)
    assert back.foreign_cores == [0.6, 0.6, 0.6] and back.disturbed


def test_a_record_saved_without_its_rounds_reads_back_their_median():
    info = {"throughput_infer_per_s": 50.0, "inference_count": 300, "windows_counted": 3,
            "foreign_cpu_cores_per_round": [0.0, 0.2, 0.1]}
    document = {"machine_info": {"cpu_count": 2},
                "benchmarks": [{"fullname": BENCH, "stats": {"median": 2.0, "rounds": 3},
                                "extra_info": info}]}
    [back] = runsets.benchmark_runs(document, Path("0002_run.json"))
    assert back.round_s == 2.0 and back.inference_ms == pytest.approx(20.0)
    assert [(w.requests, w.foreign_cores) for w in back.windows] == [(100, 0.2)]


def test_a_window_others_disturbed_is_read_back_as_a_disturbed_run(config):
    info = records.extra_info(measured(foreign=(0.0, 0.6, 0.0)), config, "r", Memory.SYSTEM)
    assert read_back(info).disturbed  # 0.6 of 2 cores > DISTURBED_SHARE


def test_the_record_keeps_every_earlier_key_and_says_what_it_counted(config):
    run = measured()
    info = records.extra_info(run, config, "sample_2_dynamic_batching", Memory.SYSTEM)
    assert EARLIER_KEYS <= set(info), EARLIER_KEYS - set(info)
    assert info["windows_measured"] == 4 and info["windows_counted"] == 3
    assert info["stable"] is True
    assert info["inference_count"] == 144 and info["execution_count"] == 30
    assert info["batch_size_histogram"] == {"4": 24, "6": 8}
    assert info["server_queue_ms"] == 1.5
    assert info["dynamic_batching"] is True and info["concurrency"] == 6
    assert info["transport"] == Memory.SYSTEM.transport
    assert info["model_config_digest"] == model_config.config_digest(config)
    assert info["answer_check"] == run.answer_check
    assert "tegrastats" not in info  # not a Jetson
    json.dumps(info, allow_nan=False)  # plain JSON, as pytest-benchmark saves it


def test_a_run_without_the_probe_is_read_back_without_one(config):
    run = measured()
    run.probe_ms = None
    info = records.extra_info(run, config, "r", Memory.NONE)
    assert info["runner_probe_ms"] is None and read_back(info).probe_ms is None
