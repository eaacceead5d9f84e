"""Recorded benchmarks: the Triton Jetson example's load on each configured repository.

Each round sends the same requests at one concurrency (tensors where --triton-memory
says: system shared memory by default); the
round's time is what pytest-benchmark records and the gate compares, and extra_info
keeps throughput, latency percentiles and the server's own view (see
pnsuite/perf/records.py). pytest-benchmark disables itself under xdist: run serially.
"""

import pytest

from pnsuite.perf import records, triton_stats
from pnsuite.repository import model_config
from pnsuite.perf.cpu_load import ForeignLoad

ROUNDS = 10


@pytest.mark.parametrize("concurrency", [1, 6], ids=lambda c: f"c{c}")
def test_throughput(benchmark, triton_server, closed_loop, suite_settings, concurrency):
    requests = max(3, 2 * concurrency)
    with triton_server.grpc_client() as client, \
            closed_loop(triton_server.grpc_url, concurrency) as load:
        config = model_config.loaded_config(client)
        # Warm-up outside the record and the statistics (waiting until the server has
        # counted it: statistics are updated just after the responses go out).
        start = triton_stats.snapshot(client, "peoplenet")
        load.run(requests)
        before = start + triton_stats.wait_for_delta(client, "peoplenet", start, requests)
        runs = []
        with records.device_monitor() as monitor, ForeignLoad() as foreign:
            benchmark.pedantic(lambda: runs.append(load.run(requests)), rounds=ROUNDS,
                               iterations=1, warmup_rounds=0)
        delta = triton_stats.wait_for_delta(client, "peoplenet", before, ROUNDS * requests)
    benchmark.extra_info.update(records.extra_info(
        runs, delta, config, triton_server.model_repository.name
        if triton_server.model_repository else "external", suite_settings.memory))
    # CPU that other processes took meanwhile: the gate will not judge a disturbed run.
    benchmark.extra_info["foreign_cpu_cores"] = round(foreign.cores, 2)
    if monitor is not None:  # on a Jetson: GPU load, EMC, power, temperatures
        benchmark.extra_info["tegrastats"] = monitor.summary()
    assert delta.inference_count == ROUNDS * requests, delta
    assert delta.phase("fail").count == 0, delta
