"""Scenario for tests/faults: a short benchmark, then (when asked) a long one to interrupt."""

import os
import time
from pathlib import Path


def test_quick_benchmark(benchmark):
    benchmark.pedantic(lambda: time.sleep(0.001), rounds=5, iterations=1)


def test_long_benchmark(benchmark):
    ready = os.environ.get("SCENARIO_READY_FILE")

    def one_round():
        if ready:
            Path(ready).write_text("running")
        time.sleep(0.5)

    benchmark.pedantic(one_round, rounds=240, iterations=1)
