"""--triton-server-args on a real pytest session: every server the session starts gets
the options (the server reports them back), a record says which it ran with, and an
option the suite sets itself is a usage error before any test."""

from __future__ import annotations

import pytest

from pnsuite.paths import EMBEDDED_REPOS, PROJECT_ROOT

# slow: child sessions; the options' parsing is unit-tested (tests/unit/test_settings.py)
pytestmark = pytest.mark.slow

SESSION_TEST = '''
def test_the_server_runs_with_the_options(triton_server):
    # An option whose effect the server reports back: its log settings (logging extension).
    with triton_server.grpc_client() as client:
        settings = client.get_log_settings(as_json=True)["settings"]
    assert settings["log_warning"] == {"bool_param": False}
    assert triton_server.describe()["server_args"] == "--log-warning=false"
'''


@pytest.fixture
def child_session(pytester, monkeypatch):
    """A pytest session in a child process with the suite's plugin (not installed, so on
    PYTHONPATH), not marked as an xdist worker when this run uses -n."""
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_options=SESSION_TEST)

    def run(*options: str):
        return pytester.runpytest_subprocess(
            "-p", "fixtures.plugin", "-p", "no:cacheprovider", "--triton-launcher=embedded",
            f"--triton-repos={EMBEDDED_REPOS / 'sample_1_instances'}", *options, timeout=180)
    return run


def test_every_server_of_the_session_gets_the_options(child_session):
    child_session("--triton-server-args=--log-warning=false").assert_outcomes(passed=1)


def test_an_option_the_suite_sets_itself_is_refused_before_any_test(child_session):
    result = child_session("--triton-server-args=--grpc-port=8001")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "the suite sets --grpc-port itself" in result.stderr.str()
