"""Scenario for tests/faults: a perf-style test that holds its server busy until it is
interrupted. Collected only when a fault test runs this file in a child pytest."""

import os
import time
from pathlib import Path

from pnsuite.client.load import ClosedLoopLoad
from pnsuite.detection import detectnet
from pnsuite.paths import CAPTURE_IMAGE, PROJECT_ROOT

CAPTURE = CAPTURE_IMAGE


def test_hold_the_server_busy(make_server):
    server = make_server(PROJECT_ROOT / "model_repos" / "embedded" / "sample_1_instances")
    chw, _ = detectnet.preprocess(detectnet.load_image(CAPTURE))
    with ClosedLoopLoad(server.grpc_url, chw[None], concurrency=3) as load:
        load.run(3)  # shm regions registered and in use
        Path(os.environ["SCENARIO_READY_FILE"]).write_text(str(os.getpid()))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            load.run(3)
