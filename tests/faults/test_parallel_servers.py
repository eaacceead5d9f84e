"""Several servers at once (as under pytest -n 4): distinct ports, no statistics cross-talk."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from pnsuite.client.peoplenet import PeopleNetClient
from pnsuite.detection import detectnet
from pnsuite.measure import triton_stats
from pnsuite.paths import PROJECT_ROOT

# slow: four servers at once
pytestmark = pytest.mark.slow

REPO = PROJECT_ROOT / "model_repos" / "embedded" / "sample_2_dynamic_batching"


def test_four_servers_started_together_get_their_own_ports_and_statistics(leak_check,
                                                                          make_server):
    with ThreadPoolExecutor(4) as pool:
        servers = list(pool.map(lambda _: make_server(REPO), range(4)))
    ports = [p for s in servers for p in (s.ports.http, s.ports.grpc, s.ports.metrics)]
    assert len(set(ports)) == len(ports), ports
    assert len({s.shm_prefix for s in servers}) == 4
    blank = np.zeros((1, *detectnet.INPUT_SHAPE), np.float32)

    def send(args):
        server, count = args
        with server.grpc_client() as admin, PeopleNetClient(server.grpc_url, memory="system") as c:
            before = triton_stats.snapshot(admin, "peoplenet")
            for _ in range(count):
                c.infer(blank)
            return triton_stats.wait_for_delta(admin, "peoplenet", before, count)

    counts = [1, 2, 3, 4]
    with ThreadPoolExecutor(4) as pool:
        deltas = list(pool.map(send, zip(servers, counts)))
    assert [d.inference_count for d in deltas] == counts
