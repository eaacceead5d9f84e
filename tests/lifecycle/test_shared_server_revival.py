"""A shared server that dies in one test is revived for the next: one crash fails one
test, not every test after it. Checked on a real pytest session with two ordered tests."""

from __future__ import annotations

import pytest

from pnsuite.paths import EMBEDDED_REPOS, PROJECT_ROOT

# slow: a shared server killed and revived in a child session
pytestmark = pytest.mark.slow

ORDERED_TESTS = """
import os
import signal


def test_1_the_server_dies(triton_server):
    os.killpg(triton_server.handle.pid, signal.SIGKILL)
    triton_server.handle.wait(10)
    assert not triton_server.running


def test_2_the_next_test_gets_a_live_server(triton_server):
    assert triton_server.running
    with triton_server.grpc_client() as client:
        assert client.is_model_ready("peoplenet")
"""


def test_a_shared_server_killed_in_one_test_is_revived_for_the_next(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))  # the pytest layer is not installed
    pytester.makepyfile(test_ordered=ORDERED_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "fixtures.plugin", "-p", "no:cacheprovider", "--triton-launcher", "embedded",
        f"--triton-repos={EMBEDDED_REPOS / 'sample_2_dynamic_batching'}", timeout=300)
    result.assert_outcomes(passed=2)
