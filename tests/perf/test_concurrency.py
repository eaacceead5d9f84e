"""Concurrency changes total time: 1 vs 3 instances, and 1 vs N client threads.

Each comparison times the same N requests on both sides in back-to-back pairs, the side
that goes first in each pair chosen at random (so drift on a shared runner hits both
alike, and drift within a pair favours neither), and analyses them as pairs: the median
of the per-pair time ratios must reach the profile's minimum speedup and a one-sided
Wilcoxon signed-rank test on the log ratios must be significant at the profile's alpha.
Never on one sample.
"""


import pytest

from pnsuite.client.load import paired_rounds
from pnsuite.repository import model_config
from pnsuite.verdict import significance


def _report(record_property, name: str, result: significance.PairedComparison) -> None:
    record_property(f"{name}_speedup", round(result.ratio, 3))
    record_property(f"{name}_p_value", round(result.p_value, 5))
    print(f"{name}: speedup {result.ratio:.2f}x, {result.describe()}")


# slow: paired runs of two servers; the fast tier checks concurrency through client threads
@pytest.mark.slow
def test_three_instances_finish_the_same_requests_sooner_than_one(
        make_server, shared_server, instances_repo, closed_loop, perf_profile, tmp_path,
        record_property):
    significance.check_enough_pairs(perf_profile.rounds, perf_profile.alpha)
    one_repo = model_config.write_variant(instances_repo, tmp_path / instances_repo.name,
                                          instances=1)
    one, three = make_server(one_repo), shared_server(instances_repo)
    n = perf_profile.requests
    with closed_loop(one.grpc_url, n) as slow, \
            closed_loop(three.grpc_url, n) as fast:
        slow_s, fast_s = paired_rounds(slow, fast, n, perf_profile.rounds)
    result = significance.compare_paired(slow_s, fast_s)
    _report(record_property, "instances_1_vs_3", result)
    assert result.holds(perf_profile.min_instances_speedup, perf_profile.alpha), (
        f"3 instances were not faster than 1 by >= {perf_profile.min_instances_speedup}x "
        f"at p < {perf_profile.alpha} ({perf_profile.name} profile): {result.describe()}")


def test_n_client_threads_finish_the_same_requests_sooner_than_one(
        shared_server, instances_repo, closed_loop, perf_profile, record_property):
    significance.check_enough_pairs(perf_profile.rounds, perf_profile.alpha)
    server = shared_server(instances_repo)
    n = perf_profile.requests
    with closed_loop(server.grpc_url, 1) as slow, \
            closed_loop(server.grpc_url, n) as fast:
        slow_s, fast_s = paired_rounds(slow, fast, n, perf_profile.rounds)
    result = significance.compare_paired(slow_s, fast_s)
    _report(record_property, f"threads_1_vs_{n}", result)
    assert result.holds(perf_profile.min_threads_speedup, perf_profile.alpha), (
        f"{n} client threads were not faster than 1 by >= {perf_profile.min_threads_speedup}x "
        f"at p < {perf_profile.alpha} ({perf_profile.name} profile): {result.describe()}")
