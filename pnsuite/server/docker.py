"""The docker launcher: each server a Triton container, run through the `docker` Python SDK.

The container runs `tritonserver` with the same arguments as every other launcher
(`LaunchSpec.server_args()`), so `TritonServer` handles it unchanged:

- host networking: the server binds the free ports `TritonServer` picked on the host's
  loopback, as a plain process would (no published ports, never a fixed 8000-8002);
- the host's IPC namespace (`ipc_mode="host"`): system shared memory regions the client
  creates in /dev/shm must be the server's too, and the python backend's own regions
  land in the host's /dev/shm where the suite's census and cleanup find them;
- the model repository, and the project root (the stand-in imports this checkout's
  `pnsuite` package), mounted read-only at the same absolute paths; the project root is
  the working directory too: the python backend's stub ignores PYTHONPATH but has its
  working directory ('') on sys.path, which is also how the embedded launcher's stubs,
  started from the repository root, find `pnsuite`;
- the caller's uid and gid, so that shm regions are the caller's to open and unlink;
- a GPU only where there is one: Jetson through the NVIDIA runtime, other NVIDIA GPUs
  through a device request.

Every container carries the owner's identity in labels; containers whose owner process
is gone (a killed session) are removed by `reap_leftovers()` at the next session start.
"""

from __future__ import annotations

import itertools
import os
import platform
import shlex
import time
import uuid
from pathlib import Path
from typing import Any

import docker.errors
import docker.types
import requests.exceptions

import docker
from pnsuite import ownership
from pnsuite.ownership import remove_shm_regions
from pnsuite.paths import PROJECT_ROOT
from pnsuite.platform.defaults import on_jetson
from pnsuite.server.errors import LauncherConfigError
from pnsuite.server.launcher import Launcher, LaunchSpec, ServerHandle

#: NGC release 24.10 is Triton 2.51.0, the embedded launcher's server.
NGC_RELEASE = "24.10"
#: JetPack 6 (Jetson Orin): the iGPU build, run with the NVIDIA container runtime.
JETSON_IMAGE = f"nvcr.io/nvidia/tritonserver:{NGC_RELEASE}-py3-igpu"
#: x86_64 (or SBSA) with a discrete NVIDIA GPU.
GPU_IMAGE = f"nvcr.io/nvidia/tritonserver:{NGC_RELEASE}-py3"
#: Built by docker/build-image.sh: the embedded server plus the stand-in's packages, CPU only.
LOCAL_IMAGE = "pnsuite/tritonserver:2.51.0-cpu"

#: `host:pid:start time` of the process that owns a container (liveness key of the reaper).
OWNER_LABEL = "pnsuite.owner"
#: The pytest session (shared by xdist workers), the repository, the shm prefix.
SESSION_LABEL = "pnsuite.session"
REPO_LABEL = "pnsuite.model-repository"
SHM_LABEL = "pnsuite.shm-prefix"

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
_SESSION = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
_launches = itertools.count()
#: Clients of launchers this process created: the session-finish backstop uses them.
_clients: list[docker.DockerClient] = []


class DockerUnavailableError(LauncherConfigError):
    """No Docker daemon answers where the settings point."""


def gpu_kind(root: Path = Path("/")) -> str:
    """'jetson' (L4T), 'nvidia' (a discrete NVIDIA GPU) or 'none', as seen under `root`."""
    if on_jetson(root):
        return "jetson"
    if any((root / "dev").glob("nvidia[0-9]*")):
        return "nvidia"
    return "none"


def default_image(kind: str | None = None) -> str:
    """The image to use when none is configured: NGC's for the GPU at hand, else ours."""
    kind = kind or gpu_kind()
    return {"jetson": JETSON_IMAGE, "nvidia": GPU_IMAGE}.get(kind, LOCAL_IMAGE)


def _describe_endpoint(base_url: str | None) -> str:
    if base_url:
        return base_url
    if os.environ.get("DOCKER_HOST"):
        return f"{os.environ['DOCKER_HOST']} (from DOCKER_HOST)"
    return f"{DEFAULT_SOCKET} (the default socket; DOCKER_HOST is not set)"


def connect(base_url: str | None = None, timeout: float = 30.0) -> docker.DockerClient:
    """A client of a daemon that answers, or DockerUnavailableError saying what to do."""
    try:
        client = (
            docker.DockerClient(base_url=base_url, timeout=int(timeout))
            if base_url
            else docker.from_env(timeout=int(timeout))
        )
        client.ping()
        return client
    except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
        root_hint = (
            "as root, `docker/engine.sh start` runs a private engine; then "
            "`export DOCKER_HOST=$(docker/engine.sh host)`"
            if os.geteuid() == 0
            else f"this user (uid {os.geteuid()}) is not root and cannot start one: "
            "use a daemon whose socket it may open (e.g. as a member of the docker "
            "group)"
        )
        raise DockerUnavailableError(
            f"cannot reach a Docker daemon at {_describe_endpoint(base_url)}: "
            f"{_reason(base_url, err)}. Start one ({root_hint}), or point DOCKER_HOST at a "
            "running daemon."
        ) from None


def _reason(base_url: str | None, err: BaseException) -> str:
    url = base_url or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    path = Path(url.removeprefix("unix://")) if url.startswith("unix://") else None
    if path is not None and not path.exists():
        return f"{path} does not exist"
    if path is not None and not os.access(path, os.R_OK | os.W_OK):
        return f"this user may not open {path}"
    return _first_line(err)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def reap_leftovers(client: docker.DockerClient) -> list[str]:
    """Remove suite containers whose owner process is gone, and their shm regions (the
    way testcontainers' reaper cleans up after a killed session); return their names."""
    removed = []
    for container in client.containers.list(all=True, filters={"label": OWNER_LABEL}):
        if ownership.token_alive(container.labels.get(OWNER_LABEL, "")):
            continue
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            continue
        remove_shm_regions(container.labels.get(SHM_LABEL, ""))
        removed.append(container.name)
    return removed


def reap_at_session_start() -> list[str]:
    """The session-start reaper: a no-op (and quick) where no daemon is configured or up."""
    configured = os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists()
    if not configured:
        return []
    try:
        client = connect(timeout=5)
    except DockerUnavailableError:
        return []  # the docker tests say so; other tests do not need Docker
    try:
        return reap_leftovers(client)
    finally:
        client.close()


def remove_own_containers() -> list[str]:
    """Session-finish backstop: remove every container this process still owns."""
    removed = []
    me = ownership.owner_token()
    for client in _clients:
        try:
            containers = client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={me}"})
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            continue  # the daemon is gone, and its containers with it
        for container in containers:
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                continue  # another launcher on the same daemon removed it
            remove_shm_regions(container.labels.get(SHM_LABEL, ""))
            removed.append(container.name)
    return removed


class DockerHandle(ServerHandle):
    """A server container: state from the daemon, logs kept in the spec's log file."""

    def __init__(self, container: Any, command: list[str], spec: LaunchSpec) -> None:
        self.command = command
        self.container = container
        self._spec = spec
        self._code: int | None = None
        self._removed = False

    def exit_code(self) -> int | None:
        if self._code is None and not self._removed:
            try:
                self.container.reload()
            except docker.errors.NotFound:
                self._code = -1  # removed behind our back
                return self._code
            state = self.container.attrs["State"]
            if state["Status"] in ("exited", "dead"):
                self._code = int(state["ExitCode"])
        return self._code

    def _signal(self, signal: str) -> None:
        try:
            self.container.kill(signal=signal)
        except (docker.errors.NotFound, docker.errors.APIError):
            pass  # not running (any more): nothing to signal

    def terminate(self) -> None:
        # docker stop's first half: SIGTERM through the container's init to tritonserver,
        # which drains for --exit-timeout-secs; TritonServer bounds the wait.
        self._signal("SIGTERM")

    def kill(self) -> None:
        self._signal("SIGKILL")

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while (code := self.exit_code()) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return code

    def logs(self) -> str:
        if not self._removed:
            try:
                text = self.container.logs(stdout=True, stderr=True).decode(errors="replace")
            except docker.errors.NotFound:
                text = None
            if text is not None:
                # Kept beside the other launchers' logs: the work dir outlives the container.
                self._spec.log_path.write_text(text)
                return text
        try:
            return self._spec.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def cleanup(self) -> None:
        self.logs()
        try:
            self.container.remove(force=True)
        except docker.errors.NotFound:
            pass
        self._removed = True
        remove_shm_regions(self._spec.shm_prefix)


class DockerLauncher(Launcher):
    """Starts Triton containers of one image on one Docker daemon."""

    name = "docker"

    def __init__(
        self, image: str | None = None, *, base_url: str | None = None, gpu: str | None = None
    ) -> None:
        self.gpu = gpu or gpu_kind()
        self.image = image or default_image(self.gpu)
        self.client = connect(base_url)
        self.endpoint = _describe_endpoint(base_url)
        try:
            self.client.images.get(self.image)
        except docker.errors.ImageNotFound:
            raise LauncherConfigError(
                f"image {self.image!r} is not in the Docker engine at {self.endpoint}, and "
                "the suite pulls nothing. Pull it where a registry is reachable "
                f"(`docker pull {self.image}`; NGC needs `docker login nvcr.io`), or build "
                f"the local CPU image {LOCAL_IMAGE} without a registry (as root: "
                "`docker/build-image.sh`), then pass --triton-image."
            ) from None
        if self.gpu == "jetson" and "nvidia" not in self.client.info().get("Runtimes", {}):
            raise LauncherConfigError(
                f"this Jetson's Docker engine ({self.endpoint}) has no 'nvidia' runtime: "
                "install nvidia-container-toolkit (JetPack's nvidia-container package) and "
                "restart the daemon"
            )
        _clients.append(self.client)

    def _gpu_options(self) -> dict[str, Any]:
        if self.gpu == "jetson":
            return {"runtime": "nvidia"}
        if self.gpu == "nvidia":
            return {
                "device_requests": [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
            }
        return {}

    def launch(self, spec: LaunchSpec) -> DockerHandle:
        command = ["tritonserver", *spec.server_args()]
        repo = str(spec.model_repository.resolve())
        project = str(PROJECT_ROOT)
        volumes = {project: {"bind": project, "mode": "ro"}}
        if not repo.startswith(project + os.sep):
            volumes[repo] = {"bind": repo, "mode": "ro"}
        # The stub imports the stand-in's `pnsuite` from this checkout (through its working
        # dir; PYTHONPATH for stubs that honour it); HOME for a uid the image does not know.
        env = {"PYTHONPATH": project, "HOME": "/tmp", **spec.env}
        # Named after the shm prefix: the owner's tag finds both.
        name = ownership.container_name(spec.shm_prefix, next(_launches))
        options: dict[str, Any] = dict(
            name=name,
            command=command,
            environment=env,
            volumes=volumes,
            working_dir=project,
            network_mode="host",
            ipc_mode="host",
            user=f"{os.getuid()}:{os.getgid()}",
            init=True,
            detach=True,
            labels={
                OWNER_LABEL: ownership.owner_token(),
                SESSION_LABEL: _SESSION,
                REPO_LABEL: repo,
                SHM_LABEL: spec.shm_prefix,
            },
            **self._gpu_options(),
        )
        spec.workdir.mkdir(parents=True, exist_ok=True)
        display = self._docker_run_line(options)
        container = self.client.containers.create(self.image, **options)
        try:
            container.start()
        except docker.errors.APIError as err:
            container.remove(force=True)
            raise LauncherConfigError(
                f"the Docker engine at {self.endpoint} could not start {self.image!r}: "
                f"{_first_line(err)}\n  command: {shlex.join(display)}"
            ) from None
        return DockerHandle(container, display, spec)

    def _docker_run_line(self, options: dict[str, Any]) -> list[str]:
        """The `docker run` command line equivalent to `options` (for error messages)."""
        line = [
            "docker",
            "run",
            "--rm",
            f"--name={options['name']}",
            "--network=host",
            "--ipc=host",
            f"--user={options['user']}",
            "--init",
            f"--workdir={options['working_dir']}",
        ]
        line += [f"--volume={src}:{v['bind']}:{v['mode']}" for src, v in options["volumes"].items()]
        line += [f"--env={k}={v}" for k, v in options["environment"].items()]
        if "runtime" in options:
            line.append(f"--runtime={options['runtime']}")
        if "device_requests" in options:
            line.append("--gpus=all")
        return line + [self.image, *options["command"]]

    def describe(self) -> dict[str, str]:
        return {
            "launcher": self.name,
            "image": self.image,
            "docker_host": self.endpoint,
            "gpu": self.gpu,
            "platform": platform.machine(),
        }
