"""What every launcher gives `TritonServer`: a way to run the server and a handle on it.

A launcher turns a `LaunchSpec` (model repository, ports, log file, shm prefix, extra
arguments and environment) into a running server and returns a `ServerHandle`. The
process launchers (embedded, local release) share `ProcessHandle`; a container launcher
returns its own handle with the same methods.
"""

from __future__ import annotations

import abc
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pnsuite.errors import ConfigError
from pnsuite.ownership import remove_shm_regions


@dataclass(frozen=True)
class Ports:
    http: int
    grpc: int
    metrics: int


#: tritonserver options every launcher sets itself (LaunchSpec.server_args).
OWN_SERVER_OPTIONS = (
    "--model-repository",
    "--http-address",
    "--http-port",
    "--grpc-address",
    "--grpc-port",
    "--metrics-address",
    "--metrics-port",
    "--exit-timeout-secs",
    "--backend-directory",
)


def check_server_args(args: Sequence[str], source: str = "--triton-server-args") -> tuple[str, ...]:
    """Extra `tritonserver` options as given (each `--name=value`), or a ConfigError naming
    the one that is not an option or that the suite sets itself."""
    for arg in args:
        name = arg.split("=", 1)[0]
        if not arg.startswith("--") or "=" not in arg:
            raise ConfigError(
                f"{source} {arg!r} is not a tritonserver option as --name=value",
                "write it whole, e.g. --triton-server-args="
                "--cuda-memory-pool-byte-size=0:1073741824 "
                "(tritonserver --help lists the options)",
            )
        if name in OWN_SERVER_OPTIONS:
            raise ConfigError(
                f"{source} {arg!r}: the suite sets {name} itself for every "
                "server (its own repository variant, free ports, its workdir)",
                "leave it out; other tritonserver options pass through",
            )
    return tuple(args)


@dataclass(frozen=True)
class LaunchSpec:
    """Everything one server start needs, whatever runs it."""

    model_repository: Path
    ports: Ports
    workdir: Path
    shm_prefix: str
    host: str = "127.0.0.1"
    exit_timeout_s: int = 10
    extra_args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    #: 1 for the first try; retries after a port clash log to their own file.
    attempt: int = 1

    @property
    def log_path(self) -> Path:
        suffix = "" if self.attempt == 1 else f".attempt{self.attempt}"
        return self.workdir / f"tritonserver{suffix}.log"

    def server_args(self) -> list[str]:
        """Command-line arguments for `tritonserver`, the same for every launcher."""
        return [
            f"--model-repository={self.model_repository}",
            f"--http-address={self.host}",
            f"--http-port={self.ports.http}",
            f"--grpc-address={self.host}",
            f"--grpc-port={self.ports.grpc}",
            f"--metrics-address={self.host}",
            f"--metrics-port={self.ports.metrics}",
            # Each server its own python-backend shm regions: no cross-talk between
            # servers, and a census can find what a dead run left in /dev/shm.
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
            f"--exit-timeout-secs={self.exit_timeout_s}",
            *self.extra_args,
        ]


class ServerHandle(abc.ABC):
    """A server some launcher started (or found): status, logs and stopping."""

    command: Sequence[str] = ()

    @abc.abstractmethod
    def exit_code(self) -> int | None:
        """The exit code once the server has exited, else None."""

    @abc.abstractmethod
    def terminate(self) -> None:
        """Ask the server to stop gracefully (SIGTERM)."""

    @abc.abstractmethod
    def kill(self) -> None:
        """Stop the server and everything it started, now."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> int | None:
        """Wait up to `timeout` seconds for exit; the exit code or None."""

    @abc.abstractmethod
    def logs(self) -> str:
        """Everything the server has logged so far."""

    # B027: an optional hook, not abstract: a launcher with nothing to remove keeps this.
    def cleanup(self) -> None:  # noqa: B027
        """Remove what the start left behind once the server is gone."""


class Launcher(abc.ABC):
    """Starts Triton servers of one kind."""

    name: str = "?"
    #: False for a server someone else runs: no start, no stop, fixed address.
    manages_server: bool = True

    @abc.abstractmethod
    def launch(self, spec: LaunchSpec) -> ServerHandle:
        """Start a server for `spec` and return at once (readiness is waited for elsewhere)."""

    def fixed_address(self) -> tuple[str, Ports] | None:
        """Host and ports of a server at a known address, or None to pick free ones."""
        return None

    def describe(self) -> dict[str, str]:
        """What identifies this launcher in benchmark machine info and reports."""
        return {"launcher": self.name}


class ProcessHandle(ServerHandle):
    """A `tritonserver` child process in a process group of its own, with its stubs.

    The python backend's stub processes inherit the server's process group, so killing
    the group reaches them even when the server itself died first.
    """

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        spec: LaunchSpec,
        cleanup_paths: Sequence[Path] = (),
        cwd: Path | None = None,
    ) -> None:
        self.command = list(command)
        self._spec = spec
        self._cleanup_paths = list(cleanup_paths)
        spec.workdir.mkdir(parents=True, exist_ok=True)
        # SIM115: the log stays open for the server's life (its output goes there); closed below.
        self._log = open(spec.log_path, "wb")  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                self.command,
                env=dict(env),
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                **_own_process_group(),
            )
        except OSError:
            self._log.close()
            raise
        self.pid = self._proc.pid

    def exit_code(self) -> int | None:
        return self._proc.poll()

    def terminate(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._proc.poll()

    def wait(self, timeout: float) -> int | None:
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def logs(self) -> str:
        self._log.flush()
        try:
            return self._spec.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def group_alive(self) -> bool:
        """Whether any process of the server's group (server or stub) is left."""
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def cleanup(self) -> None:
        # Stubs notice their parent is gone on their own, but not at once: never leave them.
        deadline = time.monotonic() + 5.0
        while self.group_alive() and time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self.kill()
            time.sleep(0.05)
        self._proc.poll()
        self._log.close()
        remove_shm_regions(self._spec.shm_prefix)
        for path in self._cleanup_paths:
            shutil.rmtree(path, ignore_errors=True)


def _own_process_group() -> dict[str, Any]:
    """Popen arguments for a new process group in the caller's session.

    A group of its own lets stop() kill the server with its stubs, and keeps a terminal's
    Ctrl-C (sent to the foreground group) for pytest to handle. Not a new session: Linux
    shares CPU fairly between sessions (autogroup), which would cap all of a server's
    instances at one session's share when anything else is busy.
    """
    if sys.version_info >= (3, 11):
        return {"process_group": 0}
    return {"preexec_fn": os.setpgrp}
