"""Windows measured by time, not by request count.

As perf_analyzer does with its stability windows, a run measures windows of `seconds`
each until the last `stable` of them agree (their throughputs within `tolerance` of each
other) or `max_windows` are spent. The request count of a window is calibrated from the
warm-up's rate, so a 1-ms model and a 100-ms model get the same seconds of evidence per
run instead of the same number of requests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pnsuite.errors import SuiteError


class WindowPlanError(SuiteError):
    """A window plan that cannot measure anything."""

    default_hint = "e.g. --window-s 1 --stable-windows 3 --window-tolerance 0.10 --max-windows 10"


@dataclass(frozen=True, kw_only=True)
class WindowPlan:
    """How long a run measures: windows of `seconds`, until `stable` in a row agree
    within `tolerance` (max/min - 1 of their throughputs), at most `max_windows`."""

    seconds: float = 1.0
    stable: int = 3
    tolerance: float = 0.10
    max_windows: int = 10
    #: the warm-up runs at least this long; its last part calibrates the window's requests
    warmup_s: float = 1.0

    def __post_init__(self) -> None:
        if not self.seconds > 0 or not self.warmup_s >= 0:
            raise WindowPlanError(
                f"window seconds must be > 0 and warm-up >= 0, got "
                f"{self.seconds} and {self.warmup_s}"
            )
        if self.stable < 1 or self.max_windows < self.stable:
            raise WindowPlanError(
                f"need 1 <= stable ({self.stable}) <= max_windows ({self.max_windows})"
            )
        if not 0 < self.tolerance < 1:
            raise WindowPlanError(
                f"tolerance must be a fraction between 0 and 1, got {self.tolerance}"
            )

    def requests_per_window(self, rate_per_s: float, concurrency: int) -> int:
        """Requests that take about `seconds` at `rate_per_s` (at least one per worker)."""
        if not rate_per_s > 0 or math.isinf(rate_per_s):
            return concurrency
        return max(concurrency, round(rate_per_s * self.seconds))


def stable_tail(throughputs: Sequence[float], plan: WindowPlan) -> bool:
    """Whether the last `plan.stable` windows agree within `plan.tolerance`."""
    if len(throughputs) < plan.stable:
        return False
    tail = throughputs[-plan.stable :]
    low, high = min(tail), max(tail)
    return low > 0 and high / low - 1 <= plan.tolerance
