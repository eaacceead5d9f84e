"""The Jetson workflow's functional step, run for real on a board's layout.

The script is jetson.yml's own "Functional suite" step, unedited: on a record_goldens run it
records the goldens with `./suite test ... --update-goldens` into the runner's goldens
directory (TRITON_SUITE_GOLDENS_DIR, outside the checkout, which actions/checkout cleans),
then runs the functional suite against them. The board is built as tests/unit's rehearsal
builds it: two repositories with real version directories (no symlinks), a model deaf to
every stand-in parameter (as TensorRT PeopleNet is), served by the `release` launcher from an
install dir shaped like JetPack's Triton tarball. Only the TensorRT conversion is not
rehearsed: no TensorRT here.

The functional suite runs in the fast tier here (TRITON_SUITE_TIER): the one slow functional
test, the golden update flow, serves the stand-in itself and runs elsewhere in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pnsuite.paths import EMBEDDED_REPOS, GOLDEN_DETECTIONS, PROJECT_ROOT
from pnsuite.repository import model_config
from tests.perf.test_workflow_rehearsal import IGNORING_MODEL
from tests.unit.test_jetson_workflow_safety import _steps, workflow  # noqa: F401

pytestmark = [pytest.mark.functional, pytest.mark.slow]

IDENTITY = "peoplenet-on-a-board-layout"


def _board_repository(source: Path, destination: Path) -> Path:
    """`source`'s config with the deaf model in a real version directory."""
    repo = model_config.write_variant(source, destination,
                                      parameters={"model_identity": IDENTITY, "extra_work": "1.0"})
    version = repo / "peoplenet" / "1"
    version.unlink()  # write_variant links the stand-in's version directory
    version.mkdir()
    (version / "model.py").write_text(IGNORING_MODEL)
    return repo


def _failures(junit: Path) -> tuple[int, int]:
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    return int(suite.get("tests")), int(suite.get("failures")) + int(suite.get("errors"))


def test_a_record_goldens_run_records_on_the_runner_then_the_functional_suite_passes(
        workflow, release_install_dir, tmp_path):  # noqa: F811 - the fixture's value
    step = [s for s in _steps(workflow) if s.get("name") == "Functional suite"]
    assert len(step) == 1, "jetson.yml has no single step named 'Functional suite'"
    board = tmp_path / "board"
    repos = [_board_repository(EMBEDDED_REPOS / name, board / "model_repos" / name)
             for name in ("sample_1_instances", "sample_2_dynamic_batching")]
    assert not any(p.is_symlink() for repo in repos for p in repo.rglob("*"))
    runner_goldens = tmp_path / "runner" / "goldens"
    runner_goldens.mkdir(parents=True)
    reports = tmp_path / "reports"
    reports.mkdir()
    checkout_goldens = sorted(p.name for p in GOLDEN_DETECTIONS.iterdir())
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("TRITON_SUITE_") and key != "RECORD_GOLDENS"}
    env.update(RECORD_GOLDENS="true", REPORTS=str(reports), TRITON_SUITE_TIER="fast",
               TRITON_SUITE_LAUNCHER="release", TRITON_SUITE_INSTALL=str(release_install_dir),
               TRITON_SUITE_REPOS=" ".join(str(r) for r in repos),
               TRITON_SUITE_GOLDENS_DIR=str(runner_goldens))
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", step[0]["run"]], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{done.stdout[-5000:]}\n{done.stderr[-3000:]}"

    recorded, failed = _failures(reports / "goldens-recorded.xml")
    assert recorded and not failed, done.stdout[-5000:]
    checked, failed = _failures(reports / "functional.xml")
    assert checked > recorded and not failed, done.stdout[-5000:]
    # the goldens are the board model's, on the runner; the checkout's are untouched
    golden = json.loads((runner_goldens / f"{IDENTITY}.json").read_text())
    assert golden["model_identity"] == IDENTITY
    assert sorted(p.name for p in GOLDEN_DETECTIONS.iterdir()) == checkout_goldens
    # both sessions served by the release install, on the board's repositories
    served = f"triton launcher: release (install_dir {release_install_dir.resolve()})"
    assert done.stdout.count(served) == 2, done.stdout[:3000]
    assert done.stdout.count(f"model repositories: {' '.join(map(str, repos))}") == 2
