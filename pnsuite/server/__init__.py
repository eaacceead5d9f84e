"""Triton servers for the suite: one lifecycle (`TritonServer`), several launchers."""

from pnsuite.server.errors import (
    LauncherConfigError,
    ServerDiedError,
    ServerStartError,
    TritonError,
)
from pnsuite.server.launcher import Launcher, LaunchSpec, Ports, ServerHandle
from pnsuite.server.triton import TritonServer

__all__ = [
    "LaunchSpec",
    "Launcher",
    "LauncherConfigError",
    "Ports",
    "ServerDiedError",
    "ServerHandle",
    "ServerStartError",
    "TritonError",
    "TritonServer",
]
