"""Objectives and constraints, on hand-made points: parsing, feasibility with its reasons,
the ranking and its cheaper-config tie-break, the Pareto front, and when power is needed."""

import math

import pytest

from pnsuite.sweep.errors import SweepError
from pnsuite.sweep.objectives import (Constraint, Objective, best, needs_power, pareto_front,
                                      parse_constraint, parse_objective, rank, violations)
from pnsuite.sweep.points import Batching, PointKey, Platform, SweepPoint, Variant

OFF = Batching()
ON = Batching(True, 100)


def point(instances=1, batching=OFF, concurrency=1, throughput=100.0, p50=5.0, p99=10.0,
          power=None, error=None):
    return SweepPoint(PointKey(Variant(instances, batching), concurrency),
                      throughput=throughput if throughput is not None else math.nan,
                      windows_throughput=[throughput] if throughput is not None else [],
                      windows_counted=1 if throughput is not None else 0,
                      latency_p50_ms=p50, latency_p99_ms=p99,
                      platform=Platform("tegrastats" if power else None, power), error=error)


def labels(points):
    return [p.key.label for p in points]


MAX_THROUGHPUT = Objective("throughput", True)


# ------------------------------------------------------------------ objectives

@pytest.mark.parametrize("text, metric, maximise", [
    ("max:throughput", "throughput", True),
    ("min:energy_mj_per_inference", "energy_mj_per_inference", False),
    ("throughput", "throughput", True),
    ("latency_p99_ms", "latency_p99_ms", False),
    ("inferences_per_joule", "inferences_per_joule", True),
    ("energy", "energy_mj_per_inference", False),
    ("min:p99", "latency_p99_ms", False),
    ("max:latency_p50_ms", "latency_p50_ms", True),
])
def test_objectives_parse_with_bare_metrics_going_the_better_way(text, metric, maximise):
    assert parse_objective(text) == Objective(metric, maximise)


def test_an_objective_describes_itself_and_reads_back():
    assert parse_objective("throughput").describe() == "maximise throughput"
    assert parse_objective("energy").describe() == "minimise energy_mj_per_inference"
    assert parse_objective("energy").text == "min:energy_mj_per_inference"
    assert parse_objective(parse_objective("p99").text) == Objective("latency_p99_ms", False)


def test_an_unknown_metric_lists_the_known_ones():
    with pytest.raises(SweepError) as caught:
        parse_objective("max:speed")
    assert caught.value.message == "objective 'max:speed': unknown metric 'speed'"
    for name in ("throughput", "latency_p99_ms", "energy_mj_per_inference", "power_w",
                 "p99 (latency_p99_ms)"):
        assert name in caught.value.hint


def test_an_unknown_direction_is_refused():
    with pytest.raises(SweepError, match="'up' is not a direction"):
        parse_objective("up:throughput")


# ------------------------------------------------------------------ constraints

@pytest.mark.parametrize("text, constraint", [
    ("latency_p99_ms<=50", Constraint("latency_p99_ms", "<=", 50.0)),
    ("p99<=50", Constraint("latency_p99_ms", "<=", 50.0)),
    (" p50 < 7.5 ", Constraint("latency_p50_ms", "<", 7.5)),
    ("throughput>=200", Constraint("throughput", ">=", 200.0)),
    ("energy>1e-3", Constraint("energy_mj_per_inference", ">", 0.001)),
])
def test_constraints_parse_with_aliases(text, constraint):
    assert parse_constraint(text) == constraint


def test_a_constraint_describes_itself_and_reads_back():
    c = parse_constraint("p99<=50")
    assert c.describe() == "latency_p99_ms <= 50" and c.text == "latency_p99_ms<=50"
    assert parse_constraint(c.text) == c
    assert parse_constraint("throughput>=12.5").describe() == "throughput >= 12.5"


@pytest.mark.parametrize("text, message", [
    ("p99=50", "is not METRIC OP BOUND"),
    ("p99<=", "is not METRIC OP BOUND"),
    ("<=50", "is not METRIC OP BOUND"),
    ("p99<=fast", "bound 'fast' is not a finite number"),
    ("p99<=inf", "bound 'inf' is not a finite number"),
    ("p99<=nan", "bound 'nan' is not a finite number"),
    ("p95<=50", "unknown metric 'p95'"),
])
def test_a_bad_constraint_is_refused(text, message):
    with pytest.raises(SweepError, match=message):
        parse_constraint(text)


def test_a_constraint_with_an_unknown_op_is_refused():
    with pytest.raises(SweepError, match="operator '==' is not one of <=, >=, <, >"):
        Constraint("throughput", "==", 1.0)


@pytest.mark.parametrize("op, bound, holds", [
    ("<=", 10.0, True), ("<=", 9.9, False), ("<", 10.0, False), ("<", 10.1, True),
    (">=", 10.0, True), (">=", 10.1, False), (">", 10.0, False), (">", 9.9, True),
])
def test_each_operator_holds_as_written(op, bound, holds):
    assert Constraint("latency_p99_ms", op, bound).holds(point(p99=10.0)) is holds


def test_a_metric_the_point_lacks_does_not_hold():
    no_power = point(throughput=200.0)
    assert not Constraint("energy_mj_per_inference", "<=", 1e9).holds(no_power)
    assert not Constraint("latency_p99_ms", "<=", 1e9).holds(point(p99=float("nan")))
    # 10 W at 200 inferences/s: 50 mJ each
    assert Constraint("energy_mj_per_inference", "<=", 50.0).holds(
        point(power=10.0, throughput=200.0))
    assert not Constraint("energy_mj_per_inference", "<", 50.0).holds(
        point(power=10.0, throughput=200.0))


# ------------------------------------------------------------------ violations

P99_50 = parse_constraint("p99<=50")
AT_LEAST_150 = parse_constraint("throughput>=150")
ENERGY_5 = parse_constraint("energy<=5")


def test_a_feasible_point_has_no_violations():
    assert violations(point(throughput=150.0, p99=50.0), [P99_50, AT_LEAST_150]) == []
    assert violations(point(), []) == []


def test_violations_say_each_broken_constraint_with_the_value():
    assert violations(point(throughput=120.0, p99=61.2), [P99_50, AT_LEAST_150, ENERGY_5]) \
        == ["latency_p99_ms 61.2 > 50", "throughput 120 < 150", "power not measured"]
    assert violations(point(p99=50.0), [parse_constraint("p99<50")]) == \
        ["latency_p99_ms 50 >= 50"]
    assert violations(point(p99=float("nan")), [P99_50]) == ["latency_p99_ms not measured"]


def test_a_failed_point_is_never_feasible():
    assert violations(point(error="variant failed to load"), []) == [
        "failed: variant failed to load"]
    assert violations(point(throughput=None), [P99_50]) == ["failed: no throughput measured"]
    assert violations(point(throughput=0.0), []) == ["failed: no throughput measured"]


# ------------------------------------------------------------------ ranking

def test_rank_keeps_the_feasible_points_best_first():
    points = [point(concurrency=1, throughput=100.0, p99=10.0),
              point(concurrency=2, throughput=180.0, p99=30.0),
              point(concurrency=4, throughput=240.0, p99=55.0),   # breaks p99 <= 50
              point(concurrency=8, throughput=300.0, error="timeout"),
              point(concurrency=16, throughput=150.0, p99=49.0)]
    assert labels(rank(points, MAX_THROUGHPUT, [P99_50])) == [
        "i1-boff-c2", "i1-boff-c16", "i1-boff-c1"]
    assert labels(rank(points, MAX_THROUGHPUT)) == [
        "i1-boff-c4", "i1-boff-c2", "i1-boff-c16", "i1-boff-c1"]
    assert labels(rank(points, Objective("latency_p99_ms", False), [P99_50])) == [
        "i1-boff-c1", "i1-boff-c2", "i1-boff-c16"]
    assert best(points, MAX_THROUGHPUT, [P99_50]).key.label == "i1-boff-c2"


def test_ties_go_to_fewer_instances_then_batching_off_then_lower_concurrency():
    # i2-boff-c1 is higher by less than the tolerance: a tie, so it goes last
    tied = [point(2, OFF, 1, 100.0 * (1 + 5e-10)), point(1, ON, 1, 100.0),
            point(1, OFF, 4, 100.0), point(1, OFF, 2, 100.0), point(1, ON, 2, 100.0)]
    assert labels(rank(tied, MAX_THROUGHPUT)) == [
        "i1-boff-c2", "i1-boff-c4", "i1-bon-d100-c1", "i1-bon-d100-c2", "i2-boff-c1"]


def test_a_difference_beyond_the_tie_tolerance_is_not_a_tie():
    points = [point(1, OFF, 1, 100.0), point(2, OFF, 1, 100.0 * (1 + 1e-8))]
    assert labels(rank(points, MAX_THROUGHPUT)) == ["i2-boff-c1", "i1-boff-c1"]


def test_minimising_energy_ranks_the_measured_points_only():
    points = [point(concurrency=1, throughput=100.0, power=10.0),    # 100 mJ
              point(concurrency=2, throughput=250.0, power=12.5),    # 50 mJ
              point(concurrency=4, throughput=400.0, power=40.0),    # 100 mJ
              point(concurrency=8, throughput=500.0)]                # no power
    objective = parse_objective("energy")
    assert labels(rank(points, objective)) == ["i1-boff-c2", "i1-boff-c1", "i1-boff-c4"]
    assert labels(rank(points, objective, [AT_LEAST_150])) == ["i1-boff-c2", "i1-boff-c4"]


def test_no_feasible_point_means_no_best():
    assert best([point(p99=80.0), point(error="x")], MAX_THROUGHPUT, [P99_50]) is None
    assert best([], MAX_THROUGHPUT) is None


# ------------------------------------------------------------------ Pareto front

def test_the_pareto_front_keeps_the_undominated_points_by_latency():
    points = [point(concurrency=1, throughput=100.0, p99=10.0),
              point(concurrency=2, throughput=180.0, p99=20.0),
              point(concurrency=3, throughput=170.0, p99=25.0),   # c2 is faster and higher
              point(concurrency=4, throughput=180.0, p99=30.0),   # c2: same throughput, lower p99
              point(concurrency=5, throughput=250.0, p99=60.0),
              point(concurrency=6, throughput=90.0, p99=10.0),    # c1: same p99, higher
              point(concurrency=7, throughput=900.0, error="x"),  # failed: not on it
              point(concurrency=8, throughput=240.0, p99=float("nan"))]
    assert labels(pareto_front(points)) == ["i1-boff-c1", "i1-boff-c2", "i1-boff-c5"]


def test_points_equal_on_both_axes_are_both_on_the_front():
    points = [point(concurrency=2, throughput=100.0, p99=10.0),
              point(concurrency=1, throughput=100.0, p99=10.0)]
    assert labels(pareto_front(points)) == ["i1-boff-c1", "i1-boff-c2"]


def test_the_pareto_front_takes_other_axes():
    points = [point(concurrency=1, throughput=100.0, p50=3.0, p99=10.0),
              point(concurrency=2, throughput=150.0, p50=2.0, p99=40.0)]
    assert labels(pareto_front(points, x="latency_p50_ms")) == ["i1-boff-c2"]
    assert labels(pareto_front(points)) == ["i1-boff-c1", "i1-boff-c2"]
    assert pareto_front([]) == []


# ------------------------------------------------------------------ power

def test_energy_objectives_and_constraints_need_power():
    assert needs_power(parse_objective("energy"), [])
    assert needs_power(parse_objective("max:inferences_per_joule"))
    assert needs_power(MAX_THROUGHPUT, [P99_50, parse_constraint("power_w<=15")])
    assert needs_power(MAX_THROUGHPUT, [ENERGY_5])
    assert not needs_power(MAX_THROUGHPUT, [P99_50, AT_LEAST_150])
