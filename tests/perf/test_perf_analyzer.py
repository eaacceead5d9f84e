"""Cross-check: the suite's load generator against perf_analyzer on the same server.

If the suite's own generator were the bottleneck, its throughput would fall below what
perf_analyzer gets from the same server at the same concurrency, with the same image
through system shared memory. The ratio (ours / perf_analyzer's) is recorded; the target
is >= 1.0, asserted with a margin for the noise of two short measurements on a 2-core
machine that also runs the server.

It runs on the several-instance repo: with dynamic batching and no queue delay, batch
formation hangs on how closely re-sent requests arrive (a C++ client re-sends a few ms
more tightly than Python threads), which measures arrival jitter, not capacity.
"""

import pytest

from fixtures import perf_analyzer
from fixtures.load import ClosedLoopLoad

MIN_RATIO = 0.9
MEASURE_S = 4.0



@pytest.mark.parametrize("concurrency", [1, 2, 4, 8], ids=lambda c: f"c{c}")
def test_suite_generator_keeps_up_with_perf_analyzer(benchmark, shared_server, instances_repo,
                                                     capture_tensor, concurrency, tmp_path):
    try:
        perf_analyzer.find_binary()
    except perf_analyzer.PerfAnalyzerUnavailable as err:
        pytest.skip(str(err))
    server = shared_server(instances_repo)
    pa = perf_analyzer.run(server.grpc_url, capture_tensor, concurrency, tmp_path)
    requests = max(2 * concurrency, int(pa.throughput * MEASURE_S))
    with ClosedLoopLoad(server.grpc_url, capture_tensor, concurrency) as load:
        load.run(concurrency)  # warm-up
        runs = []
        benchmark.pedantic(lambda: runs.append(load.run(requests)), rounds=1, iterations=1)
    ours = runs[0].throughput
    ratio = ours / pa.throughput
    benchmark.extra_info.update({
        "concurrency": concurrency, "transport": "system_shm",
        "suite_throughput_infer_per_s": round(ours, 3),
        "perf_analyzer_throughput_infer_per_s": round(pa.throughput, 3),
        "ratio_suite_over_perf_analyzer": round(ratio, 3),
        "perf_analyzer_p50_ms": pa.p50_ms, "perf_analyzer_p99_ms": pa.p99_ms})
    print(f"c={concurrency}: suite {ours:.2f}/s, perf_analyzer {pa.throughput:.2f}/s, "
          f"ratio {ratio:.3f}")
    assert ratio >= MIN_RATIO, (f"the suite's generator reached {ours:.2f} infer/s, "
                                f"perf_analyzer {pa.throughput:.2f}: ratio {ratio:.3f}")
