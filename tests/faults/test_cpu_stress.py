"""Perf assertions with another process burning a core: still right, not falsely red."""

import pytest

from fixtures import model_config, significance, stats
from fixtures.load import ClosedLoopLoad, paired_rounds


def test_batching_still_batches_under_cpu_stress(cpu_burner, make_server, capture_tensor,
                                                 batching_repo):
    server = make_server(batching_repo)
    with server.grpc_client() as client, \
            ClosedLoopLoad(server.grpc_url, capture_tensor, concurrency=6) as load:
        before = stats.snapshot(client, "peoplenet")
        load.run(6)
        delta = stats.wait_for_delta(client, "peoplenet", before, 6)
    assert delta.inference_count == 6 and delta.execution_count < 6, delta
    assert max(delta.batches) > 1, delta


def test_three_instances_still_beat_one_under_cpu_stress(cpu_burner, make_server,
                                                          instances_repo, capture_tensor,
                                                          perf_profile, tmp_path):
    one = make_server(model_config.write_variant(instances_repo, tmp_path / instances_repo.name,
                                                 instances=1))
    three = make_server(instances_repo)
    n = perf_profile.requests
    with ClosedLoopLoad(one.grpc_url, capture_tensor, n) as slow, \
            ClosedLoopLoad(three.grpc_url, capture_tensor, n) as fast:
        slow_s, fast_s = paired_rounds(slow, fast, n, perf_profile.rounds)
    result = significance.compare(slow_s, fast_s)
    print(f"under stress: {result.describe()}")
    assert result.holds(perf_profile.min_instances_speedup, perf_profile.alpha), result.describe()
