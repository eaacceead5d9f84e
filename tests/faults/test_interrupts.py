"""Ctrl-C, SIGTERM and kill -9 of pytest itself: nothing of ours may remain (or outlive the next
session's start), and saved benchmark results survive an interrupted run."""

import json
import signal

import pytest

from pnsuite import ownership


# SIGTERM is slow: the fast tier checks Ctrl-C, which takes the same way out
@pytest.mark.parametrize("sig", [signal.SIGINT,
                                 pytest.param(signal.SIGTERM, marks=pytest.mark.slow)],
                         ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_during_a_perf_test_leaves_nothing(child_session, sig):
    # SIGTERM is how CI runners cancel a job; the plugin takes it as Ctrl-C.
    child = child_session("scenario_hold_server.py")
    child.wait_ready()
    tag = ownership.tag_of(child.proc.pid)
    assert ownership.take(tag), "the scenario's server should be running"
    child.signal(sig)
    code = child.wait(60)
    assert code != 0, child.output()
    left = ownership.take(tag)
    assert not left, f"after {sig.name}:\n{left.describe()}\n{child.output()}"


@pytest.mark.slow  # two child sessions
def test_kill_9_of_pytest_is_cleaned_up_when_the_next_session_starts(child_session):
    child = child_session("scenario_hold_server.py")
    child.wait_ready()
    tag = ownership.tag_of(child.proc.pid)
    child.signal(signal.SIGKILL)
    child.wait(30)
    orphans = ownership.take(tag)
    assert orphans.processes, "a killed session cannot stop its server: it is orphaned"
    # The next session (here: one that only collects) reaps at its start.
    nxt = child_session("scenario_benchmark.py", "--collect-only")
    assert nxt.wait(60) == 0, nxt.output()
    left = ownership.take(tag)
    assert not left, f"after the next session started:\n{left.describe()}"


@pytest.mark.slow  # two child sessions
def test_an_interrupted_perf_run_leaves_earlier_saved_results_intact(child_session, tmp_path):
    storage = tmp_path / "storage"
    first = child_session("scenario_benchmark.py", "-k", "quick", f"--benchmark-storage={storage}",
                          "--benchmark-save=first", "--benchmark-save-data")
    assert first.wait(120) == 0, first.output()
    saved = sorted(storage.rglob("*.json"))
    assert len(saved) == 1
    before = saved[0].read_bytes()

    second = child_session("scenario_benchmark.py", f"--benchmark-storage={storage}",
                           "--benchmark-save=second", "--benchmark-save-data")
    second.wait_ready()
    second.signal(signal.SIGINT)
    second.wait(60)
    after = sorted(storage.rglob("*.json"))
    assert saved[0].read_bytes() == before
    for path in after:  # whatever is there must be whole, readable JSON
        assert json.loads(path.read_text())["benchmarks"]
