"""Recorded benchmarks: the Triton Jetson example's load on each configured repository.

Each round sends the same requests at one concurrency (tensors where --triton-memory
says: system shared memory by default); the round's time is what pytest-benchmark
records, and extra_info keeps throughput, latency percentiles, the server's own view
(see pnsuite/perf/records.py) and the CPU others took in each round. One session is one
run for the gate (`peoplenet-gate record/check` runs several sessions: the runs, not the
rounds, are its independent samples). pytest-benchmark disables itself under xdist:
run serially.
"""

import pytest

from pnsuite.errors import SuiteError
from pnsuite.perf import records, runner_speed, triton_stats
from pnsuite.perf.answer_check import check_answers
from pnsuite.repository import model_config
from pnsuite.perf.cpu_load import ForeignLoadPerRound

#: rounds per run: the gate summarises a run by its median round, and its evidence
#: grows with runs, not rounds
ROUNDS = 5


@pytest.mark.parametrize("concurrency", [1, 6], ids=lambda c: f"c{c}")
def test_throughput(benchmark, triton_server, closed_loop, suite_settings, goldens_dir,
                    concurrency):
    requests = max(3, 2 * concurrency)
    with triton_server.grpc_client() as client, \
            closed_loop(triton_server.grpc_url, concurrency) as load:
        config = model_config.loaded_config(client)
        # The load leaves answers unread: look at one, so that a model answering nothing
        # is not benchmarked green.
        try:
            answers = check_answers(triton_server.grpc_url, model_config.model_identity(config),
                                    goldens_dir)
        except SuiteError as err:
            pytest.fail(str(err), pytrace=False)
        # Warm-up outside the record and the statistics (waiting until the server has
        # counted it: statistics are updated just after the responses go out).
        start = triton_stats.snapshot(client, "peoplenet")
        load.run(requests)
        before = start + triton_stats.wait_for_delta(client, "peoplenet", start, requests)
        runs = []
        foreign = ForeignLoadPerRound()
        with records.device_monitor() as monitor:
            benchmark.pedantic(lambda: runs.append(load.run(requests)), rounds=ROUNDS,
                               iterations=1, warmup_rounds=0,
                               setup=foreign.begin, teardown=lambda: foreign.end())
        delta = triton_stats.wait_for_delta(client, "peoplenet", before, ROUNDS * requests)
    benchmark.extra_info.update(records.extra_info(
        runs, delta, config, triton_server.model_repository.name
        if triton_server.model_repository else "external", suite_settings.memory))
    # CPU that other processes took in each round: the gate leaves a disturbed run out.
    benchmark.extra_info["foreign_cpu_cores_per_round"] = foreign.cores
    benchmark.extra_info["answer_check"] = answers
    # The runner's own speed beside the rounds: a check refuses a verdict that the runner
    # moving since the baseline could have faked (pnsuite/perf/runner_speed.py).
    benchmark.extra_info["runner_probe_ms"] = runner_speed.probe_ms()
    if monitor is not None:  # on a Jetson: GPU load, EMC, power, temperatures
        benchmark.extra_info["tegrastats"] = monitor.summary()
    assert delta.inference_count == ROUNDS * requests, delta
    assert delta.phase("fail").count == 0, delta
