"""Scenario for tests/faults: a perf-style test that holds its server busy until it is
interrupted. Collected only when a fault test runs this file in a child pytest."""

import os
import time
from pathlib import Path

from pnsuite.client.load import ClosedLoopLoad
from pnsuite.paths import EMBEDDED_REPOS


def test_hold_the_server_busy(make_server, capture_tensor):
    server = make_server(EMBEDDED_REPOS / "sample_1_instances")
    with ClosedLoopLoad(server.grpc_url, capture_tensor, concurrency=3) as load:
        load.run(3)  # shm regions registered and in use
        Path(os.environ["SCENARIO_READY_FILE"]).write_text(str(os.getpid()))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            load.run(3)
