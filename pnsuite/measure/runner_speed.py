"""How fast this runner's CPU and memory are right now: a fixed workload, timed.

A stored baseline is compared with runs measured later, maybe on another day. When the
runner itself got slower or faster in between (a host that is busier, a board on another
power mode, a throttled clock), the whole build seems to have changed. The probe is
measured beside every recorded benchmark, so a check can see that the runner moved
(pnsuite.verdict.runner_shift judges the move; pnsuite.verdict.gate acts on it). It is
single-threaded on purpose: it measures a core's speed, not how many cores are
free (the foreign-CPU check does that), and it sees the CPU and memory only: a GPU clock
that moved alone is not seen.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

#: timed repetitions of the workload per probe; the probe is their median (about 0.3 s here)
REPEATS = 15
#: the memory part's array: larger than a CI runner's or a Jetson's last-level cache share
_MEMORY_VALUES = 4_000_000  # 32 MB of float64


def _workload(memory: np.ndarray, scratch: np.ndarray) -> None:
    """A fixed mix, about 20 ms on one core of the project's 2-core CI VM: numpy arithmetic
    in the cache, interpreted Python, and a pass over memory larger than the cache (a
    host's neighbours can take its memory bandwidth without taking its cores). The arrays
    are allocated by the caller and written in place, so the allocator's settings (which
    differ between processes) do not enter the time."""
    small, small_out = memory[:20_000], scratch[:20_000]
    for _ in range(100):
        np.multiply(small, 1.0001, out=small_out)
        np.sqrt(small_out, out=small_out)
        float(small_out.sum())
    remainder = 0
    for i in range(60_000):
        remainder += (i * 31) % 7
    for _ in range(3):
        np.multiply(memory, 1.0001, out=scratch)


def probe_ms(repeats: int = REPEATS) -> float:
    """The median time of `repeats` runs of the fixed workload, in milliseconds."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    memory = np.arange(1, _MEMORY_VALUES + 1, dtype=np.float64)
    scratch = np.empty_like(memory)
    scratch.fill(0.0)  # its pages are touched outside the timed part
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        _workload(memory, scratch)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1e3
