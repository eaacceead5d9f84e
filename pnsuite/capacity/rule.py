"""The deadline rule: when N camera streams count as served.

A run meets the rule when the frames' due-to-answer latency at the rule's percentile is
within the deadline and the share of frames missed (answered late, or dropped because the
stream's pipeline was still busy) is at most `max_missed`. A run with failed requests, or
one where the client fell behind its own schedule, is not judged at all: it says nothing
about the server.
"""

from __future__ import annotations

from dataclasses import dataclass

from pnsuite.client.camera_streams import StreamsRun
from pnsuite.errors import SuiteError


class RuleError(SuiteError):
    """A deadline rule that cannot be met by construction."""

    default_hint = "e.g. --deadline-ms 33 --percentile 99 --max-missed 0.01"


class ClientFellBehind(SuiteError):
    """The load generator, not the server, missed the streams' schedule."""

    default_hint = (
        "run the client on a machine with more free cores, or fewer streams; "
        "the result would measure the client"
    )


@dataclass(frozen=True, kw_only=True)
class DeadlineRule:
    """Latency at `percentile` within `deadline_ms`, and at most `max_missed` of the frames
    due missed (late or dropped)."""

    deadline_ms: float
    percentile: float = 99.0
    max_missed: float = 0.01

    def __post_init__(self) -> None:
        if (
            not self.deadline_ms > 0
            or not 0 < self.percentile <= 100
            or not 0 <= self.max_missed < 1
        ):
            raise RuleError(
                f"need deadline_ms > 0, 0 < percentile <= 100 and 0 <= max_missed "
                f"< 1, got {self.deadline_ms}, {self.percentile}, {self.max_missed}"
            )

    @classmethod
    def for_fps(cls, fps: float, **kwargs: float) -> DeadlineRule:
        """The rule whose deadline is one frame interval (a frame answered before the
        next one arrives), unless `deadline_ms` is given."""
        kwargs.setdefault("deadline_ms", 1e3 / fps)
        return cls(**kwargs)

    def describe(self) -> str:
        return (
            f"p{self.percentile:g} <= {self.deadline_ms:g} ms and at most "
            f"{self.max_missed:.1%} of frames late or dropped"
        )


@dataclass(frozen=True)
class Judgement:
    """Whether a run met the rule, and the figures that decided it."""

    met: bool
    latency_ms: float
    missed_share: float
    why: str


def judge(run: StreamsRun, rule: DeadlineRule) -> Judgement:
    """`run` under `rule`; ClientFellBehind where the client missed its schedule."""
    if run.client_late:
        raise ClientFellBehind(run.client_late)
    latency, missed = run.latency_ms(rule.percentile), run.missed_share(rule.deadline_ms)
    problems = []
    if run.errors:
        problems.append(f"{len(run.errors)} requests failed (first: {run.errors[0]})")
    if latency > rule.deadline_ms:
        problems.append(f"p{rule.percentile:g} {latency:.1f} ms > {rule.deadline_ms:g} ms")
    if missed > rule.max_missed:
        problems.append(
            f"{missed:.1%} of frames late or dropped > {rule.max_missed:.1%} "
            f"({run.late(rule.deadline_ms)} late, {run.frames_dropped} dropped "
            f"of {run.frames_due})"
        )
    return Judgement(not problems, latency, missed, "; ".join(problems) or "met")
