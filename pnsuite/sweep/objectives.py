"""What a sweep looks for, as Model Analyzer puts it: an objective (maximise throughput,
minimise energy per inference) within constraints (p99 <= 50 ms, throughput >= 200), the
ranking of the points that meet them, and the throughput / latency Pareto front."""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from pnsuite.sweep.errors import SweepError
from pnsuite.sweep.points import HIGHER_IS_BETTER, METRICS, SweepPoint

#: short names accepted for metrics in objectives and constraints
ALIASES = {"p50": "latency_p50_ms", "p99": "latency_p99_ms", "energy": "energy_mj_per_inference"}

#: metrics that exist only where the machine measures power (tegrastats, nvidia-smi)
POWER_METRICS = frozenset({"energy_mj_per_inference", "inferences_per_joule", "power_w"})

#: relative difference below which two objective values count as a tie
TIE_TOLERANCE = 1e-9

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
#: what a failed check reads like: `latency_p99_ms 61.2 > 50` for a broken `<= 50`
_NEGATION = {"<=": ">", ">=": "<", "<": ">=", ">": "<="}
_CONSTRAINT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([^\s<>=]+)\s*")


def _metric(name: str, what: str) -> str:
    metric = ALIASES.get(name, name)
    if metric not in METRICS:
        aliases = ", ".join(f"{a} ({m})" for a, m in ALIASES.items())
        raise SweepError(
            f"{what}: unknown metric {name!r}",
            f"use one of {', '.join(METRICS)}, or the short names {aliases}",
        )
    return metric


def _number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Objective:
    """The metric a sweep optimises, and which way."""

    metric: str
    maximise: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric", _metric(self.metric, "objective"))

    @property
    def text(self) -> str:
        """The objective as parse_objective reads it: `max:throughput`."""
        return f"{'max' if self.maximise else 'min'}:{self.metric}"

    def describe(self) -> str:
        """`maximise throughput`."""
        return f"{'maximise' if self.maximise else 'minimise'} {self.metric}"


def parse_objective(text: str) -> Objective:
    """`max:throughput`, `min:energy_mj_per_inference`, or a bare metric (`throughput`),
    which goes the way the metric is better (HIGHER_IS_BETTER)."""
    direction, _, name = text.strip().rpartition(":")
    if direction not in ("", "max", "min"):
        raise SweepError(
            f"objective {text!r}: {direction!r} is not a direction",
            "write max:METRIC, min:METRIC or a bare METRIC (e.g. max:throughput)",
        )
    metric = _metric(name, f"objective {text!r}")
    maximise = direction == "max" if direction else metric in HIGHER_IS_BETTER
    return Objective(metric, maximise)


@dataclass(frozen=True)
class Constraint:
    """A bound a point must meet to be feasible: `metric op bound`."""

    metric: str
    op: str
    bound: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric", _metric(self.metric, "constraint"))
        if self.op not in _OPS:
            raise SweepError(
                f"constraint operator {self.op!r} is not one of {', '.join(_OPS)}",
                "write METRIC<=BOUND, METRIC>=BOUND, METRIC<BOUND or METRIC>BOUND",
            )

    @property
    def text(self) -> str:
        """The constraint as parse_constraint reads it: `latency_p99_ms<=50`."""
        return f"{self.metric}{self.op}{_number(self.bound)}"

    def describe(self) -> str:
        """`latency_p99_ms <= 50`."""
        return f"{self.metric} {self.op} {_number(self.bound)}"

    def holds(self, point: SweepPoint) -> bool:
        """Whether the point meets the bound; a metric the point lacks (energy where no
        power was measured) does not."""
        value = point.metric(self.metric)
        return value is not None and _OPS[self.op](value, self.bound)

    def shortfall(self, point: SweepPoint) -> float:
        """How far the point is from meeting the bound, relative to the bound (0 when it
        holds, inf when the point lacks the metric): how infeasible points compare."""
        value = point.metric(self.metric)
        if value is None:
            return math.inf
        if self.holds(point):
            return 0.0
        # a strict bound missed exactly still counts as missed, by a hair
        gap = max(abs(value - self.bound), TIE_TOLERANCE)
        return gap / abs(self.bound) if self.bound else gap


def parse_constraint(text: str) -> Constraint:
    """`latency_p99_ms<=50`, `p99<=50`, `throughput>=200`, `energy<5` (ops <=, >=, <, >)."""
    match = _CONSTRAINT.fullmatch(text)
    hint = (
        "write METRIC<=BOUND, METRIC>=BOUND, METRIC<BOUND or METRIC>BOUND, "
        "e.g. latency_p99_ms<=50 or throughput>=200"
    )
    if not match:
        raise SweepError(f"constraint {text!r} is not METRIC OP BOUND", hint)
    name, op, bound_text = match.groups()
    metric = _metric(name, f"constraint {text!r}")
    try:
        bound = float(bound_text)
    except ValueError:
        bound = math.nan
    if not math.isfinite(bound):
        raise SweepError(f"constraint {text!r}: bound {bound_text!r} is not a finite number", hint)
    return Constraint(metric, op, bound)


def violations(point: SweepPoint, constraints: Iterable[Constraint]) -> list[str]:
    """Why a point is not feasible, one reason per broken constraint (empty: feasible).

    A point that failed is never feasible: its only reason is the failure.
    """
    if not point.ok:
        return [f"failed: {point.error}" if point.error else "failed: no throughput measured"]
    reasons = []
    for constraint in constraints:
        if constraint.holds(point):
            continue
        value = point.metric(constraint.metric)
        if value is None:
            reasons.append(
                "power not measured"
                if constraint.metric in POWER_METRICS
                else f"{constraint.metric} not measured"
            )
        else:
            reasons.append(
                f"{constraint.metric} {_number(value)} "
                f"{_NEGATION[constraint.op]} {_number(constraint.bound)}"
            )
    return reasons


def shortfall(point: SweepPoint, constraints: Iterable[Constraint]) -> float:
    """The sum of the constraints' relative shortfalls (0: every constraint holds)."""
    return sum((c.shortfall(point) for c in constraints), 0.0)


def cheapness(point: SweepPoint) -> tuple[int, bool, int]:
    """The order ties go by: fewer instances, then batching off, then lower concurrency."""
    variant = point.key.variant
    return variant.instances, variant.batching.enabled, point.key.concurrency


def _measured(point: SweepPoint, metric: str) -> float:
    """`point`'s value of `metric`, where the caller kept only points that have it."""
    return cast(float, point.metric(metric))


def compare_values(a: float, b: float, maximise: bool) -> int:
    """-1 when `a` is the better value, 1 when `b` is, 0 when they tie (TIE_TOLERANCE)."""
    if math.isclose(a, b, rel_tol=TIE_TOLERANCE, abs_tol=0.0):
        return 0
    return -1 if (a > b) == maximise else 1


def rank(
    points: Iterable[SweepPoint], objective: Objective, constraints: Sequence[Constraint] = ()
) -> list[SweepPoint]:
    """The feasible points, best first by the objective; ties go to the cheaper config
    (see `cheapness`). A point without the objective's metric is left out."""
    feasible = [
        p
        for p in points
        if not violations(p, constraints) and p.metric(objective.metric) is not None
    ]

    def order(a: SweepPoint, b: SweepPoint) -> int:
        by_value = compare_values(
            _measured(a, objective.metric), _measured(b, objective.metric), objective.maximise
        )
        return by_value or (cheapness(a) > cheapness(b)) - (cheapness(a) < cheapness(b))

    return sorted(feasible, key=functools.cmp_to_key(order))


def best(
    points: Iterable[SweepPoint], objective: Objective, constraints: Sequence[Constraint] = ()
) -> SweepPoint | None:
    """The best feasible point, None when no point is feasible."""
    ranked = rank(points, objective, constraints)
    return ranked[0] if ranked else None


def pareto_front(
    points: Iterable[SweepPoint], x: str = "latency_p99_ms", y: str = "throughput"
) -> list[SweepPoint]:
    """The measured points no other beats on both axes (smaller `x`, larger `y`), by `x`.

    A point is dominated when another is at least as good on both axes and better on one;
    points equal on both stay together.
    """
    candidates = [p for p in points if p.ok and p.metric(x) is not None and p.metric(y) is not None]
    if not candidates:
        return []
    xs = np.array([p.metric(x) for p in candidates])
    ys = np.array([p.metric(y) for p in candidates])
    # [i, j]: point j is at least as good as point i on both axes, and better on one
    no_worse = (xs[None, :] <= xs[:, None]) & (ys[None, :] >= ys[:, None])
    better = (xs[None, :] < xs[:, None]) | (ys[None, :] > ys[:, None])
    dominated = (no_worse & better).any(axis=1)
    front = [p for p, d in zip(candidates, dominated) if not d]
    return sorted(front, key=lambda p: (_measured(p, x), -_measured(p, y), cheapness(p)))


def needs_power(objective: Objective, constraints: Iterable[Constraint] = ()) -> bool:
    """Whether the objective or a constraint needs power measured (energy, power_w)."""
    return objective.metric in POWER_METRICS or any(c.metric in POWER_METRICS for c in constraints)
