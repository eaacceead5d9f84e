"""How fast this runner's CPU and memory are right now: a fixed workload, timed.

A stored baseline is compared with runs measured later, maybe on another day. When the
runner itself got slower or faster in between (a host that is busier, a board on another
power mode, a throttled clock), the whole build seems to have changed. The probe is
measured beside every recorded benchmark, so a check can see that the runner moved and
refuse the verdicts such a move could fake (`RunnerShift.refuses`, used by
`pnsuite.perf.gate`). It is single-threaded on purpose: it measures a core's speed, not how
many cores are free (the foreign-CPU check does that), and it sees the CPU and memory
only: a GPU clock that moved alone is not seen.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pnsuite.perf import verdicts

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


@dataclass(frozen=True)
class RunnerShift:
    """How the runner's speed moved from the baseline's runs to the current ones: the
    per-run probe times compared as the gate compares a metric (runs as the unit)."""

    comparison: verdicts.Comparison
    #: the shift the gate tolerates: half its threshold (smaller shifts are not flagged,
    #: and can move a build's change by up to that much)
    tolerance: float
    alpha: float

    @property
    def moved(self) -> bool:
        """Significantly (two-sided at alpha) and by more than the tolerance."""
        c = self.comparison
        return (min(c.p_slower, c.p_faster) < self.alpha / 2
                and abs(math.log(c.ratio)) > math.log1p(self.tolerance))

    @property
    def slower(self) -> bool:
        return self.comparison.ratio > 1

    def refuses(self, verdict: str) -> bool:
        """Whether the move makes `verdict` untrustworthy. A slower runner makes every build
        look slower, so it can fake a regression but not an ok; a faster one can hide a
        regression behind an ok, but cannot fake one."""
        if not self.moved:
            return False
        if self.slower:
            return verdict == verdicts.REGRESSION
        return verdict in (verdicts.OK, verdicts.IMPROVED)

    def describe(self) -> str:
        c = self.comparison
        return (f"the runner is {abs(c.change):.1%} {'slower' if self.slower else 'faster'} "
                f"than when the baseline was recorded (runner-speed probe "
                f"{verdicts.geometric_mean(c.old):.2f} -> {verdicts.geometric_mean(c.new):.2f} "
                f"ms over {len(c.old)}/{len(c.new)} runs)")


def shift(baseline_probes: Sequence[float], current_probes: Sequence[float],
          policy: verdicts.Policy) -> RunnerShift | None:
    """The runner's move between two sides' per-run probe times; None when a side has fewer
    than two probed runs (runs recorded without the probe, or all disturbed)."""
    if min(len(baseline_probes), len(current_probes)) < verdicts.MIN_RUNS:
        return None
    return RunnerShift(verdicts.compare("runner", "probe_ms", baseline_probes, current_probes),
                       policy.threshold / 2, policy.alpha)
