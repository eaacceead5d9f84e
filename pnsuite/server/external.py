"""The external launcher: a server someone else runs, reached at `--triton-url`.

Nothing is started or stopped; the suite only waits for it to be ready. A server that
refuses connections is not there: that fails within seconds, naming the URL, unless the
user asked to wait for one that is still starting (`wait_for_server`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pnsuite.server.errors import LauncherConfigError
from pnsuite.server.launcher import Launcher, LaunchSpec, Ports, ServerHandle


class ExternalHandle(ServerHandle):
    """Stands for a server this suite does not own: never exits, never stopped."""

    def __init__(self, url: str) -> None:
        self.command = [f"(external server at {url})"]

    def exit_code(self) -> int | None:
        return None

    def terminate(self) -> None:
        pass

    def kill(self) -> None:
        pass

    def wait(self, timeout: float) -> int | None:
        return None

    def logs(self) -> str:
        return "(logs of an external server are not available to the suite)"


class ExternalLauncher(Launcher):
    """A running server at host:grpc_port (HTTP and metrics assumed at the usual offsets)."""

    name = "external"
    manages_server = False

    def __init__(
        self,
        url: str,
        http_port: int | None = None,
        metrics_port: int | None = None,
        wait_for_server: bool = False,
    ) -> None:
        parsed = urlsplit(url if "://" in url else f"grpc://{url}")
        if not parsed.hostname or not parsed.port:
            raise LauncherConfigError(
                f"--triton-url must be host:port of the server's gRPC endpoint, got {url!r}"
            )
        self.url = f"{parsed.hostname}:{parsed.port}"
        #: wait up to the ready timeout for a server that refuses connections (one still
        #: starting); otherwise a refused connection fails in seconds (REFUSED_GRACE_S)
        self.wait_for_server = wait_for_server
        self.host = parsed.hostname
        # Triton's defaults put HTTP one below gRPC and metrics one above (8000/8001/8002).
        self.ports = Ports(
            http=http_port or parsed.port - 1,
            grpc=parsed.port,
            metrics=metrics_port or parsed.port + 1,
        )

    def fixed_address(self) -> tuple[str, Ports]:
        return self.host, self.ports

    def launch(self, spec: LaunchSpec) -> ServerHandle:
        return ExternalHandle(self.url)

    def describe(self) -> dict[str, str]:
        return {"launcher": self.name, "url": self.url}
