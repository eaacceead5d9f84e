"""The one launcher factory: the pytest layer, the demo and the GPU scripts all use it."""

from __future__ import annotations

from pathlib import Path

from pnsuite.errors import ConfigError
from pnsuite.server.launcher import Launcher

LAUNCHERS = ("embedded", "release", "external", "docker")


def make_launcher(kind: str, *, install: Path | str | None = None, url: str | None = None,
                  image: str | None = None, wait_for_server: bool = False) -> Launcher:
    """The launcher `kind` names, built and checked now: a missing binary, install dir,
    URL, Docker daemon or image is a SuiteError that says what to do, before any test."""
    if kind == "embedded":
        from pnsuite.server.embedded import EmbeddedLauncher
        return EmbeddedLauncher()
    if kind == "release":
        if not install:
            raise ConfigError("the release launcher needs a Triton install dir",
                              "pass --triton-install DIR (the demo: -p DIR), e.g. "
                              "$HOME/tritonserver unpacked from the release tarball")
        from pnsuite.server.release import LocalReleaseLauncher
        return LocalReleaseLauncher(install)
    if kind == "external":
        if not url:
            raise ConfigError("the external launcher needs the address of a running server",
                              "pass --triton-url HOST:PORT (its gRPC endpoint; the demo: -u)")
        from pnsuite.server.external import ExternalLauncher
        return ExternalLauncher(url, wait_for_server=wait_for_server)
    if kind == "docker":
        # Imported here: the docker SDK is only needed by those who use it.
        from pnsuite.server.docker import DockerLauncher
        return DockerLauncher(image)
    raise ConfigError(f"unknown launcher {kind!r}", f"use one of {', '.join(LAUNCHERS)}")
