"""A throwaway PostgreSQL server from Debian's package: on loopback, data in a temp dir,
run as the `postgres` user when we are root (PostgreSQL refuses to run as root).

The store's tests run against it (tests/store/conftest.py); `.ci/run` installs the package. The
server carries the suite's owner tag, so a session killed with -9 leaves it to the next
session's reaper rather than running forever.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from pnsuite import ownership
from pnsuite.errors import SuiteError
from pnsuite.server.ports import free_port

INSTALL_HINT = (
    "install PostgreSQL (Debian/Ubuntu: sudo apt-get install postgresql; .ci/run "
    "does), or point PNSUITE_TEST_POSTGRES_URL at a server where the tests may "
    "create and drop databases"
)


class PostgresUnavailable(SuiteError):
    """No PostgreSQL server can be started here."""

    default_hint = INSTALL_HINT


def find_bin_dir() -> Path | None:
    """The newest Debian PostgreSQL bin dir with initdb, or initdb's dir on PATH."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


class LocalPostgres:
    """`with LocalPostgres() as pg: pg.url` — a private server, stopped on exit."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise PostgresUnavailable("no PostgreSQL server binaries (initdb) found")
        self.bin_dir: Path = found
        self.port = 0
        self._dir: Path | None = None
        self._user: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://suite@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._user:
            command = ["runuser", "-u", self._user, "--", *command]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=ownership.owned_environment(),
            cwd="/",
        )
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"{' '.join(command)} exited {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[-1500:]}"
            )
        return done

    def start(self) -> LocalPostgres:
        self._dir = Path(tempfile.mkdtemp(prefix="pnsuite-postgres-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "running as root, and there is no postgres user to run the server as"
                ) from None
            self._user = "postgres"
            os.chown(self._dir, user.pw_uid, user.pw_gid)
        data, sockets = self._dir / "data", self._dir
        self._run(
            "initdb", "-D", str(data), "-U", "suite", "-A", "trust", "-E", "UTF8", "--no-sync"
        )
        for _ in range(3):  # a port taken between choosing and binding: choose again
            self.port = free_port()
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(data),
                    "-l",
                    str(self._dir / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-p {self.port} -k {sockets} -c listen_addresses=127.0.0.1 "
                    f"-c fsync=off -c max_connections=60",
                    "start",
                    timeout=90,
                )
                return self
            except PostgresUnavailable:
                time.sleep(0.2)
        raise PostgresUnavailable(f"the server did not start; its log: {self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        log = (self._dir / "server.log") if self._dir else None
        if log is None or not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self._dir is None:
            return
        try:
            if (self._dir / "data" / "postmaster.pid").exists():
                self._run(
                    "pg_ctl", "-D", str(self._dir / "data"), "-m", "fast", "-w", "stop", timeout=60
                )
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
