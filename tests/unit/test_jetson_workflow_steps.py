"""Steps of the Jetson workflow, their own scripts run here with a stand-in `./suite` that
logs its arguments and the goldens directory it was given:

- the goldens live on the runner: a record_goldens run measures them into the runner's
  goldens directory (outside the checkout, which actions/checkout cleans) before the
  functional suite checks against them; every other run only checks;
- a capacity run asks `./suite capacity` for both TensorRT repositories, with the
  launcher, the power monitor and the repository variable's options, then its report."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_jetson_workflow_safety import WORKFLOW, _steps, workflow  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
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


ORIN = Path(__file__).resolve().parent / "data" / "jetson" / "orin_agx_jp6"
#: the L4T tools the identity runs, each printing the recorded AGX Orin's answer
BOARD_TOOLS = {"nvpmodel": "nvpmodel_q.txt", "jetson_clocks": "jetson_clocks_show_on.txt",
               "dpkg-query": "dpkg_jetpack.txt"}


def _board_tree(root: Path, tools: Path) -> None:
    """The recorded AGX Orin (JetPack 6) as a machine's files and tools."""
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "nv_tegra_release").write_text((ORIN / "nv_tegra_release").read_text())
    (root / "proc" / "device-tree").mkdir(parents=True)
    (root / "proc" / "device-tree" / "model").write_bytes((ORIN / "device_tree_model").read_bytes())
    for line in (ORIN / "thermal_zones.txt").read_text().splitlines():
        zone, kind, temp = line.split("\t")
        (root / "sys" / "class" / "thermal" / zone).mkdir(parents=True)
        (root / "sys" / "class" / "thermal" / zone / "type").write_text(kind + "\n")
        (root / "sys" / "class" / "thermal" / zone / "temp").write_text(temp + "\n")
    tools.mkdir()
    for name, sample in BOARD_TOOLS.items():
        (tools / name).write_text(f"#!/bin/sh\ncat '{ORIN / sample}'\n")
        (tools / name).chmod(0o755)


def test_the_identify_step_names_the_board_its_release_and_the_runners_directories(
        workflow, tmp_path):  # noqa: F811
    """jetson.yml's "Identify the Jetson", its script unedited, on a board's files and tools
    (SUITE_PLATFORM_ROOT: pnsuite/platform/jetson.py reads under it)."""
    root, tools, home = tmp_path / "board", tmp_path / "tools", tmp_path / "home"
    _board_tree(root, tools)
    model = tmp_path / "resnet34_peoplenet_pruned.etlt"
    model.write_bytes(b"the model NGC ships")
    outputs, github_env = tmp_path / "github_output", tmp_path / "github_env"
    outputs.touch()
    github_env.touch()
    _run_step(workflow, tmp_path, "Identify the Jetson", PATH=f"{tools}:{os.environ['PATH']}",
              PYTHONPATH=str(ROOT), SUITE_PLATFORM_ROOT=str(root), HOME=str(home),
              PEOPLENET_MODEL=str(model), GITHUB_OUTPUT=str(outputs),
              GITHUB_ENV=str(github_env), TRITON_SUITE_LAUNCHER="release",
              TRITON_SUITE_INSTALL="", BENCHMARK_DIR="", RESULTS_STORE_URL="")
    said = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert said == {"l4t": "36.3.0", "jetpack": "6.0", "board": said["board"],
                    "model_sha": hashlib.sha256(model.read_bytes()).hexdigest()}, said
    assert "AGX-Orin" in said["board"]
    env = dict(line.split("=", 1) for line in github_env.read_text().splitlines())
    benchmarks = home / "peoplenet-benchmarks"
    assert env == {"TRITON_SUITE_INSTALL": f"{home}/tritonserver",
                   "BENCHMARK_DIR": str(benchmarks),
                   "TRITON_SUITE_GOLDENS_DIR": f"{benchmarks}/goldens",
                   "TRITON_SUITE_RESULTS_STORE": f"{benchmarks}/results.db"}, env
    identity = json.loads((tmp_path / "checkout" / "reports" / "jetson-identity.json").read_text())
    assert identity["jetson"] is True and identity["nvpmodel_mode"] == "MAXN"
    assert identity["jetson_clocks"] is True and identity["jetson_temps_c"]


def test_the_identify_step_stops_a_runner_that_is_not_a_jetson(workflow, tmp_path):  # noqa: F811
    with pytest.raises(subprocess.CalledProcessError) as failed:
        _run_step(workflow, tmp_path, "Identify the Jetson", PYTHONPATH=str(ROOT),
                  SUITE_PLATFORM_ROOT=str(tmp_path / "not-a-board"),
                  GITHUB_OUTPUT=str(tmp_path / "o"), GITHUB_ENV=str(tmp_path / "e"))
    assert "this runner is not a Jetson" in failed.value.stdout
