"""Brute force and the hill climb on synthetic landscapes: a `measure` that builds each
point from a formula of its grid place, and records what it was asked to measure."""

import pytest

from pnsuite.sweep.errors import SweepError
from pnsuite.sweep.objectives import Objective, parse_constraint, parse_objective, rank
from pnsuite.sweep.points import Batching, PointKey, Platform, SweepPoint, Variant
from pnsuite.sweep.search import brute_force, compare_scores, hill_climb
from pnsuite.sweep.space import SweepSpace

OFF = Batching()
ON = Batching(True)
MAX_THROUGHPUT = Objective("throughput", True)


class Landscape:
    """measure(): a point whose figures `formula(i, b, c)` gives from the grid indices."""

    def __init__(self, space, formula):
        self.space, self.formula, self.calls = space, formula, []

    def __call__(self, key):
        self.calls.append(key.label)
        figures = self.formula(*self.space.coordinates(key))
        power = figures.get("power")
        return SweepPoint(key, throughput=figures["throughput"],
                          windows_throughput=[figures["throughput"]], windows_counted=1,
                          latency_p50_ms=figures.get("p99", 1.0) / 2,
                          latency_p99_ms=figures.get("p99", 1.0),
                          platform=Platform("tegrastats" if power else None, power),
                          error=figures.get("error"))


def labels(points):
    return [p.key.label for p in points]


# A separable peak: instances index 1, batching on, concurrency index 2 (i2-bon-c4, 316).
SMALL = SweepSpace((1, 2, 3), (OFF, ON), (1, 2, 4, 8, 16))


def small_peak(i, b, c):
    return {"throughput": 100 * [1, 3, 2][i] + 10 * [0, 1][b] + [1, 3, 6, 5, 2][c]}


# The climb from i1-boff-c1, worked by hand: each step's unmeasured neighbours (those of
# the variant measured last first, then grid order), then a move to the best of them.
SMALL_CLIMB = [
    "i1-boff-c1",
    "i1-boff-c2", "i1-bon-c1", "i2-boff-c1",                    # -> i2-boff-c1 (301)
    "i2-boff-c2", "i2-bon-c1", "i3-boff-c1",                    # -> i2-bon-c1 (311)
    "i2-bon-c2", "i3-bon-c1",                                   # -> i2-bon-c2 (313)
    "i3-bon-c2", "i1-bon-c2", "i2-bon-c4",                      # -> i2-bon-c4 (316)
    "i2-bon-c8", "i1-bon-c4", "i2-boff-c4", "i3-bon-c4",        # none beats 316: stop
]


# ------------------------------------------------------------------ brute force

def test_brute_force_measures_every_key_in_grid_order():
    measure = Landscape(SMALL, small_peak)
    points = brute_force(SMALL, measure, {})
    assert labels(points) == [k.label for k in SMALL.keys()] == measure.calls
    assert len(points) == 30
    assert rank(points, MAX_THROUGHPUT)[0].key.label == "i2-bon-c4"


def test_brute_force_resumes_without_measuring_the_done_points_again():
    first = Landscape(SMALL, small_peak)
    done = {p.key: p for p in brute_force(SMALL, first)[:4]}
    again = Landscape(SMALL, small_peak)
    points = brute_force(SMALL, again, done)
    keys = [k.label for k in SMALL.keys()]
    assert again.calls == keys[4:]
    assert labels(points) == keys
    assert all(points[n] is done[SMALL.keys()[n]] for n in range(4))


# ------------------------------------------------------------------ the climb

def test_the_climb_finds_the_peak_of_a_small_landscape_by_the_worked_path():
    measure = Landscape(SMALL, small_peak)
    points = hill_climb(SMALL, measure, MAX_THROUGHPUT)
    assert labels(points) == SMALL_CLIMB == measure.calls
    assert rank(points, MAX_THROUGHPUT)[0].key.label == "i2-bon-c4"
    assert rank(points, MAX_THROUGHPUT)[0].throughput == 316


def test_the_climb_finds_a_unimodal_peak_measuring_fewer_points_than_brute_force():
    space = SweepSpace((1, 2, 3, 4), (OFF, Batching(True, 0), Batching(True, 100),
                                      Batching(True, 500)), (1, 2, 4, 8, 16, 32, 64))

    def peak(i, b, c):
        return {"throughput": 1000.0 - 10 * (i - 2) ** 2 - 20 * (b - 2) ** 2 - 5 * (c - 4) ** 2}

    everything = brute_force(space, Landscape(space, peak))
    climb = Landscape(space, peak)
    points = hill_climb(space, climb, MAX_THROUGHPUT)
    assert rank(everything, MAX_THROUGHPUT)[0].key.label == "i3-bon-d100-c16"
    assert rank(points, MAX_THROUGHPUT)[0].key.label == "i3-bon-d100-c16"
    assert len(points) == len(climb.calls) == len(set(climb.calls)) < space.size // 2
    assert space.size == 112


def test_the_climb_starts_where_told_and_measures_the_running_variant_first():
    measure = Landscape(SMALL, small_peak)
    points = hill_climb(SMALL, measure, MAX_THROUGHPUT, start=PointKey(Variant(2, ON), 4))
    assert labels(points) == ["i2-bon-c4", "i2-bon-c2", "i2-bon-c8",
                              "i1-bon-c4", "i2-boff-c4", "i3-bon-c4"]


def test_a_start_outside_the_space_is_refused():
    with pytest.raises(SweepError, match="i4-boff-c1 is not in the sweep space"):
        hill_climb(SMALL, Landscape(SMALL, small_peak), MAX_THROUGHPUT,
                   start=PointKey(Variant(4, OFF), 1))


def test_the_climb_stops_at_a_local_optimum():
    space = SweepSpace((1,), (OFF,), (1, 2, 4, 8, 16))

    def two_peaks(i, b, c):
        return {"throughput": [5.0, 7.0, 3.0, 9.0, 1.0][c]}

    measure = Landscape(space, two_peaks)
    points = hill_climb(space, measure, MAX_THROUGHPUT)
    assert measure.calls == ["i1-boff-c1", "i1-boff-c2", "i1-boff-c4"]
    assert rank(points, MAX_THROUGHPUT)[0].key.label == "i1-boff-c2"


# Throughput grows with concurrency and instances, so does p99: the best point under
# p99 <= 50 sits on the constraint's edge (i3-boff-c32, p99 40.6; c64 reaches 76.1).
SCALING = (1.0, 1.5, 1.8)
EDGE = SweepSpace((1, 2, 3), (OFF,), (1, 2, 4, 8, 16, 32, 64))


def queueing(i, b, c):
    clients = EDGE.concurrency[c]
    return {"throughput": 50.0 * clients * SCALING[i], "p99": 5.0 + 2.0 * clients / SCALING[i]}


def test_the_climb_respects_a_constraint_and_stops_on_its_edge():
    p99 = parse_constraint("p99<=50")
    measure = Landscape(EDGE, queueing)
    points = hill_climb(EDGE, measure, MAX_THROUGHPUT, [p99])
    assert measure.calls == [
        "i1-boff-c1", "i1-boff-c2", "i2-boff-c1",      # -> i1-c2
        "i2-boff-c2", "i1-boff-c4",                    # -> i1-c4
        "i1-boff-c8", "i2-boff-c4",                    # -> i1-c8
        "i2-boff-c8", "i1-boff-c16",                   # -> i1-c16
        "i1-boff-c32", "i2-boff-c16",                  # i1-c32 breaks p99: -> i2-c16
        "i2-boff-c32", "i3-boff-c16",                  # -> i2-c32
        "i3-boff-c32", "i2-boff-c64",                  # -> i3-c32
        "i3-boff-c64",                                 # breaks p99: stop
    ]
    winner = rank(points, MAX_THROUGHPUT, [p99])[0]
    assert winner.key.label == "i3-boff-c32" == \
        rank(brute_force(EDGE, Landscape(EDGE, queueing)), MAX_THROUGHPUT, [p99])[0].key.label
    assert winner.throughput == pytest.approx(2880.0)
    assert winner.latency_p99_ms == pytest.approx(5 + 64 / 1.8)
    unconstrained = hill_climb(EDGE, Landscape(EDGE, queueing), MAX_THROUGHPUT)
    assert rank(unconstrained, MAX_THROUGHPUT)[0].key.label == "i3-boff-c64"


def test_an_infeasible_start_heads_for_the_feasible_region():
    """Energy alone would keep the climb at c1 (20 mJ): the way to throughput >= 700 is
    the way its shortfall shrinks, and then energy picks c8 over c16."""
    space = SweepSpace((1,), (OFF,), (1, 2, 4, 8, 16))
    energy_mj = [20.0, 30.0, 40.0, 25.0, 35.0]

    def efficiency(i, b, c):
        throughput = 100.0 * space.concurrency[c]
        return {"throughput": throughput, "power": energy_mj[c] * throughput / 1e3}

    measure = Landscape(space, efficiency)
    enough = parse_constraint("throughput>=700")
    points = hill_climb(space, measure, parse_objective("energy"), [enough])
    assert measure.calls == ["i1-boff-c1", "i1-boff-c2", "i1-boff-c4", "i1-boff-c8",
                             "i1-boff-c16"]
    winner = rank(points, parse_objective("energy"), [enough])[0]
    assert winner.key.label == "i1-boff-c8"
    assert winner.energy_mj_per_inference == pytest.approx(25.0)


def test_failed_points_score_lowest_and_infeasible_ones_above_them():
    space = SweepSpace((1,), (OFF,), (1, 2, 4, 8))
    figures = [{"throughput": 0.0, "error": "variant failed to load"},
               {"throughput": 900.0, "p99": 80.0},
               {"throughput": 400.0, "p99": 20.0},
               {"throughput": 300.0, "p99": 30.0}]
    measure = Landscape(space, lambda i, b, c: figures[c])
    p99 = [parse_constraint("p99<=50")]
    points = hill_climb(space, measure, MAX_THROUGHPUT, p99)
    assert measure.calls == ["i1-boff-c1", "i1-boff-c2", "i1-boff-c4", "i1-boff-c8"]
    failed, infeasible, feasible, _ = points
    assert compare_scores(feasible, infeasible, MAX_THROUGHPUT, p99) == -1
    assert compare_scores(infeasible, failed, MAX_THROUGHPUT, p99) == -1
    assert compare_scores(failed, feasible, MAX_THROUGHPUT, p99) == 1
    assert compare_scores(failed, failed, MAX_THROUGHPUT, p99) == 0
    assert rank(points, MAX_THROUGHPUT, p99)[0].key.label == "i1-boff-c4"


def test_a_failed_neighbour_is_never_a_move():
    space = SweepSpace((1,), (OFF,), (1, 2, 4))
    figures = [{"throughput": 10.0}, {"throughput": 0.0, "error": "timeout"},
               {"throughput": 90.0}]
    measure = Landscape(space, lambda i, b, c: figures[c])
    assert labels(hill_climb(space, measure, MAX_THROUGHPUT)) == ["i1-boff-c1", "i1-boff-c2"]


@pytest.mark.parametrize("cap", [1, 5, 9, 16, 40])
def test_max_points_caps_the_climb(cap):
    measure = Landscape(SMALL, small_peak)
    points = hill_climb(SMALL, measure, MAX_THROUGHPUT, max_points=cap)
    assert labels(points) == SMALL_CLIMB[:cap] == measure.calls


def test_max_points_below_one_is_refused():
    with pytest.raises(SweepError, match="max_points 0"):
        hill_climb(SMALL, Landscape(SMALL, small_peak), MAX_THROUGHPUT, max_points=0)


@pytest.mark.parametrize("interrupted_after", [1, 7, 16])
def test_a_resumed_climb_retraces_the_done_points_without_measuring_them(interrupted_after):
    first = hill_climb(SMALL, Landscape(SMALL, small_peak), MAX_THROUGHPUT,
                       max_points=interrupted_after)
    done = {p.key: p for p in first}
    again = Landscape(SMALL, small_peak)
    points = hill_climb(SMALL, again, MAX_THROUGHPUT, done=done)
    assert again.calls == SMALL_CLIMB[interrupted_after:]
    assert labels(points) == SMALL_CLIMB
    assert all(points[n] is first[n] for n in range(interrupted_after))


def test_done_points_off_the_climbs_path_are_left_out():
    off_path = PointKey(Variant(3, OFF), 16)
    done = {off_path: Landscape(SMALL, small_peak)(off_path)}
    points = hill_climb(SMALL, Landscape(SMALL, small_peak), MAX_THROUGHPUT, done=done)
    assert labels(points) == SMALL_CLIMB


def test_a_resumed_climb_counts_the_done_points_toward_max_points():
    """Killed after 3 of a 9-point climb, the resumed climb measures points 4 to 9 only."""
    first = hill_climb(SMALL, Landscape(SMALL, small_peak), MAX_THROUGHPUT, max_points=3)
    again = Landscape(SMALL, small_peak)
    points = hill_climb(SMALL, again, MAX_THROUGHPUT, done={p.key: p for p in first},
                        max_points=9)
    assert again.calls == SMALL_CLIMB[3:9]
    assert labels(points) == SMALL_CLIMB[:9]


def test_an_equal_neighbour_is_not_a_move():
    """A plateau is where the climb stops: c4 beyond it stays unmeasured."""
    space = SweepSpace((1,), (OFF,), (1, 2, 4))
    figures = [{"throughput": 100.0}, {"throughput": 100.0}, {"throughput": 200.0}]
    measure = Landscape(space, lambda i, b, c: figures[c])
    hill_climb(space, measure, MAX_THROUGHPUT)
    assert measure.calls == ["i1-boff-c1", "i1-boff-c2"]


def test_tied_neighbours_go_to_the_cheaper_config():
    """From i2-c1, i2-c2 and i1-c1 tie at 200: the climb goes to i1-c1 (fewer instances),
    although i2-c2 comes first in the grid (instances are listed 2, 1)."""
    space = SweepSpace((2, 1), (OFF,), (1, 2, 4))
    throughput = {(0, 0): 100.0, (0, 1): 200.0, (0, 2): 150.0,
                  (1, 0): 200.0, (1, 1): 300.0, (1, 2): 250.0}
    measure = Landscape(space, lambda i, b, c: {"throughput": throughput[i, c]})
    hill_climb(space, measure, MAX_THROUGHPUT)
    assert measure.calls == ["i2-boff-c1", "i2-boff-c2", "i1-boff-c1", "i1-boff-c2",
                             "i1-boff-c4"]
