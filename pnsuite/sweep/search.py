"""Which points a sweep measures: all of them (brute force), or a hill climb through the
grid for spaces too big to measure whole. Both take the points a journal already holds
(`done`) and measure only the others, so an interrupted sweep resumes where it stopped."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

from pnsuite.sweep.errors import SweepError
from pnsuite.sweep.objectives import (
    Constraint,
    Objective,
    cheapness,
    compare_values,
    shortfall,
    violations,
)
from pnsuite.sweep.points import PointKey, SweepPoint, Variant
from pnsuite.sweep.space import SweepSpace

#: measures one point (starting the variant's server when it is not the one running)
Measure = Callable[[PointKey], SweepPoint]

# score classes, best first
_FEASIBLE, _INFEASIBLE, _FAILED = 0, 1, 2


def brute_force(
    space: SweepSpace, measure: Measure, done: Mapping[PointKey, SweepPoint] | None = None
) -> list[SweepPoint]:
    """Every point of the space, in `space.keys()` order; those in `done` are taken from
    it, not measured again."""
    done = done or {}
    # SIM118: a SweepSpace is not a dict; its keys() lists the points.
    return [done[key] if key in done else measure(key) for key in space.keys()]  # noqa: SIM118


def compare_scores(
    a: SweepPoint, b: SweepPoint, objective: Objective, constraints: Sequence[Constraint]
) -> int:
    """-1 when `a` scores better, 1 when `b` does, 0 when they tie.

    Feasible points go by the objective and beat every other point; infeasible ones go by
    how far they miss the constraints (so a climb from an infeasible start heads for the
    feasible region), then the objective; failed points score lowest.
    """
    ca, cb = _score_class(a, objective, constraints), _score_class(b, objective, constraints)
    if ca != cb:
        return -1 if ca < cb else 1
    if ca == _FAILED:
        return 0
    if ca == _INFEASIBLE:
        by_shortfall = compare_values(
            shortfall(a, constraints), shortfall(b, constraints), maximise=False
        )
        if by_shortfall:
            return by_shortfall
    va, vb = a.metric(objective.metric), b.metric(objective.metric)
    if va is None or vb is None:
        return (va is None) - (vb is None)
    return compare_values(va, vb, objective.maximise)


def _score_class(point: SweepPoint, objective: Objective, constraints: Sequence[Constraint]) -> int:
    if not point.ok:
        return _FAILED
    if violations(point, constraints) or point.metric(objective.metric) is None:
        return _INFEASIBLE
    return _FEASIBLE


def _neighbours(
    at: tuple[int, int, int], shape: tuple[int, int, int]
) -> list[tuple[int, int, int]]:
    """Grid points one step away along one axis, in grid (variant-major) order."""
    steps: list[tuple[int, int, int]] = []
    for axis in range(3):
        for step in (-1, 1):
            moved = list(at)
            moved[axis] += step
            if 0 <= moved[axis] < shape[axis]:
                steps.append((moved[0], moved[1], moved[2]))
    return sorted(steps)


def _best_of(
    around: list[tuple[SweepPoint, tuple[int, int, int]]],
    objective: Objective,
    constraints: Sequence[Constraint],
) -> tuple[SweepPoint, tuple[int, int, int]]:
    """The best (point, coordinates) of `around` by score; ties go to the cheaper config."""

    def order(a: SweepPoint, b: SweepPoint) -> int:
        by_score = compare_scores(a, b, objective, constraints)
        return by_score or (cheapness(a) > cheapness(b)) - (cheapness(a) < cheapness(b))

    def by_point(
        a: tuple[SweepPoint, tuple[int, int, int]], b: tuple[SweepPoint, tuple[int, int, int]]
    ) -> int:
        return order(a[0], b[0])

    return min(around, key=functools.cmp_to_key(by_point))


def hill_climb(
    space: SweepSpace,
    measure: Measure,
    objective: Objective,
    constraints: Sequence[Constraint] = (),
    done: Mapping[PointKey, SweepPoint] | None = None,
    start: PointKey | None = None,
    max_points: int | None = None,
) -> list[SweepPoint]:
    """Climb the grid (instances index, batching index, concurrency index) from `start`
    (default: the first of each axis) to a local optimum of the score (`compare_scores`).

    Each step measures the current point's unmeasured neighbours (one step along one
    axis; those of the variant measured last first, so the running server serves them,
    then the rest in grid order), and moves to the best of its neighbours if that beats
    the current point (ties go to the cheaper config). It stops where no neighbour is
    better, a local optimum: the global one when the landscape has a single peak along
    the grid, not in general. It stops too once `max_points` points are in its result.

    Points in `done` count as measured without calling `measure`. Returns every point
    the climb measured or took from `done`, in the order it reached them; given the
    points of an interrupted climb as `done`, it retraces that climb and goes on.
    """
    if max_points is not None and max_points < 1:
        raise SweepError(
            f"max_points {max_points} leaves the climb nothing to measure",
            "give a maximum of at least 1 point, or none",
        )
    done = done or {}
    reached: dict[PointKey, SweepPoint] = {}
    last_variant: Variant | None = None

    def reach(key: PointKey) -> SweepPoint:
        nonlocal last_variant
        if key not in reached:
            reached[key] = done[key] if key in done else measure(key)
            last_variant = key.variant
        return reached[key]

    def full() -> bool:
        return max_points is not None and len(reached) >= max_points

    at = space.coordinates(start) if start is not None else (0, 0, 0)
    current = reach(space.key_at(at))
    # Tolerant ties are not transitive, so a chain of moves could in theory lead back;
    # never returning to a point keeps the climb finite.
    visited = {at}
    while not full():
        fresh = [n for n in _neighbours(at, space.shape) if space.key_at(n) not in reached]
        # sorted() is stable: the served variant's points first, then grid order
        for n in sorted(fresh, key=lambda n: space.key_at(n).variant != last_variant):
            if full():
                break
            reach(space.key_at(n))
        around = [
            (reached[space.key_at(n)], n)
            for n in _neighbours(at, space.shape)
            if space.key_at(n) in reached
        ]
        if not around:
            break
        best_point, best_at = _best_of(around, objective, constraints)
        if best_at in visited or compare_scores(best_point, current, objective, constraints) >= 0:
            break
        current, at = best_point, best_at
        visited.add(at)
    return list(reached.values())
