"""How much CPU other processes took while a benchmark round ran.

A perf run on a shared runner can be slowed by a neighbour without any change to the
build. Around each round the suite reads the machine's busy CPU time (/proc/stat) and
the CPU time of this process and of what it owns (servers, stubs, load workers:
`pnsuite.ownership.our_pids`); the rest, per second of wall time, is what others used.
The gate leaves out a run in which, in some round, others took more than a share of the
machine's cores (pnsuite/measure/run.py's DISTURBED_SHARE), on either side.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from pnsuite import ownership

_TICKS = os.sysconf("SC_CLK_TCK")


def _machine_busy_s() -> float:
    with open("/proc/stat") as fh:
        fields = fh.readline().split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    # guest time is already inside user time
    return (sum(values[:8]) - idle) / _TICKS


def _process_cpu_s(pid: int) -> float:
    try:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(parts[11]) + int(parts[12])) / _TICKS  # utime + stime


def _ours_s() -> float:
    return sum(_process_cpu_s(pid) for pid in ownership.our_pids())


@dataclass
class ForeignLoad:
    """Context manager: `cores` is the CPU other processes used per second of wall time."""

    cores: float = 0.0
    _start: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0), repr=False)

    def __enter__(self) -> ForeignLoad:
        self._start = (time.monotonic(), _machine_busy_s(), _ours_s())
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.monotonic() - self._start[0]
        busy = _machine_busy_s() - self._start[1]
        ours = _ours_s() - self._start[2]
        self.cores = max(0.0, busy - ours) / wall if wall > 0 else 0.0


@dataclass
class ForeignLoadPerRound:
    """The foreign CPU of each of several rounds: `begin()` before a round, `end()` after
    (pytest-benchmark's setup and teardown, outside the timed part)."""

    cores: list[float] = field(default_factory=list)
    _current: ForeignLoad | None = field(default=None, repr=False)

    def begin(self) -> None:
        self._current = ForeignLoad().__enter__()

    def end(self) -> None:
        if self._current is not None:
            self._current.__exit__()
            self.cores.append(round(self._current.cores, 3))
            self._current = None
