"""Fixtures shared by the perf and fault suites: the image every request carries and the
configured repositories to compare."""

import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from pnsuite.detection import detectnet
from pnsuite.repository import model_config
from pnsuite.client.load import Load
from pnsuite.server import Launcher, TritonServer
from pnsuite.server.ports import clashing_first_pick, occupied_port
from pnsuite.client.multiprocess_load import make_load
from pnsuite.paths import CAPTURE_IMAGE, PROJECT_ROOT
from pnsuite.settings import SuiteSettings

CAPTURE = CAPTURE_IMAGE


@pytest.fixture(scope="session")
def capture_tensor() -> np.ndarray:
    """capture.jpg pre-processed once: [1, 3, 544, 960] float32."""
    chw, _ = detectnet.preprocess(detectnet.load_image(CAPTURE))
    return chw[None]


@pytest.fixture
def closed_loop(suite_settings: SuiteSettings, capture_tensor: np.ndarray) -> Callable[..., Load]:
    """Factory: `closed_loop(url, concurrency, tensor=capture_tensor)`, a perf load with
    its tensors where --triton-memory says (system or GPU shared memory, or none), its
    client threads spread over --load-processes processes."""
    def make(url: str, concurrency: int, tensor: np.ndarray | None = None) -> Load:
        return make_load(url, capture_tensor if tensor is None else tensor, concurrency,
                         suite_settings.memory,  # type: ignore[arg-type]
                         suite_settings.load_processes)
    return make


@pytest.fixture
def check_port_clash_retry() -> Callable[[Launcher, Path, Path], None]:
    """Check: `launcher` started on `repo` with a first port pick that is taken notices
    the server's "already in use" and comes up on fresh ports."""
    def check(launcher: Launcher, repo: Path, workdir: Path) -> None:
        with occupied_port() as busy:
            server = TritonServer(launcher, repo, workdir=workdir,
                                  port_picker=clashing_first_pick(busy))
            with server:
                assert server.ports.grpc != busy
                assert server.grpc_client().is_model_ready("peoplenet")
            assert "already in use" in (workdir / "tritonserver.log").read_text()
    return check


def _configured_repo(settings: SuiteSettings, wanted: str,
                     check: Callable[[model_config.ModelConfig], bool]) -> Path:
    if settings.launcher == "external":
        pytest.skip("needs servers of its own with derived configs; an external server "
                    "(--triton-launcher=external) serves one fixed repository")
    for repo in settings.repos:
        if (repo / "peoplenet" / "config.pbtxt").is_file() and \
                check(model_config.read_config(repo)):
            return repo
    pytest.skip(f"no configured repository ({', '.join(r.name for r in settings.repos)}) "
                f"is {wanted}")


@pytest.fixture(scope="session")
def instances_repo(suite_settings: SuiteSettings) -> Path:
    """The configured repo with several instances and no dynamic batching (sample 1)."""
    return _configured_repo(
        suite_settings, "a several-instance repo without dynamic batching",
        lambda c: model_config.instance_count(c) > 1 and not model_config.batches_dynamically(c))


@pytest.fixture(scope="session")
def batching_repo(suite_settings: SuiteSettings) -> Path:
    """The configured repo with dynamic batching (sample 2)."""
    return _configured_repo(suite_settings, "a dynamic-batching repo",
                            model_config.batches_dynamically)


@pytest.fixture
def perf_run(suite_settings: SuiteSettings) -> Callable[[Path, Path], Path]:
    """Factory: record the concurrency-1 benchmark of `repo` in a child pytest session
    (a real, separate perf run, as CI makes one) into the JSON file `out`."""
    def run(repo: Path, out: Path) -> Path:
        command = [sys.executable, "-m", "pytest",
                   "tests/perf/test_benchmarks.py::test_throughput", "-k", "c1", "-q",
                   "-p", "no:cacheprovider", "--benchmark-save-data",
                   f"--benchmark-json={out}", f"--triton-repos={repo}",
                   f"--triton-launcher={suite_settings.launcher}"]
        if suite_settings.triton_image:
            command.append(f"--triton-image={suite_settings.triton_image}")
        done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, \
            f"{' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
        return out
    return run
