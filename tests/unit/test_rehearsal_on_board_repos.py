"""The Jetson workflow's rehearsal (tests/perf/test_workflow_rehearsal.py) on a session
configured as a board's: TensorRT repositories (platform tensorrt_plan, a model.plan in a
real version directory, no model.py) served by a release install without a python backend.

The rehearsal is set up there (`--setup-only`: its fixtures run, its steps do not) and must
not skip: the model it built is a python-backend copy of the suite's own stand-in that owes
nothing to the configured repositories, and Triton loads it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pnsuite.paths import MODEL_REPOS, PROJECT_ROOT
from pnsuite.repository import model_config

# slow: a child session set up as a board's, and a server
pytestmark = pytest.mark.slow

REHEARSAL = PROJECT_ROOT / "tests" / "perf" / "test_workflow_rehearsal.py"


def _board_repos(board: Path) -> list[Path]:
    """model_repos/tensorrt as a board has it after the conversion step."""
    shutil.copytree(MODEL_REPOS / "tensorrt", board / "model_repos" / "tensorrt")
    repos = sorted((board / "model_repos" / "tensorrt").iterdir())
    for repo in repos:
        (repo / "peoplenet" / "1" / "model.plan").write_bytes(b"a serialized TensorRT engine")
    return repos


def _release_install(board: Path) -> Path:
    """A Triton install dir shaped like the Jetson release tarball, TensorRT backend only."""
    install = board / "tritonserver"
    for directory in ("bin", "lib", "backends/tensorrt"):
        (install / directory).mkdir(parents=True)
    (install / "bin" / "tritonserver").write_text("#!/bin/sh\nexit 1\n")
    (install / "bin" / "tritonserver").chmod(0o755)
    return install


@pytest.fixture
def board_session(pytester, monkeypatch, tmp_path):
    """Runs the rehearsal's set-up in a child pytest configured as a board's; returns the
    result, the board's dir and the child's basetemp."""
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))  # the pytest layer is not installed
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    board = tmp_path / "board"
    repos = _board_repos(board)
    install = _release_install(board)
    basetemp = tmp_path / "basetemp"
    result = pytester.runpytest_subprocess(
        str(REHEARSAL), "--setup-only", f"--basetemp={basetemp}", f"--rootdir={PROJECT_ROOT}",
        "-p", "no:cacheprovider", "--triton-launcher=release", f"--triton-install={install}",
        f"--triton-repos={' '.join(str(r) for r in repos)}", timeout=120)
    return result, board, basetemp


def test_the_rehearsal_builds_its_stand_in_whatever_repositories_a_board_has(board_session,
                                                                             make_server):
    result, board, basetemp = board_session
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and not {"skipped", "errors", "failed"} & outcomes.keys(), \
        result.stdout.str()[-3000:]
    built = sorted({p.resolve() for p in basetemp.glob("*/ignoring")})  # and a "current" link
    assert len(built) == 1, f"the rehearsal built {built}\n{result.stdout.str()[-3000:]}"
    repo = built[0]

    config = model_config.read_config(repo)
    assert (config.backend, config.platform) == ("python", ""), config
    assert model_config.model_identity(config) == "peoplenet-ignores-parameters"
    version = repo / "peoplenet" / "1"
    assert not version.is_symlink() and (version / "model.py").is_file()
    borrowed = [p for p in repo.rglob("*") if p.resolve().is_relative_to(board)]
    assert not borrowed, f"taken from the board's repositories: {borrowed}"

    server = make_server(repo)
    with server.grpc_client() as client:
        assert client.is_model_ready("peoplenet")
        loaded = model_config.loaded_config(client)
    assert model_config.model_identity(loaded) == "peoplenet-ignores-parameters"
