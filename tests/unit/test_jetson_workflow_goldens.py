"""The Jetson workflow's goldens live on the runner: a record_goldens run measures them
into the runner's goldens directory (outside the checkout, which actions/checkout cleans)
before the functional suite checks against them; every other run only checks.

The functional step's own script is run here with a stand-in `./suite` that logs its
arguments and the goldens directory it was given."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.unit.test_jetson_workflow_safety import WORKFLOW, _steps, workflow  # noqa: F401

SUITE = """#!/usr/bin/env bash
echo "$TRITON_SUITE_GOLDENS_DIR :: $*" >> "$SUITE_LOG"
"""


def _step(workflow: dict, name: str) -> dict:  # noqa: F811 - the fixture's value
    found = [s for s in _steps(workflow) if s.get("name") == name]
    assert found, f"no step named {name!r}"
    return found[0]


def _run_functional_step(workflow: dict, tmp_path: Path, record: str) -> list[str]:  # noqa: F811
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    suite = checkout / "suite"
    suite.write_text(SUITE)
    suite.chmod(0o755)
    log = tmp_path / "suite.log"
    env = {"PATH": os.environ["PATH"], "RECORD_GOLDENS": record, "REPORTS": "reports",
           "SUITE_LOG": str(log), "TRITON_SUITE_GOLDENS_DIR": str(tmp_path / "runner-goldens")}
    subprocess.run(["bash", "-eo", "pipefail", "-c", _step(workflow, "Functional suite")["run"]],
                   cwd=checkout, env=env, check=True, capture_output=True, text=True, timeout=60)
    return log.read_text().splitlines()


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

