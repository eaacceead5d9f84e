"""A pool of servers with one owner: started into work dirs, shared per repository,
stopped together, and remembered for the benchmark records of the run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pnsuite.repository import model_files
from pnsuite.server.launcher import Launcher
from pnsuite.server.triton import TritonServer


class ServerPool:
    """Starts servers of one launcher; `stop_all()` stops every one of them.

    `workdir(name)` gives each server a fresh work dir (pytest's tmp_path_factory in the
    pytest layer); `started` hears of every server once it is ready.
    """

    def __init__(
        self,
        launcher: Launcher,
        workdir: Callable[[str], Path],
        ready_timeout_s: float = 120.0,
        started: Callable[[TritonServer], None] | None = None,
        server_args: Sequence[str] = (),
    ) -> None:
        self.launcher = launcher
        #: tritonserver options every server of the pool gets (unless a start names its own)
        self.server_args = tuple(server_args)
        self._workdir = workdir
        self._ready_timeout_s = ready_timeout_s
        self._started = started
        self.servers: list[TritonServer] = []
        self._shared: dict[Path | None, TritonServer] = {}

    def shared(self, repo: Path | str | None) -> TritonServer:
        """The pool's one server for `repo` with default settings, started on first use
        (None: the server an external launcher points at, which serves what it serves)."""
        key = Path(repo).resolve() if repo is not None else None
        if key not in self._shared:
            self._shared[key] = self.start(repo)
        return self._shared[key]

    def start(
        self, repo: Path | str | None, launcher: Launcher | None = None, **kwargs: Any
    ) -> TritonServer:
        """A new ready server for `repo` (TritonServer's keyword arguments pass through)."""
        launcher = launcher or self.launcher
        if repo is not None and launcher.manages_server:
            model_files.require_model_files(Path(repo))  # e.g. no model.plan: say how to build it
        kwargs.setdefault("ready_timeout_s", self._ready_timeout_s)
        kwargs.setdefault("extra_args", self.server_args)
        name = Path(repo).name if repo is not None else launcher.name
        server = TritonServer(launcher, repo, workdir=self._workdir(f"triton-{name}"), **kwargs)
        self.servers.append(server)
        server.start()
        if self._started is not None:
            self._started(server)
        return server

    def stop_all(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()
        self._shared.clear()
