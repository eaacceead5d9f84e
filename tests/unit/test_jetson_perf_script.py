"""ci/jetson-perf.sh's settings, checked before anything runs: a value it does not know is a
usage error (exit 2) that names the allowed values, and nothing is started or created.

The script's behaviour on a real gate (an inconclusive gate fails the job by default, and
is a warning with GATE_INCONCLUSIVE=warn) is rehearsed end to end in
tests/perf/test_workflow_rehearsal.py.
"""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "ci" / "jetson-perf.sh"


def _run(tmp_path, mode="gate", **settings):
    env = {key: value for key, value in os.environ.items()
           if key not in ("GATE_INCONCLUSIVE", "GATE_ACCEPT", "BASELINE_RUNS",
                           "BASELINE_MAX_RUNS")}
    env.update(BENCHMARK_DIR=str(tmp_path / "runner"), REPORTS=str(tmp_path / "reports"),
               **settings)
    return subprocess.run(["bash", str(SCRIPT), mode], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("mode", ["gate", "record"])
@pytest.mark.parametrize("value", ["warning", "FAIL", "pass", "0"])
def test_an_unknown_gate_inconclusive_is_a_usage_error(tmp_path, mode, value):
    done = _run(tmp_path, mode, GATE_INCONCLUSIVE=value)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"GATE_INCONCLUSIVE must be fail (the default) or warn, got '{value}'" in done.stderr
    # stopped before anything ran: no storage, no reports, no suite
    assert not (tmp_path / "runner").exists() and not (tmp_path / "reports").exists()
    assert done.stdout == ""


@pytest.mark.parametrize("value", ["ten", "0", "-3", "2.5", "10 runs"])
def test_baseline_runs_must_be_a_whole_number(tmp_path, value):
    done = _run(tmp_path, "record", BASELINE_RUNS=value)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"BASELINE_RUNS must be a whole number of runs (default 10), got '{value}'" in done.stderr
    assert not (tmp_path / "runner").exists() and done.stdout == ""


def test_an_unknown_mode_is_a_usage_error(tmp_path):
    done = _run(tmp_path, "measure")
    assert done.returncode == 2
    assert "usage: ci/jetson-perf.sh record|gate" in done.stderr


@pytest.mark.parametrize("value", ["forty", "-1", "2.5"])
def test_baseline_max_runs_must_be_a_whole_number(tmp_path, value):
    done = _run(tmp_path, "record", BASELINE_MAX_RUNS=value)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"BASELINE_MAX_RUNS must be a whole number of runs (default 40, 0 for exactly " \
           f"BASELINE_RUNS), got '{value}'" in done.stderr
    assert not (tmp_path / "runner").exists() and done.stdout == ""


@pytest.mark.parametrize("value", ["yes", "true", "2"])
def test_gate_accept_must_be_0_or_1(tmp_path, value):
    done = _run(tmp_path, "gate", GATE_ACCEPT=value)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"GATE_ACCEPT must be 0 (the default) or 1, got '{value}'" in done.stderr
    assert not (tmp_path / "runner").exists() and done.stdout == ""


def test_gate_accept_needs_a_results_store(tmp_path):
    done = _run(tmp_path, "gate", GATE_ACCEPT="1", TRITON_SUITE_RESULTS_STORE="")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "GATE_ACCEPT=1 adds the runs to the baseline in the results store, but " \
           "TRITON_SUITE_RESULTS_STORE is not set" in done.stderr
