"""The one launcher factory: the pytest layer, the demo and the GPU scripts all use it."""

from __future__ import annotations

from pathlib import Path

from pnsuite.errors import ConfigError
from pnsuite.platform.defaults import RELEASE_INSTALL, platform_defaults
from pnsuite.server.launcher import Launcher

LAUNCHERS = ("embedded", "release", "external", "docker")
#: what every command's --triton-launcher takes: a launcher, or auto for this machine's
CHOICES = ("auto", *LAUNCHERS)


def make_launcher(
    kind: str,
    *,
    install: Path | str | None = None,
    url: str | None = None,
    image: str | None = None,
    wait_for_server: bool = False,
) -> Launcher:
    """The launcher `kind` names (auto: release on a Jetson, embedded elsewhere), built and
    checked now: a missing binary, install dir, URL, Docker daemon or image is a SuiteError
    that says what to do, before any test. The release launcher's install dir defaults to
    the Triton Jetson example's $HOME/tritonserver."""
    if kind == "auto":
        kind = platform_defaults().launcher
    if kind == "embedded":
        from pnsuite.server.embedded import EmbeddedLauncher

        return EmbeddedLauncher()
    if kind == "release":
        from pnsuite.server.release import LocalReleaseLauncher

        return LocalReleaseLauncher(install or RELEASE_INSTALL)
    if kind == "external":
        if not url:
            raise ConfigError(
                "the external launcher needs the address of a running server",
                "pass --triton-url HOST:PORT (its gRPC endpoint; the demo: -u)",
            )
        from pnsuite.server.external import ExternalLauncher

        return ExternalLauncher(url, wait_for_server=wait_for_server)
    if kind == "docker":
        # Imported here: the docker SDK is only needed by those who use it.
        from pnsuite.server.docker import DockerLauncher

        return DockerLauncher(image)
    raise ConfigError(f"unknown launcher {kind!r}", f"use one of {', '.join(LAUNCHERS)}")
