"""The closed loop spread over worker processes: exact request counts, and nothing left
behind, also when a worker is killed."""

import os
import signal
import time

import pytest

from pnsuite import ownership
from pnsuite.client.multiprocess_load import MultiProcessLoad, shares
from pnsuite.measure import triton_stats
from pnsuite.ownership import SHM_DIR

# slow: load workers killed and interrupted
pytestmark = pytest.mark.slow


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its parent has not reaped yet."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return any(line.startswith("State:") and "Z" in line for line in fh)
    except FileNotFoundError:
        return True


@pytest.fixture
def server(shared_server, instances_repo):
    """The session's server for the instances repo, started before leak_check looks."""
    return shared_server(instances_repo)


def test_a_spread_load_sends_exactly_the_requests_asked_from_every_process(
        server, leak_check, capture_tensor):
    with server.grpc_client() as admin, \
            MultiProcessLoad(server.grpc_url, capture_tensor, 5, processes=2) as load:
        assert load.processes == 2 and len(set(load.worker_pids)) == 2
        before = triton_stats.snapshot(admin, "peoplenet")
        run = load.run(7)
        delta = triton_stats.wait_for_delta(admin, "peoplenet", before, 7)
        pids = load.worker_pids
    assert run.requests == 7 and run.concurrency == 5 and run.total_s > 0, run
    assert delta.inference_count == 7, delta
    assert run.cpu_s > 0, "the workers' CPU time was not reported"
    assert all(_gone(pid) for pid in pids), f"workers still running: {pids}"


def test_a_killed_worker_fails_the_run_by_name_and_its_regions_are_removed(
        server, leak_check, capture_tensor):
    load = MultiProcessLoad(server.grpc_url, capture_tensor, 2, processes=2)
    try:
        victim = load.worker_pids[1]
        left = ownership.shm_regions(ownership.client_region_prefix(victim))
        assert left, "the worker registered no system shm regions"
        os.kill(victim, signal.SIGKILL)
        while not _gone(victim):
            time.sleep(0.05)
        with pytest.raises(RuntimeError, match=f"pid {victim}.*died"):
            load.run(2)
    finally:
        load.close()
    assert not [n for n in left if (SHM_DIR / n).exists()], "the killed worker's regions stayed"
    with server.grpc_client() as admin:
        registered = admin.get_system_shared_memory_status(as_json=True).get("regions", {})
    assert not [n for n in registered if n.startswith(ownership.client_region_prefix(victim))], \
        registered


def test_an_interrupted_spread_load_ends_its_workers_runs_instead_of_finishing_them(
        server, leak_check, capture_tensor):
    asked = 2000  # minutes of requests for the stand-in: only a cut run ends in this test
    with server.grpc_client() as admin:
        with pytest.raises(KeyboardInterrupt):
            with MultiProcessLoad(server.grpc_url, capture_tensor, 2, processes=2) as load:
                pids = load.worker_pids
                for _, conn in load._workers:  # a run in progress, as Ctrl-C finds it
                    conn.send(("run", asked // 2))
                time.sleep(1.0)
                at_interrupt = triton_stats.snapshot(admin, "peoplenet")
                raise KeyboardInterrupt
        time.sleep(2.0)  # what the server still gets from the load would arrive by now
        after = (triton_stats.snapshot(admin, "peoplenet") - at_interrupt).inference_count
    assert all(_gone(pid) for pid in pids), f"workers still running: {pids}"
    # at most the requests in flight finish after the interrupt: one per worker thread at
    # the snapshot, and one more each may have begun before SIGTERM reached it
    assert after <= 4, f"the workers went on to send {after} more requests"


@pytest.fixture
def two_servers(shared_server, instances_repo, batching_repo):
    """The session's servers of two repos, started before leak_check looks."""
    return shared_server(instances_repo), shared_server(batching_repo)


def test_a_spread_load_moved_to_another_server_sends_there_and_leaves_nothing_on_the_first(
        two_servers, leak_check, capture_tensor):
    first, second = two_servers
    with first.grpc_client() as one, second.grpc_client() as two, \
            MultiProcessLoad(first.grpc_url, capture_tensor, 2, processes=2) as load:
        pids = load.worker_pids
        load.run(2)
        before = triton_stats.snapshot(two, "peoplenet")
        load.retarget(second.grpc_url)
        assert load.worker_pids == pids, "moving the load started new worker processes"
        run = load.run(4)
        delta = triton_stats.wait_for_delta(two, "peoplenet", before, 4)
        left = [n for n in one.get_system_shared_memory_status(as_json=True).get("regions", {})
                if any(n.startswith(ownership.client_region_prefix(p)) for p in pids)]
    assert run.requests == 4 and delta.inference_count == 4, delta
    assert not left, f"the load's regions stayed registered on the first server: {left}"


@pytest.mark.parametrize("total, parts, expected", [(16, 4, [4, 4, 4, 4]), (5, 2, [3, 2]),
                                                    (3, 3, [1, 1, 1])])
def test_shares_split_evenly_with_larger_ones_first(total, parts, expected):
    assert shares(total, parts) == expected
