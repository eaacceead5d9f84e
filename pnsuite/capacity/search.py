"""The largest number of camera streams that meets a deadline rule.

Streams are doubled from `start` until a run fails the rule (or `max_streams` passes),
then the gap between the last pass and the first failure is halved until they are
neighbours. The answer is then confirmed in `confirm_runs` further runs (each on a server
started afresh, where the caller's `measure` does so): if any of them fails, the answer
steps down one stream and is confirmed again, so a lucky first run does not set it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pnsuite.capacity.rule import DeadlineRule, Judgement, judge
from pnsuite.client.camera_streams import StreamsRun
from pnsuite.errors import SuiteError

#: measure(streams, confirming) -> one run of that many streams
Measure = Callable[[int, bool], StreamsRun]


class SearchError(SuiteError):
    """A capacity search that was asked for nothing it could do."""


@dataclass
class Probe:
    """One run of the search: how many streams, what it measured, what the rule said."""

    streams: int
    run: StreamsRun
    judgement: Judgement
    confirming: bool = False


@dataclass
class Capacity:
    """The largest number of streams that met the rule in every confirming run (0: not
    even `start`), and every run that decided it."""

    streams: int
    rule: DeadlineRule
    probes: list[Probe] = field(default_factory=list)
    #: the search reached max_streams without a failure: the capacity is at least this
    capped: bool = False

    def curve(self) -> list[tuple[int, float, float]]:
        """(streams, latency at the rule's percentile, missed share) of every run, by
        streams: the latency-against-streams curve."""
        return sorted(
            (p.streams, p.judgement.latency_ms, p.judgement.missed_share) for p in self.probes
        )


def find_capacity(
    measure: Measure,
    rule: DeadlineRule,
    start: int = 1,
    max_streams: int = 64,
    confirm_runs: int = 2,
    on_probe: Callable[[Probe], None] | None = None,
) -> Capacity:
    """Search the largest number of streams that `measure` shows meeting `rule`."""
    if not 1 <= start <= max_streams or confirm_runs < 0:
        raise SearchError(
            f"need 1 <= start ({start}) <= max_streams ({max_streams}) and "
            f"confirm_runs >= 0 ({confirm_runs})"
        )
    result = Capacity(0, rule)

    def probe(streams: int, confirming: bool = False) -> bool:
        run = measure(streams, confirming)
        found = Probe(streams, run, judge(run, rule), confirming)
        result.probes.append(found)
        if on_probe is not None:
            on_probe(found)
        return found.judgement.met

    passed, failed, n = 0, None, start
    while n <= max_streams:
        if not probe(n):
            failed = n
            break
        passed, n = n, n * 2
    if failed is None and passed < max_streams:  # doubling overshot the cap: try the cap
        if probe(max_streams):
            passed = max_streams
        else:
            failed = max_streams
    result.capped = failed is None
    while failed is not None and failed - passed > 1:
        middle = (passed + failed) // 2
        if probe(middle):
            passed = middle
        else:
            failed = middle
    while passed > 0 and not all(probe(passed, confirming=True) for _ in range(confirm_runs)):
        passed -= 1
    result.streams = passed
    return result
