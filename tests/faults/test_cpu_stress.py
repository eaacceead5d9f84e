"""Perf assertions with another process burning a core: still right, not falsely red."""

import subprocess
import sys
import time

import pytest

from pnsuite import ownership
from pnsuite.cli import gate
from pnsuite.client.load import ClosedLoopLoad, paired_rounds
from pnsuite.measure import triton_stats
from pnsuite.measure.cpu_load import ForeignLoad
from pnsuite.repository import model_config
from pnsuite.verdict import significance

# slow: perf checks beside a core kept busy
pytestmark = pytest.mark.slow


def test_a_core_a_neighbour_burns_is_foreign_and_one_of_ours_is_not(cpu_burner):
    # What the gate's exclusion of disturbed runs stands on (its rule on these figures is
    # unit-tested; the extended tier runs the gate itself beside a burner).
    with ForeignLoad() as with_neighbour:
        time.sleep(1.0)
    assert with_neighbour.cores >= 0.7, f"a burned core seen as {with_neighbour.cores:.2f}"
    cpu_burner.kill()
    cpu_burner.wait(10)
    ours = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                            env=ownership.owned_environment())
    try:
        with ForeignLoad() as with_ours:
            time.sleep(1.0)
    finally:
        ours.kill()
        ours.wait(10)
    assert with_ours.cores < 0.5, f"our own process counted as {with_ours.cores:.2f} foreign cores"


def test_batching_still_batches_under_cpu_stress(cpu_burner, make_server, capture_tensor,
                                                 batching_repo):
    server = make_server(batching_repo)
    with server.grpc_client() as client, \
            ClosedLoopLoad(server.grpc_url, capture_tensor, concurrency=6) as load:
        before = triton_stats.snapshot(client, "peoplenet")
        load.run(6)
        delta = triton_stats.wait_for_delta(client, "peoplenet", before, 6)
    assert delta.inference_count == 6 and delta.execution_count < 6, delta
    assert max(delta.batches) > 1, delta


@pytest.mark.extended  # the CI tier checks batching under stress, and instances unstressed
def test_three_instances_still_beat_one_under_cpu_stress(cpu_burner, make_server,
                                                          instances_repo, capture_tensor,
                                                          perf_profile, tmp_path):
    one = make_server(model_config.write_variant(instances_repo, tmp_path / instances_repo.name,
                                                 instances=1))
    three = make_server(instances_repo)
    n = perf_profile.requests
    with ClosedLoopLoad(one.grpc_url, capture_tensor, n) as slow, \
            ClosedLoopLoad(three.grpc_url, capture_tensor, n) as fast:
        # Stress widens the spread of round times: more rounds for the same confidence.
        slow_s, fast_s = paired_rounds(slow, fast, n, perf_profile.rounds + 4)
    result = significance.compare_paired(slow_s, fast_s)
    print(f"under stress: {result.describe()}")
    assert result.holds(perf_profile.min_instances_speedup, perf_profile.alpha), result.describe()


@pytest.mark.extended  # the gate's exclusion of disturbed runs is unit-tested on recorded figures
def test_the_gate_leaves_out_runs_of_a_busy_runner_instead_of_going_red(
        instances_repo, perf_run, tmp_path, cpu_burner_factory, capsys):
    quiet, busy = tmp_path / "quiet", tmp_path / "busy"
    quiet.mkdir(), busy.mkdir()
    for i in range(2):
        perf_run(instances_repo, quiet / f"{i:04d}_quiet.json")
        with cpu_burner_factory():
            perf_run(instances_repo, busy / f"{i:04d}_busy.json")
    code = gate.main([str(quiet), str(busy)])
    out = capsys.readouterr().out
    print(out)
    assert code == 3, f"runs of a busy runner were judged (exit {code}):\n{out}"
    assert out.count("current") and "undecided:" in out, out
    assert all(f"{i:04d}_busy.json" in out for i in range(2)), "a busy run was not left out"
