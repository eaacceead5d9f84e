"""The perf suite: every test here is marked `perf` (run serially: pytest-benchmark switches itself off under xdist)."""

from pathlib import Path

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.perf)
