"""The server lifecycle on real servers: start, fail, retry, stop, clean.

Each check runs through every launcher that starts servers of its own: the embedded
tritonserver, a release install dir made of the embedded wheel's files, and (marked
docker) a container. Where the launchers differ (how the command begins, what is left
to look for after a stop), the test says so for each.
"""

import time

import docker.errors
import pytest

from pnsuite import ownership
from pnsuite.paths import EMBEDDED_REPOS, MODEL_REPOS
from pnsuite.server import Launcher, LauncherConfigError, ServerStartError, TritonServer
from pnsuite.server.docker import DockerLauncher
from pnsuite.server.embedded import EmbeddedLauncher
from pnsuite.server.external import ExternalLauncher
from pnsuite.server.ports import clashing_first_pick, occupied_port
from pnsuite.server.release import LocalReleaseLauncher
from tests.constants import MODEL

SAMPLE_2 = EMBEDDED_REPOS / "sample_2_dynamic_batching"
FAILS_TO_LOAD = MODEL_REPOS / "testing" / "fails_to_load"
PROCESS_LAUNCHERS = ["embedded", "release"]
LAUNCHERS = [*PROCESS_LAUNCHERS, pytest.param("docker", marks=pytest.mark.docker)]
#: The ready timeout of a server whose model fails to load: its exit must be noticed
#: well before it (a container takes longer to start than a process).
FAILING_READY_TIMEOUT_S = {"embedded": 30, "release": 30, "docker": 60}


@pytest.fixture(params=LAUNCHERS)
def launcher(request: pytest.FixtureRequest) -> Launcher:
    """The launcher under test, by name: embedded, release or docker."""
    if request.param == "embedded":
        return EmbeddedLauncher()
    if request.param == "release":
        return LocalReleaseLauncher(request.getfixturevalue("release_install_dir"))
    return request.getfixturevalue("docker_launcher")


def _command_start(launcher: Launcher) -> list[str]:
    """How the launcher's server command begins: `docker run`, or the server binary."""
    if isinstance(launcher, DockerLauncher):
        return ["docker", "run"]
    return [str(launcher.binary)]  # type: ignore[attr-defined]


@pytest.mark.faults
def test_a_repo_that_fails_to_load_raises_with_reason_command_exit_code_and_log(
        leak_check, launcher, server_containers, tmp_path):
    timeout_s = FAILING_READY_TIMEOUT_S[launcher.name]
    server = TritonServer(launcher, FAILS_TO_LOAD, workdir=tmp_path, ready_timeout_s=timeout_s)
    began = time.monotonic()
    with pytest.raises(ServerStartError) as info:
        with server:
            pass
    err = info.value
    assert "exited before it was ready" in err.reason  # noticed the exit, not the deadline
    assert time.monotonic() - began < timeout_s
    assert err.exit_code not in (None, 0)
    assert "deliberate load failure" in str(err)  # from the server's own log
    assert "deliberate load failure" in (tmp_path / "tritonserver.log").read_text()
    start = _command_start(launcher)
    assert err.command[:len(start)] == start, err.command
    assert "--model-repository" in str(err)
    assert not server.running
    if isinstance(launcher, DockerLauncher):
        assert "tritonserver" in err.command
        assert not server_containers(launcher, server.shm_prefix)


def test_stop_is_graceful_and_leaves_no_server_stub_or_shm_region(leak_check, launcher,
                                                                   tmp_path):
    before = ownership.take()
    server = TritonServer(launcher, SAMPLE_2, workdir=tmp_path)
    container_id = None
    try:
        server.start()
        # A container's processes are the host's too: the census sees its stubs, and the
        # python backend's regions are in the host's /dev/shm (ipc_mode=host).
        during = ownership.take() - before
        assert any("triton_python_backend_stub" in p for p in during.processes), during
        assert any(server.shm_prefix in r for r in during.shm_regions), during
        if isinstance(launcher, DockerLauncher):
            container_id = server.handle.container.id  # type: ignore[union-attr]
    finally:
        code = server.stop()
    assert code == 0  # SIGTERM honoured within the bound, not killed
    after = ownership.take() - before
    assert not after, after.describe()
    assert f"successfully loaded '{MODEL}'" in (tmp_path / "tritonserver.log").read_text()
    if container_id is not None:
        with pytest.raises(docker.errors.NotFound):
            launcher.client.containers.get(container_id)  # type: ignore[attr-defined]


@pytest.mark.faults
@pytest.mark.slow  # the fast tier starts and stops each launcher's server
def test_a_taken_port_is_noticed_in_the_log_and_the_server_retries_on_fresh_ports(
        leak_check, launcher, tmp_path):
    with occupied_port() as busy:
        server = TritonServer(launcher, SAMPLE_2, workdir=tmp_path,
                              port_picker=clashing_first_pick(busy))
        with server:
            assert server.ports.grpc != busy
            with server.grpc_client() as client:
                assert client.is_model_ready(MODEL)
        assert "already in use" in (tmp_path / "tritonserver.log").read_text()


# Process launchers only: a 5 s deadline leaves no margin for a container's start, where
# the server itself, not the missing model, could be what is not ready.
@pytest.mark.parametrize("launcher", PROCESS_LAUNCHERS, indirect=True)
@pytest.mark.slow  # a server left to miss its deadline
def test_the_ready_deadline_names_what_was_not_ready(leak_check, launcher, tmp_path):
    server = TritonServer(launcher, SAMPLE_2, models=(MODEL, "no_such_model"),
                          workdir=tmp_path, ready_timeout_s=5)
    with pytest.raises(ServerStartError, match="model 'no_such_model' not ready within 5 s"):
        with server:
            pass


def test_a_local_release_install_dir_runs_its_own_binary(leak_check, release_install_dir,
                                                         tmp_path):
    launcher = LocalReleaseLauncher(release_install_dir)
    with TritonServer(launcher, SAMPLE_2, workdir=tmp_path) as server:
        assert str(release_install_dir / "bin" / "tritonserver") == server.handle.command[0]
        with server.grpc_client() as client:
            assert client.is_model_ready(MODEL)


def test_a_local_release_dir_that_is_not_one_says_what_is_missing(tmp_path):
    with pytest.raises(LauncherConfigError, match="bin/tritonserver"):
        LocalReleaseLauncher(tmp_path)


def test_an_external_server_is_used_but_never_stopped(make_server, tmp_path):
    owned = make_server(SAMPLE_2)
    external = TritonServer(ExternalLauncher(owned.grpc_url), None, workdir=tmp_path)
    with external:
        with external.grpc_client() as client:
            assert client.is_model_ready(MODEL)
    assert owned.running
    with owned.grpc_client() as client:
        assert client.is_server_ready()
