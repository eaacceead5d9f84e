"""The one answer to "is this ours, and is its owner alive?".

Everything the suite creates names the pytest process that owns it with a tag,
`pnsuite_<pid>-<start>_`: the owner's pid and its start time (clock ticks since boot, so
a reused pid never passes for a dead owner). The tag is in

- the command line of every server and stub (the python backend's shm prefix),
- the name of every shm region (the servers' own and the client's),
- the name of every Triton container (and its `pnsuite.owner` label: host, pid, start),
- the environment (`PNSUITE_OWNER`) of every process started on the owner's behalf: load
  workers and whatever else a test starts, whose command lines cannot carry it.

A census lists what carries a tag (the leak check compares two); the reaper removes what
carries the tag of a dead owner (a session killed with SIGKILL runs no teardown).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

TAG_ROOT = "pnsuite_"
#: the environment variable that carries the owner's tag to processes started for it
OWNER_ENV = "PNSUITE_OWNER"
SHM_DIR = Path("/dev/shm")
_TAG_RE = re.compile(rf"{TAG_ROOT}(\d+)-(\d+)_")
_ENV_KEY = OWNER_ENV.encode() + b"="

_adopted: str | None = None
_own_tags: dict[int, str] = {}
_environ_lock = threading.Lock()
_servers = itertools.count()
_regions = itertools.count()


# -- who owns what ---------------------------------------------------------------------


def process_start(pid: int) -> int | None:
    """The start time of `pid` in clock ticks since boot, or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces, so count from its ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


@dataclass(frozen=True)
class Owner:
    """A process that owns suite resources, named by pid and start time."""

    pid: int
    start: int

    @property
    def tag(self) -> str:
        return f"{TAG_ROOT}{self.pid}-{self.start}_"

    def alive(self) -> bool:
        return process_start(self.pid) == self.start


def owner_of_pid(pid: int) -> Owner:
    """The owner identity of a running process (ValueError if it is gone)."""
    start = process_start(pid)
    if start is None:
        raise ValueError(f"no process {pid}: its owner tag cannot be known")
    return Owner(pid, start)


def tag_of(pid: int) -> str:
    """The tag of what process `pid` (running) owns."""
    return owner_of_pid(pid).tag


def owner_tag() -> str:
    """The tag this process names its resources with: its own, or in a load worker the
    tag of the pytest process it works for (see `adopt`)."""
    if _adopted:
        return _adopted
    pid = os.getpid()  # looked up per pid: a forked child is an owner of its own
    if pid not in _own_tags:
        _own_tags[pid] = tag_of(pid)
    return _own_tags[pid]


def adopt(tag: str) -> None:
    """Name everything this process creates after the owner whose tag is `tag`."""
    global _adopted
    if parse_owner(tag) is None:
        raise ValueError(f"not an owner tag: {tag!r}")
    _adopted = tag


def parse_owner(text: str) -> Owner | None:
    """The owner named by the first tag inside `text`, if any."""
    found = _TAG_RE.search(text)
    return Owner(int(found.group(1)), int(found.group(2))) if found else None


@contextlib.contextmanager
def tagged_children() -> Iterator[None]:
    """Processes started inside the block carry this process's tag in OWNER_ENV: for
    starters that take no environment of their own (multiprocessing's spawn). Only
    inside the block, so that nothing else this process starts is counted as ours."""
    with _environ_lock:
        previous = os.environ.get(OWNER_ENV)
        os.environ[OWNER_ENV] = owner_tag()
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(OWNER_ENV, None)
            else:
                os.environ[OWNER_ENV] = previous


def owned_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this environment) with this process's tag in OWNER_ENV."""
    return {**(os.environ if base is None else base), OWNER_ENV: owner_tag()}


def foreign_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` without the tag: for a process that stands for a neighbour, not for us."""
    env = dict(os.environ if base is None else base)
    env.pop(OWNER_ENV, None)
    return env


# -- names -----------------------------------------------------------------------------


def server_prefix() -> str:
    """A python-backend shm prefix unique to one server: tag, counter and a nonce."""
    return f"{owner_tag()}s{next(_servers)}_{uuid.uuid4().hex[:6]}_"


def client_region_prefix(pid: int | None = None, tag: str | None = None) -> str:
    """The prefix of the client shm regions that process `pid` (default: this one) makes
    for the owner `tag` (default: this process's owner)."""
    return f"{tag or owner_tag()}c{pid or os.getpid()}_"


def client_region_name(label: str | None = None) -> str:
    """A new client shm region name of this process, `label` or a counter at its end."""
    return f"{client_region_prefix()}{label or next(_regions)}"


def container_name(shm_prefix: str, launch: int) -> str:
    """A Triton container's name: its server's shm prefix (so the tag) and a launch number."""
    return f"{shm_prefix.rstrip('_')}-{launch}"


def owner_token(pid: int | None = None) -> str:
    """`host:pid:start` of a process, for container labels a daemon may share across hosts."""
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{process_start(pid)}"


def token_alive(token: str) -> bool:
    """Whether the process an owner token names still runs. Another host's processes
    cannot be judged from here and count as alive."""
    try:
        host, pid, start = token.rsplit(":", 2)
        owner = Owner(int(pid), int(start))
    except ValueError:
        return True
    return host != socket.gethostname() or owner.alive()


# -- processes -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    command: str
    env_tag: str  # OWNER_ENV of its environment at exec time ('' if none or unreadable)

    def carries(self, tag: str) -> bool:
        return tag in self.command or self.env_tag == tag

    def owner(self) -> Owner | None:
        return parse_owner(self.command) or parse_owner(self.env_tag)


def _env_tag(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return ""
    for entry in raw.split(b"\0"):
        if entry.startswith(_ENV_KEY):
            return entry[len(_ENV_KEY) :].decode(errors="replace")
    return ""


def processes() -> Iterator[ProcessInfo]:
    """Every process but this one, with its command line and owner environment tag."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if raw:
            yield ProcessInfo(
                int(entry.name),
                raw.replace(b"\0", b" ").decode(errors="replace"),
                _env_tag(int(entry.name)),
            )


def tagged_pids(tag: str | None = None) -> list[int]:
    """Processes (servers, stubs, workers) that carry `tag` (default: this process's)."""
    tag = tag or owner_tag()
    return [p.pid for p in processes() if p.carries(tag)]


def our_pids() -> set[int]:
    """This process and every process that carries its tag."""
    return {os.getpid(), *tagged_pids()}


def _ancestors() -> set[int]:
    found, pid = set(), os.getpid()
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
        found.add(pid)
    return found


# -- shared memory ---------------------------------------------------------------------


def shm_regions(prefix: str = TAG_ROOT) -> list[str]:
    """Names of /dev/shm entries that start with `prefix`."""
    if not SHM_DIR.is_dir():
        return []
    return sorted(e.name for e in SHM_DIR.iterdir() if e.name.startswith(prefix))


def remove_shm_regions(prefix: str) -> list[str]:
    """Unlink /dev/shm entries that start with `prefix`; return their names."""
    removed = []
    for name in shm_regions(prefix) if prefix else []:
        try:
            (SHM_DIR / name).unlink()
            removed.append(name)
        except FileNotFoundError:
            pass
    return removed


# -- census and reaper -----------------------------------------------------------------


@dataclass(frozen=True)
class Census:
    processes: tuple[str, ...]
    shm_regions: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.processes or self.shm_regions)

    def __sub__(self, earlier: Census) -> Census:
        """What is here now and was not in `earlier` (what a test added)."""
        return Census(
            tuple(p for p in self.processes if p not in earlier.processes),
            tuple(r for r in self.shm_regions if r not in earlier.shm_regions),
        )

    def describe(self) -> str:
        lines = [f"process {p}" for p in self.processes]
        lines += [f"/dev/shm/{r}" for r in self.shm_regions]
        return "\n".join(lines) or "nothing"


def take(tag: str | None = None) -> Census:
    """What carries `tag` (default: this process's tag) right now."""
    tag = tag or owner_tag()
    found = tuple(f"{p.pid}: {p.command[:160]}" for p in processes() if p.carries(tag))
    return Census(found, tuple(shm_regions(tag)))


def reap_orphans() -> Census:
    """Kill processes, and unlink shm regions, whose owner is dead; return what went.

    A session killed with SIGKILL runs no teardown: its servers keep running in their own
    process groups. Their tag names the dead owner, so the next session removes them at
    its start without touching what sessions still alive own (other xdist workers, other
    runs). This process and its ancestors are never touched.
    """
    spared = _ancestors()
    killed = []
    for proc in processes():
        owner = proc.owner()
        if owner is None or proc.pid in spared or owner.alive():
            continue
        try:
            os.kill(proc.pid, signal.SIGKILL)
            killed.append(f"{proc.pid}: {proc.command[:160]}")
        except ProcessLookupError:
            pass
    unlinked = []
    for name in shm_regions():
        owner = parse_owner(name)
        if owner is not None and not owner.alive():
            unlinked += remove_shm_regions(name)
    return Census(tuple(killed), tuple(unlinked))
