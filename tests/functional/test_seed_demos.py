"""The Triton Jetson example's two demos as assertions: 6 threads, one request each,
on capture.jpg."""

import pytest

from pnsuite.client.load import run_threads
from pnsuite.detection import detectnet
from pnsuite.measure import triton_stats
from pnsuite.paths import CAPTURE_IMAGE, EMBEDDED_REPOS
from tests.constants import MODEL

pytestmark = pytest.mark.functional

THREADS = 6


def _demo(server):
    with server.grpc_client() as client:
        before = triton_stats.snapshot(client, MODEL)
        run = run_threads(server.grpc_url, lambda: detectnet.load_image(CAPTURE_IMAGE), THREADS,
                          memory="system")
        return run, triton_stats.wait_for_delta(client, MODEL, before, THREADS)


def test_sample_1_three_instances_runs_every_request_alone(make_server):
    server = make_server(EMBEDDED_REPOS / "sample_1_instances")
    run, delta = _demo(server)
    assert (delta.inference_count, delta.execution_count) == (THREADS, THREADS), delta
    assert delta.batches == {1: THREADS}
    assert all(len(r.detections) >= 4 for r in run.results)


def test_sample_2_dynamic_batching_runs_fewer_executions(make_server):
    # The barrier in run_threads and shared memory put all six requests in flight at
    # once; one HOG execution takes far longer than their arrival spread, so whatever
    # queues behind the first execution is batched (the example's demo shows 1 + 5).
    server = make_server(EMBEDDED_REPOS / "sample_2_dynamic_batching")
    run, delta = _demo(server)
    assert delta.inference_count == THREADS, delta
    assert delta.execution_count < THREADS, delta
    assert max(delta.batches) > 1, delta
    assert sum(size * n for size, n in delta.batches.items()) == THREADS
    assert all(len(r.detections) >= 4 for r in run.results)
