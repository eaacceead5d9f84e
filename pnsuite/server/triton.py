"""`TritonServer`: the one place where a server is started, awaited, used and stopped."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tritonclient.grpc as grpcclient

from pnsuite import ownership
from pnsuite.server.errors import ModelRepositoryNotFound, ServerDiedError, ServerStartError
from pnsuite.server.launcher import Launcher, LaunchSpec, Ports, ServerHandle
from pnsuite.server.ports import pick_ports, port_clash

_running: weakref.WeakSet[TritonServer] = weakref.WeakSet()
#: seconds between the readiness progress messages a `progress` callback gets
PROGRESS_EVERY_S = 5.0
#: seconds a server may drain its requests once the run was interrupted (stop_promptly):
#: a test server has no work worth draining, and a graceful exit of the stand-in's three
#: stubs takes 2-4 s; after this it is killed with its stubs, and its regions removed
INTERRUPTED_STOP_S = 0.5
_interrupted = False


def stop_promptly() -> None:
    """From now on stop servers after INTERRUPTED_STOP_S instead of their full drain: a
    person who pressed Ctrl-C (or a CI runner cancelling a job) expects an exit in seconds."""
    global _interrupted
    _interrupted = True


def stop_all_running() -> list[str]:
    """Stop every server this process started and has not stopped (a backstop for
    interrupted sessions), all at once: each one's drain and its stubs' exit take seconds,
    and an interrupted person waits for the slowest, not for their sum. Returns their
    gRPC URLs."""
    servers = list(_running)
    if servers:
        with ThreadPoolExecutor(
            max_workers=len(servers), thread_name_prefix="triton-stop"
        ) as stopper:
            list(stopper.map(TritonServer.stop, servers))
    return [server.grpc_url for server in servers]


def fatal_log_line(log: str) -> str:
    """The line where Triton says it cannot serve (an endpoint failed to start), or ''."""
    for line in log.splitlines():
        if "failed to start" in line and "service" in line.lower():
            return line.split("]", 1)[-1].strip().strip('"').strip()
    return ""


#: what probe_failure() says, with _probe()'s framing, when nothing listens at the port
REFUSED = " (connection refused)"
#: seconds of refused connections before a server the suite does not start is called
#: absent: a port that refuses is not a server loading models (that one answers "not
#: ready"), and a typo'd port should fail in seconds, not at the ready timeout
REFUSED_GRACE_S = 3.0


def probe_failure(err: BaseException) -> str:
    """One line on why a readiness probe failed (gRPC hides it in a long debug string)."""
    text = str(err)
    for known in (
        "Connection refused",
        "Deadline Exceeded",
        "Name or service not known",
        "No route to host",
        "Connection reset",
    ):
        if known.lower() in text.lower():
            return known.lower()
    return (text.strip().splitlines() or [type(err).__name__])[0][:120]


def log_tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


class TritonServer:
    """A Triton server with a model repository, started by a launcher.

    `start()` picks free ports, launches, and waits (with a deadline) until the server and
    every model in `models` are ready, failing at once if the server exits. `stop()` sends
    SIGTERM, waits up to `stop_timeout_s`, then kills the server and its stubs. As a
    context manager it stops in every case, also when `start()` fails.
    """

    def __init__(
        self,
        launcher: Launcher,
        model_repository: str | os.PathLike[str] | None,
        *,
        models: Sequence[str] = ("peoplenet",),
        workdir: Path | None = None,
        ready_timeout_s: float = 120.0,
        stop_timeout_s: float = 20.0,
        exit_timeout_s: int = 10,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        port_attempts: int = 3,
        port_picker: Callable[[str], Ports] = pick_ports,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.launcher = launcher
        self.model_repository = (
            Path(model_repository).resolve() if model_repository is not None else None
        )
        self.models = tuple(models)
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.exit_timeout_s = exit_timeout_s
        self.extra_args = tuple(extra_args)
        self.env = dict(env or {})
        self.port_attempts = port_attempts
        self._pick_ports = port_picker
        #: told every few seconds what the start is still waiting for (the demo prints it)
        self.progress = progress
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="triton-"))
        self.host = "127.0.0.1"
        self.ports: Ports | None = None
        self.shm_prefix = ""
        self.handle: ServerHandle | None = None
        self.ready_after_s: float | None = None
        self._logs_at_stop = ""

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> TritonServer:
        """Launch and wait until ready; on any failure, stop what was started and raise."""
        if (
            self.model_repository is not None
            and not self.model_repository.is_dir()
            and self.launcher.manages_server
        ):
            raise ModelRepositoryNotFound(f"model repository not found: {self.model_repository}")
        for attempt in range(1, self.port_attempts + 1):
            try:
                self._launch_once(attempt)
                return self
            except ServerStartError as err:
                clash = err.exit_code is not None and port_clash(err.log_tail)
                self.stop()
                if not clash or attempt == self.port_attempts:
                    raise
        raise AssertionError("unreachable")

    def _launch_once(self, attempt: int) -> None:
        fixed = self.launcher.fixed_address()
        if fixed:
            self.host, self.ports = fixed
        else:
            self.ports = self._pick_ports(self.host)
        self.shm_prefix = ownership.server_prefix()
        spec = LaunchSpec(
            model_repository=self.model_repository or Path("."),
            ports=self.ports,
            workdir=self.workdir,
            shm_prefix=self.shm_prefix,
            host=self.host,
            exit_timeout_s=self.exit_timeout_s,
            extra_args=self.extra_args,
            env=ownership.owned_environment(self.env),
            attempt=attempt,
        )
        began = time.monotonic()
        self.handle = self.launcher.launch(spec)
        _running.add(self)
        self._wait_ready(began)
        self.ready_after_s = time.monotonic() - began

    def _wait_ready(self, began: float) -> None:
        assert self.handle is not None
        deadline = began + self.ready_timeout_s
        next_progress = began + PROGRESS_EVERY_S
        refused_since: float | None = None
        with self.grpc_client() as client:
            while True:
                self._fail_if_exited()
                pending, why = self._probe(client)
                if not pending:
                    return
                now = time.monotonic()
                refused_since = (refused_since or now) if why == REFUSED else None
                if (
                    refused_since is not None
                    and now - refused_since > REFUSED_GRACE_S
                    and not self.launcher.manages_server
                    and not getattr(self.launcher, "wait_for_server", False)
                ):
                    raise ServerStartError(
                        f"nothing is listening at {self.grpc_url} (connection refused for "
                        f"{now - refused_since:.0f} s)",
                        self.handle.command,
                        None,
                        self.log_tail(),
                        hint=f"start the server, or point --triton-url (the demo: -u) at its "
                        f"gRPC port; to wait for one that is still starting, give "
                        f"--triton-wait-for-server (pytest: --triton-wait-for-server 1) "
                        f"and it waits up to the ready timeout "
                        f"({self.ready_timeout_s:.0f} s)",
                        status="not the suite's to run",
                    )
                if now > deadline:
                    raise ServerStartError(
                        f"{pending} not ready within {self.ready_timeout_s:.0f} s{why}",
                        self.handle.command,
                        self.handle.exit_code(),
                        self.log_tail(),
                        hint=self._not_ready_hint(pending),
                        status=None if self.launcher.manages_server else "not the suite's to run",
                    )
                if self.progress is not None and now >= next_progress:
                    next_progress = now + PROGRESS_EVERY_S
                    self.progress(
                        f"waiting for {pending} at {self.grpc_url}{why} "
                        f"({now - began:.0f} s of {self.ready_timeout_s:.0f} s)"
                    )
                time.sleep(0.1)

    def _fail_if_exited(self) -> None:
        """Raise at once when the server exited, or logged that it cannot serve."""
        assert self.handle is not None
        code = self.handle.exit_code()
        if code is not None:
            raise ServerStartError(
                "the server exited before it was ready", self.handle.command, code, self.log_tail()
            )
        fatal = fatal_log_line(self.handle.logs())
        if fatal:
            # Triton can take its exit timeout to leave after a failed bind: do not wait.
            self.handle.kill()
            raise ServerStartError(
                fatal, self.handle.command, self.handle.wait(5.0), self.log_tail()
            )

    def _probe(self, client: grpcclient.InferenceServerClient) -> tuple[str, str]:
        """(what is not ready yet, or '' when all is; why, from the last failed probe)."""
        try:
            # A short deadline per probe: a port held by something that is not Triton
            # accepts the connection and never answers.
            if not (
                client.is_server_live(client_timeout=1.0)
                and client.is_server_ready(client_timeout=1.0)
            ):
                return "server", ""
            pending = next(
                (m for m in self.models if not client.is_model_ready(m, client_timeout=1.0)), ""
            )
            return (f"model {pending!r}" if pending else ""), ""
        except Exception as err:  # noqa: BLE001 - not listening (yet)
            return "server", f" ({probe_failure(err)})"

    def _not_ready_hint(self, pending: str) -> str:
        if pending != "server":
            return (
                f"check that {pending} is in {self.model_repository}; a slow load "
                "needs a longer --triton-ready-timeout"
            )
        if not self.launcher.manages_server:
            return (
                f"is a Triton server listening at {self.grpc_url}? Start it, or point "
                "--triton-url (the demo: -u) at its gRPC port"
            )
        return (
            "the log lines above say how far the server got; a slow start needs a "
            "longer --triton-ready-timeout"
        )

    def stop(self) -> int | None:
        """Stop gracefully (SIGTERM), kill after `stop_timeout_s`; return the exit code."""
        handle, self.handle = self.handle, None
        _running.discard(self)
        if handle is None:
            return None
        code = None
        try:
            if self.launcher.manages_server:
                handle.terminate()
                code = handle.wait(
                    min(self.stop_timeout_s, INTERRUPTED_STOP_S)
                    if _interrupted
                    else self.stop_timeout_s
                )
                if code is None:
                    handle.kill()
                    code = handle.wait(5.0)
        finally:
            self._logs_at_stop = handle.logs()
            handle.cleanup()
        return code

    def restart(self) -> TritonServer:
        """Stop (whatever is left of) the server and start it again, on fresh ports."""
        self.stop()
        return self.start()

    def __enter__(self) -> TritonServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- what tests use ----------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.handle is not None and self.handle.exit_code() is None

    def _require_ports(self) -> Ports:
        if self.ports is None:
            raise RuntimeError("the server has not been started")
        return self.ports

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self._require_ports().grpc}"

    @property
    def http_url(self) -> str:
        return f"{self.host}:{self._require_ports().http}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self._require_ports().metrics}/metrics"

    def grpc_client(self, verbose: bool = False) -> grpcclient.InferenceServerClient:
        """A new gRPC client for this server (close it, or use it as a context manager)."""
        return grpcclient.InferenceServerClient(self.grpc_url, verbose=verbose)

    def logs(self) -> str:
        return self.handle.logs() if self.handle is not None else self._logs_at_stop

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.logs(), lines)

    def check_alive(self) -> None:
        """Raise ServerDiedError (with the log tail) if the server has exited."""
        if self.handle is not None and self.handle.exit_code() is not None:
            raise ServerDiedError(self.handle.command, self.handle.exit_code(), self.log_tail())

    def describe(self) -> dict[str, str]:
        """Launcher identity plus repository, for reports and benchmark machine info."""
        info = dict(self.launcher.describe())
        if self.model_repository is not None:
            info["model_repository"] = str(self.model_repository)
        if self.extra_args:  # options change the speed: a record says which it ran with
            info["server_args"] = " ".join(self.extra_args)
        return info
