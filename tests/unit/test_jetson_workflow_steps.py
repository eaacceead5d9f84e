"""Steps of the Jetson workflow, their own scripts run here with a stand-in `./suite` that
logs its arguments and the goldens directory it was given:

- the goldens live on the runner: a record_goldens run measures them into the runner's
  goldens directory (outside the checkout, which actions/checkout cleans) before the
  functional suite checks against them; every other run only checks;
- a capacity run asks `./suite capacity` for both TensorRT repositories, with the
  launcher, the power monitor and the repository variable's options, then its report."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_jetson_workflow_safety import WORKFLOW, _steps, workflow  # noqa: F401

SUITE = """#!/usr/bin/env bash
echo "$TRITON_SUITE_GOLDENS_DIR :: $*" >> "$SUITE_LOG"
"""


def _step(workflow: dict, name: str) -> dict:  # noqa: F811 - the fixture's value
    found = [s for s in _steps(workflow) if s.get("name") == name]
    assert found, f"no step named {name!r}"
    return found[0]


def _run_step(workflow: dict, tmp_path: Path, name: str, **env: str) -> list[str]:  # noqa: F811
    """The `./suite` calls the step `name` makes, each as 'GOLDENS_DIR :: arguments'."""
    checkout = tmp_path / "checkout"
    (checkout / "reports").mkdir(parents=True)
    for stand_in in (checkout / "suite", checkout / "ci" / "jetson-perf.sh"):
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        # ./suite logs its arguments; ci/jetson-perf.sh its name too
        stand_in.write_text(SUITE if stand_in.name == "suite"
                            else SUITE.replace(":: ", f":: {stand_in.name} "))
        stand_in.chmod(0o755)
    log = tmp_path / "suite.log"
    log.touch()
    env = {"PATH": os.environ["PATH"], "REPORTS": "reports", "SUITE_LOG": str(log),
           "TRITON_SUITE_GOLDENS_DIR": str(tmp_path / "runner-goldens"), **env}
    subprocess.run(["bash", "-eo", "pipefail", "-c", _step(workflow, name)["run"]],
                   cwd=checkout, env=env, check=True, capture_output=True, text=True, timeout=60)
    return log.read_text().splitlines()


def _run_functional_step(workflow: dict, tmp_path: Path, record: str) -> list[str]:  # noqa: F811
    return _run_step(workflow, tmp_path, "Functional suite", RECORD_GOLDENS=record)


def test_a_record_goldens_run_records_them_on_the_runner_then_checks(workflow, tmp_path):  # noqa: F811
    calls = _run_functional_step(workflow, tmp_path, "true")
    assert len(calls) == 2, calls
    recorded, checked = calls
    assert "tests/functional/test_golden_detections.py --update-goldens" in recorded
    assert "--update-goldens" not in checked and "tests/functional" in checked
    runner_goldens = str(tmp_path / "runner-goldens")
    assert recorded.startswith(runner_goldens) and checked.startswith(runner_goldens)


def test_another_run_only_checks_against_the_runners_goldens(workflow, tmp_path):  # noqa: F811
    calls = _run_functional_step(workflow, tmp_path, "false")
    assert len(calls) == 1 and "--update-goldens" not in calls[0], calls


def test_the_goldens_directory_is_the_runners_not_the_checkouts():
    text = WORKFLOW.read_text()
    assert re.search(r'goldens_dir=\$\{GOLDENS_DIR:-\$benchmark_dir/goldens\}', text)
    assert re.search(r'echo "TRITON_SUITE_GOLDENS_DIR=\$goldens_dir" >> "\$GITHUB_ENV"', text)
    assert "RECORD_GOLDENS: ${{ inputs.record_goldens || false }}" in text



@pytest.mark.parametrize("record, mode", [("true", "record"), ("false", "gate")])
def test_the_perf_step_records_on_a_record_baseline_run_and_gates_on_any_other(
        workflow, tmp_path, record, mode):  # noqa: F811
    """The step runs ci/jetson-perf.sh, which tests/perf/test_workflow_rehearsal.py runs for
    real in both modes."""
    calls = _run_step(workflow, tmp_path, "Perf suite and gate", RECORD_BASELINE=record)
    assert [call.split(" :: ", 1)[1] for call in calls] == [f"jetson-perf.sh {mode}"], calls


def test_a_capacity_run_asks_for_both_tensorrt_repositories_with_power(workflow, tmp_path):  # noqa: F811
    repos = "model_repos/tensorrt/sample_1_instances model_repos/tensorrt/sample_2_dynamic_batching"
    calls = _run_step(workflow, tmp_path, "Camera streams", TRITON_SUITE_REPOS=repos,
                      TRITON_SUITE_LAUNCHER="release", TRITON_SUITE_INSTALL="/opt/tritonserver",
                      TRITON_SUITE_IMAGE="", CAPACITY_ARGS="--fps 30 --seconds 10")
    assert len(calls) == 2, calls
    args = calls[0].split(" :: ", 1)[1].split()
    assert calls[1].split(" :: ", 1)[1].split() == [
        "report", "capacity", "reports/capacity.json", "-o", "reports/capacity"]
    assert args[:3] == ["capacity", *repos.split()]
    for option in (["--monitor", "auto"], ["--json", "reports/capacity.json"],
                   ["--triton-launcher", "release"], ["--triton-install", "/opt/tritonserver"],
                   ["--fps", "30"], ["--seconds", "10"]):
        i = args.index(option[0])
        assert args[i:i + 2] == option, args
