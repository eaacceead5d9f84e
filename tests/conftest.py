"""Fixtures shared by every test folder: the image every request carries, a client of
the shared server, the docker and embedded launchers, and the configured repositories to
compare.

Values tests compare against come from the library (pnsuite.paths, pnsuite.detection)
or, for PeopleNet's facts no library module holds, from tests/constants.py.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from pnsuite.client.image_set import ImageSet, answer_images
from pnsuite.client.load import Load
from pnsuite.client.multiprocess_load import make_load
from pnsuite.detection import detectnet
from pnsuite.errors import SuiteError
from pnsuite.paths import CAPTURE_IMAGE, PROJECT_ROOT
from pnsuite.repository import model_config
from pnsuite.server import Launcher, TritonServer
from pnsuite.server.docker import SHM_LABEL, DockerLauncher
from pnsuite.server.factory import make_launcher
from pnsuite.settings import SuiteSettings
from tests.constants import MODEL


@pytest.fixture(scope="session")
def capture_tensor() -> np.ndarray:
    """capture.jpg pre-processed once: [1, 3, 544, 960] float32."""
    chw, _ = detectnet.preprocess(detectnet.load_image(CAPTURE_IMAGE))
    return chw[None]


@pytest.fixture
def grpc_client(triton_server: TritonServer) -> Iterator[grpcclient.InferenceServerClient]:
    """A gRPC client of the shared server, closed when the test ends."""
    with triton_server.grpc_client() as client:
        yield client


@pytest.fixture
def closed_loop(suite_settings: SuiteSettings, capture_tensor: np.ndarray) -> Callable[..., Load]:
    """Factory: `closed_loop(url, concurrency, tensor=capture_tensor)`, a perf load with
    its tensors where --triton-memory says (system or GPU shared memory, or none), its
    client threads spread over --load-processes processes. `tensor` may be an ImageSet
    (e.g. the `answer_image_set`), which the load cycles through."""
    def make(url: str, concurrency: int, tensor: np.ndarray | ImageSet | None = None) -> Load:
        return make_load(url, capture_tensor if tensor is None else tensor, concurrency,
                         suite_settings.memory,
                         suite_settings.load_processes)
    return make


@pytest.fixture(scope="session")
def answer_image_set() -> ImageSet:
    """capture.jpg, its centre crop and their flips (pnsuite.client.image_set), pre-processed
    once: a load of distinct images of equal cost
    whose answers under load are checked request by request (pnsuite.measure)."""
    return answer_images()


@pytest.fixture(scope="session")
def docker_launcher(suite_settings: SuiteSettings, triton_launcher: Launcher) -> DockerLauncher:
    """The session's docker launcher (the configured one under --triton-launcher docker),
    or a skip that says why Docker cannot be had here.

    Where docker tests are required (`--docker-required 1`, or TRITON_SUITE_DOCKER_REQUIRED=1
    as .ci/run sets, which starts its own engine) the same reason fails the test instead:
    on CI they must run.
    """
    if isinstance(triton_launcher, DockerLauncher):
        return triton_launcher
    try:
        return DockerLauncher(suite_settings.triton_image)
    except SuiteError as err:
        if suite_settings.docker_required:
            pytest.fail(f"docker tests are required here (--docker-required), but the docker "
                        f"launcher cannot run: {err}", pytrace=False)
        pytest.skip(f"the docker launcher cannot run here: {err}")


@pytest.fixture(scope="session")
def embedded_launcher(triton_launcher: Launcher) -> Launcher:
    """The embedded launcher, for tests that serve the suite's CPU stand-in whatever
    launcher is configured (a board's release install or NGC image may not load its
    python model), or a skip that says why it cannot run here."""
    if triton_launcher.name == "embedded":
        return triton_launcher
    try:
        return make_launcher("embedded")
    except SuiteError as err:
        pytest.skip(f"the embedded launcher, which serves the suite's stand-in, cannot run "
                    f"here: {err}")


@pytest.fixture
def server_containers() -> Callable[[DockerLauncher, str], list[str]]:
    """Function: `server_containers(launcher, shm_prefix)`, the names of the containers
    (running or not) of the server with that shm prefix on the launcher's engine."""
    def names(launcher: DockerLauncher, shm_prefix: str) -> list[str]:
        return [c.name for c in launcher.client.containers.list(
            all=True, filters={"label": f"{SHM_LABEL}={shm_prefix}"})]
    return names


def _configured_repo(settings: SuiteSettings, wanted: str,
                     check: Callable[[model_config.ModelConfig], bool]) -> Path:
    if settings.launcher == "external":
        pytest.skip("needs servers of its own with derived configs; an external server "
                    "(--triton-launcher=external) serves one fixed repository")
    for repo in settings.repos:
        if (repo / MODEL / "config.pbtxt").is_file() and \
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


@pytest.fixture(scope="session")
def release_install_dir(tmp_path_factory: pytest.TempPathFactory,
                        embedded_launcher: Launcher) -> Path:
    """A Triton install dir laid out like JetPack's release tarball (bin/tritonserver,
    lib/, backends/), made of the embedded wheel's real files."""
    embedded = embedded_launcher
    install = tmp_path_factory.mktemp("release") / "tritonserver"
    (install / "bin").mkdir(parents=True)
    os.symlink(embedded.binary, install / "bin" / "tritonserver")
    os.symlink(embedded.lib_dir, install / "lib")
    shutil.copytree(embedded.server_dir / "backends", install / "backends")
    shutil.copy2(embedded.stub, install / "backends" / "python" / "triton_python_backend_stub")
    return install
