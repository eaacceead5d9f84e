"""What `peoplenet-demo` tells a person who points it at something that is not there:
said before any server starts, or while it waits, never a bare traceback or silence."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pnsuite.server.ports import occupied_port

DEMO = [sys.executable, "-m", "pnsuite.cli.demo"]


def _demo(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*DEMO, *args], capture_output=True, text=True, timeout=timeout_s)


def test_a_missing_repository_is_refused_before_any_server_starts(tmp_path):
    missing = tmp_path / "no-such-repo"
    done = _demo("-r", str(missing))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"model repository not found: {missing}" in done.stderr
    assert "what to do: -r takes a directory" in done.stderr
    assert "===" not in done.stdout  # no server was started for it
    assert "Traceback" not in done.stderr


def _refusing_port() -> int:
    """A port nobody listens on: bound, then closed when the block ends."""
    with occupied_port() as port:
        pass
    return port


def test_a_server_that_refuses_connections_fails_in_seconds_naming_the_url():
    port = _refusing_port()
    done = _demo("-u", f"127.0.0.1:{port}", "--ready-timeout", "60", timeout_s=30)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"nothing is listening at 127.0.0.1:{port} (connection refused for 3 s)" in done.stderr
    assert "--triton-wait-for-server" in done.stderr  # and how to wait for a slow one
    assert "Traceback" not in done.stderr


@pytest.mark.slow  # waits out a deadline; the fast tier checks the refusal in seconds
def test_waiting_for_a_server_that_refuses_says_so_while_it_waits():
    port = _refusing_port()
    done = _demo("-u", f"127.0.0.1:{port}", "--ready-timeout", "7", "--triton-wait-for-server")
    assert done.returncode == 2, done.stdout + done.stderr
    waits = [line for line in done.stderr.splitlines() if "waiting for server" in line]
    assert waits and all("connection refused" in line for line in waits), done.stderr
    assert "not ready within 7 s (connection refused)" in done.stderr
    assert f"is a Triton server listening at 127.0.0.1:{port}?" in done.stderr
    assert "Traceback" not in done.stderr
