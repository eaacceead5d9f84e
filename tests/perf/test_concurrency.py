"""Concurrency changes total time: 1 vs 3 instances, and 1 vs N client threads.

Each comparison times the same N requests on both sides, alternating sides round by
round (so drift on a shared runner hits both), and asserts with the profile's minimum
speedup on the medians and a one-sided Mann-Whitney U test: never on one sample.
"""


from pnsuite.perf import significance
from pnsuite.repository import model_config
from pnsuite.client.load import paired_rounds


def _report(record_property, name: str, result: significance.Comparison) -> None:
    record_property(f"{name}_speedup", round(result.ratio, 3))
    record_property(f"{name}_p_value", round(result.p_value, 5))
    print(f"{name}: speedup {result.ratio:.2f}x, {result.describe()}")


def test_three_instances_finish_the_same_requests_sooner_than_one(
        make_server, shared_server, instances_repo, closed_loop, perf_profile, tmp_path,
        record_property):
    one_repo = model_config.write_variant(instances_repo, tmp_path / instances_repo.name,
                                          instances=1)
    one, three = make_server(one_repo), shared_server(instances_repo)
    n = perf_profile.requests
    with closed_loop(one.grpc_url, n) as slow, \
            closed_loop(three.grpc_url, n) as fast:
        slow_s, fast_s = paired_rounds(slow, fast, n, perf_profile.rounds)
    result = significance.compare(slow_s, fast_s)
    _report(record_property, "instances_1_vs_3", result)
    assert result.holds(perf_profile.min_instances_speedup, perf_profile.alpha), (
        f"3 instances were not faster than 1 by >= {perf_profile.min_instances_speedup}x "
        f"at p < {perf_profile.alpha} ({perf_profile.name} profile): {result.describe()}")


def test_n_client_threads_finish_the_same_requests_sooner_than_one(
        shared_server, instances_repo, closed_loop, perf_profile, record_property):
    server = shared_server(instances_repo)
    n = perf_profile.requests
    with closed_loop(server.grpc_url, 1) as slow, \
            closed_loop(server.grpc_url, n) as fast:
        slow_s, fast_s = paired_rounds(slow, fast, n, perf_profile.rounds)
    result = significance.compare(slow_s, fast_s)
    _report(record_property, f"threads_1_vs_{n}", result)
    assert result.holds(perf_profile.min_threads_speedup, perf_profile.alpha), (
        f"{n} client threads were not faster than 1 by >= {perf_profile.min_threads_speedup}x "
        f"at p < {perf_profile.alpha} ({perf_profile.name} profile): {result.describe()}")
