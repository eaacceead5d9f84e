"""What only the docker launcher has, against a real Docker engine: the container's
settings and labels, daemon and image errors, GPU options, the reaper of a killed
session's containers, and the container log in a failing test's report.

Start, stop, a failing load and a taken port are checked for every launcher, docker
included, in tests/lifecycle. The contract, golden and demo tests run through containers
too, unchanged: `.ci/run` runs them again with `--triton-launcher docker` (see the
docs/docker.md).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import docker.errors
import pytest

from pnsuite import ownership
from pnsuite.detection import detectnet
from pnsuite.client.peoplenet import infer_images
from pnsuite.server import LauncherConfigError, TritonServer
from pnsuite.server.docker import (GPU_IMAGE, JETSON_IMAGE, LOCAL_IMAGE, OWNER_LABEL,
                                    DockerLauncher, DockerUnavailableError,
                                    default_image, gpu_kind)
from pnsuite.ownership import SHM_DIR
from pnsuite.paths import CAPTURE_IMAGE, EMBEDDED_REPOS, PROJECT_ROOT

pytestmark = pytest.mark.docker

SAMPLE_1 = EMBEDDED_REPOS / "sample_1_instances"
SAMPLE_2 = EMBEDDED_REPOS / "sample_2_dynamic_batching"


def _shm_entries(prefix: str) -> list[str]:
    return [e.name for e in SHM_DIR.iterdir() if e.name.startswith(prefix)]


def _python_env() -> dict[str, str]:
    """Environment for a child Python of this checkout (DOCKER_HOST passes through)."""
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}


def test_a_container_becomes_ready_and_serves_the_stand_in(leak_check, docker_launcher,
                                                           make_server, record_property):
    server = make_server(SAMPLE_1, launcher=docker_launcher)
    record_property("start_to_ready_s", round(server.ready_after_s, 2))
    container = server.handle.container
    container.reload()
    host = container.attrs["HostConfig"]
    assert (host["NetworkMode"], host["IpcMode"]) == ("host", "host")
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    project = mounts[str(PROJECT_ROOT)]
    assert project["Source"] == str(PROJECT_ROOT) and project["RW"] is False
    assert container.labels[OWNER_LABEL] == ownership.owner_token()
    if docker_launcher.gpu == "none":
        assert not host.get("DeviceRequests") and host.get("Runtime") in (None, "runc")
    found = infer_images(server.grpc_url, [detectnet.load_image(CAPTURE_IMAGE)])[0]
    assert len([d for d in found if d.label == "person"]) >= 4, [str(d) for d in found]


def test_an_unreachable_daemon_names_the_socket_and_what_to_do(tmp_path, monkeypatch):
    socket_path = tmp_path / "no-daemon.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    with pytest.raises(DockerUnavailableError) as info:
        DockerLauncher(LOCAL_IMAGE)
    message = str(info.value)
    assert f"unix://{socket_path} (from DOCKER_HOST)" in message
    assert ("docker/engine.sh start" if os.geteuid() == 0 else "not root") in message


def test_the_docker_launcher_option_without_a_daemon_fails_with_that_reason(tmp_path):
    bogus = f"unix://{tmp_path}/no-daemon.sock"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "--triton-launcher", "docker", "tests/functional/test_stand_in_finds_people.py"],
        cwd=PROJECT_ROOT, env={**_python_env(), "DOCKER_HOST": bogus},
        capture_output=True, text=True, timeout=120)
    output = run.stdout + run.stderr
    # The launcher is built at configure time: an unreachable daemon is a usage error.
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, output[-3000:]
    assert f"ERROR: cannot reach a Docker daemon at {bogus} (from DOCKER_HOST)" in output, \
        output[-3000:]


def test_a_missing_image_says_to_pull_or_build_it(docker_launcher):
    with pytest.raises(LauncherConfigError) as info:
        DockerLauncher("pnsuite/no-such-image:0")
    message = str(info.value)
    assert "docker pull pnsuite/no-such-image:0" in message
    assert "docker/build-image.sh" in message


@pytest.mark.parametrize("files, kind, image", [
    ((), "none", LOCAL_IMAGE),
    (("etc/nv_tegra_release",), "jetson", JETSON_IMAGE),
    (("dev/nvidia0", "dev/nvidiactl"), "nvidia", GPU_IMAGE),
])
def test_the_gpu_at_hand_picks_the_default_image(tmp_path, files, kind, image):
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert gpu_kind(tmp_path) == kind
    assert default_image(kind) == image


def test_a_gpu_request_the_engine_cannot_serve_is_refused_with_the_fix(
        leak_check, docker_launcher, server_containers, tmp_path):
    if "nvidia" in docker_launcher.client.info().get("Runtimes", {}):
        pytest.skip("this engine has the NVIDIA runtime: a GPU request would be served")
    with pytest.raises(LauncherConfigError, match="no 'nvidia' runtime"):
        DockerLauncher(docker_launcher.image, gpu="jetson")
    server = TritonServer(DockerLauncher(docker_launcher.image, gpu="nvidia"), SAMPLE_2,
                          workdir=tmp_path)
    with pytest.raises(LauncherConfigError, match="could not start") as info:
        with server:
            pass
    assert "--gpus=all" in str(info.value)
    assert not server_containers(docker_launcher, server.shm_prefix)


_KILLED_SESSION = textwrap.dedent("""
    import os, signal, sys
    from pnsuite.server import TritonServer
    from pnsuite.server.docker import DockerLauncher
    image, repo, workdir = sys.argv[1:]
    server = TritonServer(DockerLauncher(image), repo, workdir=workdir).start()
    print(server.handle.container.id, server.shm_prefix, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no teardown, no atexit: a killed session
""")


def test_a_killed_sessions_container_is_removed_at_the_next_session_start(
        leak_check, docker_launcher, make_server, tmp_path):
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_SESSION, docker_launcher.image, str(SAMPLE_2),
         str(tmp_path / "killed")],
        cwd=PROJECT_ROOT, env=_python_env(), capture_output=True, text=True, timeout=180)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    container_id, prefix = killed.stdout.split()
    client = docker_launcher.client
    try:
        assert client.containers.get(container_id).status == "running"
        assert _shm_entries(prefix)  # the python backend's regions outlived the session
        alive = make_server(SAMPLE_2, launcher=docker_launcher)  # a live session's own

        # The next session: a real pytest run; its session start reaps.
        nxt = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--collect-only",
             "tests/unit"], cwd=PROJECT_ROOT, env=_python_env(), capture_output=True,
            text=True, timeout=120)
        assert nxt.returncode == 0, nxt.stdout[-3000:]
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(container_id)
        assert not _shm_entries(prefix)
        assert alive.running
        with alive.grpc_client() as alive_client:
            assert alive_client.is_server_ready()
    finally:
        try:
            client.containers.get(container_id).remove(force=True)
        except docker.errors.NotFound:
            pass


_FAILING_TEST = textwrap.dedent("""
    def test_fails_while_a_server_runs(make_server):
        make_server({repo!r})
        assert False, "deliberately failing"
""")


def test_a_failing_tests_report_carries_the_container_log(docker_launcher, tmp_path):
    test_file = tmp_path / "test_failing.py"
    test_file.write_text(_FAILING_TEST.format(repo=str(SAMPLE_2)))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "fixtures.plugin", "-p", "no:cacheprovider",
         "-c", str(PROJECT_ROOT / "pyproject.toml"), "--rootdir", str(PROJECT_ROOT),
         "--triton-launcher", "docker", "--triton-image", docker_launcher.image,
         str(test_file)],
        cwd=tmp_path, env=_python_env(), capture_output=True, text=True, timeout=180)
    assert run.returncode == 1, run.stdout[-3000:]
    assert "deliberately failing" in run.stdout
    section = run.stdout.split("triton server log (launcher=docker", 1)
    assert len(section) == 2, run.stdout[-3000:]
    assert "successfully loaded 'peoplenet'" in section[1]
