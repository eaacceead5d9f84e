"""Free TCP ports for servers that cannot be given port 0.

Triton binds its ports only after loading models, so a port picked here may still be
taken by then (another xdist worker, another program); `TritonServer` notices the
"already in use" exit and retries with fresh ports.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

from pnsuite.server.launcher import Ports

_lock = threading.Lock()
_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on `host` now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def pick_ports(host: str = "127.0.0.1") -> Ports:
    """Three distinct free ports, never one this process handed out before."""
    with _lock:
        chosen: list[int] = []
        while len(chosen) < 3:
            port = free_port(host)
            if port not in _handed_out and port not in chosen:
                chosen.append(port)
        _handed_out.update(chosen)
    return Ports(http=chosen[0], grpc=chosen[1], metrics=chosen[2])


def port_clash(log: str) -> bool:
    """Whether a server's log says it could not bind a port."""
    lowered = log.lower()
    return "already in use" in lowered or "address in use" in lowered


@contextlib.contextmanager
def occupied_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port held by a listener that is not Triton, for as long as the block runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        sock.listen()
        yield sock.getsockname()[1]


def clashing_first_pick(grpc_port: int) -> Callable[[str], Ports]:
    """A port picker whose first pick puts gRPC on `grpc_port`; fresh ports after that."""
    first = [Ports(http=pick_ports().http, grpc=grpc_port, metrics=pick_ports().metrics)]
    return lambda host: first.pop() if first else pick_ports(host)
