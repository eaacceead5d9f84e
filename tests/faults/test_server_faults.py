"""A server that dies, a stub that dies, and shutdown with work in flight."""

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from tritonclient.utils import InferenceServerException

from pnsuite import ownership
from pnsuite.client.peoplenet import PeopleNetClient
from pnsuite.detection import detectnet
from pnsuite.paths import EMBEDDED_REPOS
from pnsuite.server import ServerDiedError

# slow: servers and stubs killed mid-request, each on its own server
pytestmark = pytest.mark.slow

CLIENT_TIMEOUT_S = 20.0


def _stub_pids(server) -> list[int]:
    """The server's python-backend stubs: our processes that carry its shm prefix."""
    return [p.pid for p in ownership.processes()
            if "triton_python_backend_stub" in p.command and server.shm_prefix in p.command]


def test_server_killed_mid_request_fails_the_request_fast_and_says_it_died(
        leak_check, make_server, slow_repo, capture_tensor):
    server = make_server(slow_repo(delay_s=5.0))
    with ThreadPoolExecutor(1) as pool, PeopleNetClient(server.grpc_url,
                                                        timeout_s=CLIENT_TIMEOUT_S) as client:
        pending = pool.submit(client.infer, capture_tensor)
        time.sleep(0.5)  # the request is now in the model's execute()
        killed_at = time.monotonic()
        os.killpg(server.handle.pid, signal.SIGKILL)
        with pytest.raises(InferenceServerException):
            pending.result(timeout=CLIENT_TIMEOUT_S + 5)
        detected_s = time.monotonic() - killed_at
    assert detected_s < CLIENT_TIMEOUT_S, f"the client noticed only after {detected_s:.1f} s"
    # The killed server's sockets close a moment before it can be reaped: the client may
    # see the failure while the process is not yet a zombie, so let it finish exiting.
    server.handle.wait(timeout=5)
    with pytest.raises(ServerDiedError, match="exit code -9") as died:
        server.check_alive()
    assert "Started GRPCInferenceService" in str(died.value)  # the log tail is in it


def test_a_killed_stub_fails_requests_within_the_timeout_and_leaves_nothing(
        leak_check, make_server, capture_tensor):
    server = make_server(EMBEDDED_REPOS / "sample_1_instances")
    stubs = _stub_pids(server)
    assert len(stubs) == 3, stubs
    outcomes: list[str] = []

    def send_many() -> None:
        with PeopleNetClient(server.grpc_url, timeout_s=CLIENT_TIMEOUT_S) as client:
            for _ in range(12):
                try:
                    client.infer(capture_tensor)
                    outcomes.append("ok")
                except InferenceServerException as err:
                    outcomes.append(f"error: {err}")

    began = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(send_many) for _ in range(3)]
        time.sleep(0.5)
        os.kill(stubs[0], signal.SIGKILL)
        for future in futures:
            future.result(timeout=12 * CLIENT_TIMEOUT_S)
    elapsed = time.monotonic() - began
    assert len(outcomes) == 36
    assert elapsed < 3 * CLIENT_TIMEOUT_S, f"load took {elapsed:.0f} s after the stub died"
    assert outcomes.count("ok") > 0, outcomes


def test_sigterm_finishes_in_flight_requests_refuses_new_ones_and_exits(
        leak_check, make_server, slow_repo, capture_tensor):
    server = make_server(slow_repo(delay_s=3.0))
    with ThreadPoolExecutor(1) as pool, PeopleNetClient(server.grpc_url,
                                                        timeout_s=CLIENT_TIMEOUT_S) as client:
        in_flight = pool.submit(client.infer, capture_tensor)
        time.sleep(0.5)
        server.handle.terminate()
        time.sleep(0.5)
        with PeopleNetClient(server.grpc_url, timeout_s=5) as late:
            with pytest.raises(InferenceServerException):
                late.infer(capture_tensor)
        cov, bbox = in_flight.result(timeout=CLIENT_TIMEOUT_S)
    assert cov.shape == (1, *detectnet.COV_SHAPE)
    assert server.handle.wait(15) == 0, server.log_tail()


def test_work_longer_than_the_exit_timeout_is_stopped_after_a_bound(
        leak_check, make_server, slow_repo, capture_tensor):
    server = make_server(slow_repo(delay_s=60.0), exit_timeout_s=2, stop_timeout_s=6)
    client = PeopleNetClient(server.grpc_url, timeout_s=90)
    pool = ThreadPoolExecutor(1)
    try:
        stuck = pool.submit(client.infer, capture_tensor)
        time.sleep(0.5)
        began = time.monotonic()
        server.stop()
        stopped_s = time.monotonic() - began
        with pytest.raises(InferenceServerException):
            stuck.result(timeout=10)
    finally:
        client.close()
        pool.shutdown(wait=False)
    # Triton's own exit timeout (2 s) or our bound (6 s, then SIGKILL), plus cleanup.
    assert stopped_s < 6 + 5 + 2, f"stop took {stopped_s:.1f} s"
    assert not server.running
