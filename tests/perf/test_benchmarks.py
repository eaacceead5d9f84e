"""Recorded benchmarks: the Triton Jetson example's load on each configured repository.

Each is one run of pnsuite.measure (pnsuite/measure/run.py): the answers checked, a
warm-up and windows until the load is stable, outside the record; the load cycles
through capture.jpg, its centre crop and their flips (pnsuite.client.image_set), and a
few responses per request slot and window are checked against each image's answer alone
(pnsuite.measure.answers_under_load); then the windows that count, as pytest-benchmark's rounds. extra_info is the record pnsuite/measure/records.py
writes. One session is one run for the gate (`peoplenet-gate record/check` runs several
sessions of the tests marked `recorded_benchmark`: the runs, not the rounds, are its
independent samples). pytest-benchmark disables itself under xdist: run serially.
"""

import pytest

from pnsuite.errors import SuiteError
from pnsuite.measure import records
from pnsuite.measure.run import Measurement
from pnsuite.measure.windows import WindowPlan

#: the windows of a run, as the gate's A/B measures them
PLAN = WindowPlan()


@pytest.mark.recorded_benchmark
# concurrency 6 is slow: the fast tier records each repository at concurrency 1
@pytest.mark.parametrize("concurrency", [1, pytest.param(6, marks=pytest.mark.slow)],
                         ids=lambda c: f"c{c}")
def test_throughput(benchmark, triton_server, closed_loop, suite_settings, goldens_dir,
                    answer_image_set, concurrency, tmp_path):
    with closed_loop(triton_server.grpc_url, concurrency, answer_image_set) as load, \
            Measurement(triton_server, load, PLAN, probe=True, goldens_dir=goldens_dir,
                        overlay_dir=tmp_path) as m:
        try:
            m.warm_up()  # a model that answers nothing is not benchmarked green
            m.settle()  # nor one whose answers go wrong under load
            with records.device_monitor() as monitor:
                benchmark.pedantic(**m.benchmark_rounds())
            run = m.result()  # and the runner-speed probe, the server idle
        except SuiteError as err:
            pytest.fail(str(err), pytrace=False)
    benchmark.extra_info.update(records.extra_info(
        run, m.config, records.repository_name(triton_server), suite_settings.memory, monitor))
    assert run.server_stats["inference_count"] == run.counted_requests, run.server_stats
    assert run.server_stats["fail_count"] == 0, run.server_stats
    assert run.answers_checked_under_load >= concurrency, run.answer_check
