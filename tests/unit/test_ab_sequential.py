"""A/B's sequential loop on given pairs: it stops at the first decided look, leaves
disturbed pairs out, and stops at the plan's limits; the plan refuses what cannot work."""

import itertools

import numpy as np
import pytest

from pnsuite.measure.run import MeasuredRun, Window
from pnsuite.verdict import ab, verdicts


def sample(scale, foreign=0.0):
    windows = [Window(requests=10, seconds=1.0 * scale, latency_p99_ms=40.0 * scale,
                      foreign_cores=foreign)] * 3
    return MeasuredRun(concurrency=1, windows=windows, counted=3, stable=True,
                       inference_ms=100.0 * scale, latency_p99_ms=40.0 * scale,
                       compute_infer_ms=30.0 * scale, cores=2)


def pairs(ratio, spread=0.01, seed=0, disturbed=()):
    rng = np.random.default_rng(seed)

    def measure(i):
        drift = float(np.exp(rng.normal(0, 0.2)))  # shared by both runs of the pair
        a = sample(drift * float(np.exp(rng.normal(0, spread))))
        b = sample(ratio * drift * float(np.exp(rng.normal(0, spread))),
                   foreign=1.5 if i in disturbed else 0.0)
        return a, b
    return measure


def run(measure, **plan):
    return ab.sequential(ab.one_pair_a_round(measure), ab.Plan(**plan), verdicts.Policy(), "A", "B")


def test_a_clear_slowdown_is_red_at_the_first_look_despite_drift():
    result = run(pairs(1.3))
    assert result.verdict == verdicts.REGRESSION
    assert len(result.pairs) == 3 and "decided after 3 pairs" in result.stopped_because


def test_an_unchanged_build_ends_ok_once_the_interval_clears_the_threshold():
    result = run(pairs(1.0))
    assert result.verdict == verdicts.OK and len(result.pairs) < 12


def test_a_change_at_the_threshold_runs_to_the_plans_end_inconclusive():
    result = run(pairs(1.10, spread=0.05), max_pairs=6)
    assert result.verdict == verdicts.INCONCLUSIVE and len(result.pairs) == 6
    assert "6 pairs measured" in result.stopped_because


def test_disturbed_pairs_are_left_out_and_said_so():
    result = run(pairs(1.3, disturbed={0, 2}))
    assert len(result.left_out) == 2 and len(result.pairs) == 3
    assert result.verdict == verdicts.REGRESSION


def test_a_run_is_disturbed_when_others_took_a_quarter_of_the_cores_in_a_window():
    assert not sample(1.0, foreign=0.5).disturbed  # half a core of 2: at the bar
    assert sample(1.0, foreign=0.51).disturbed


def test_a_runner_disturbed_throughout_stops_inconclusive():
    result = run(pairs(1.3, disturbed=set(range(100))), max_pairs=4)
    assert result.verdict == verdicts.INCONCLUSIVE and not result.pairs
    assert "too many disturbed" in result.stopped_because


def test_the_time_budget_stops_the_comparison():
    ticks = itertools.count(0, 60.0)  # every look a minute later
    result = ab.sequential(ab.one_pair_a_round(pairs(1.10, spread=0.05)), ab.Plan(budget_s=150), verdicts.Policy(),
                           "A", "B", clock=lambda: next(ticks))
    assert "time budget of 150 s spent" in result.stopped_because


def test_no_pair_is_begun_that_would_end_past_the_budget():
    clock, measure = [0.0], pairs(1.10, spread=0.05)

    def timed(i):  # every pair takes 100 s on the test's clock
        clock[0] += 100.0
        return measure(i)
    result = ab.sequential(ab.one_pair_a_round(timed), ab.Plan(budget_s=330), verdicts.Policy(), "A", "B",
                           clock=lambda: clock[0])
    assert len(result.pairs) == 3 and result.seconds == 300.0
    assert "time budget of 330 s spent" in result.stopped_because


def test_alpha_is_split_over_the_plans_looks():
    def first_look(max_pairs):
        seen = []
        ab.sequential(ab.one_pair_a_round(pairs(1.15, spread=0.03, seed=4)), ab.Plan(min_pairs=4, max_pairs=max_pairs),
                      verdicts.Policy(), "A", "B", on_look=lambda r: seen.append(r.rows[0]))
        return seen[0]
    assert first_look(4).high < first_look(20).high  # the same 4 pairs, a stricter look


@pytest.mark.parametrize("bad", [dict(min_pairs=1), dict(min_pairs=5, max_pairs=4),
                                 dict(concurrency=0), dict(retries=-1),
                                 dict(pairs_per_start=0)])
def test_a_plan_that_cannot_work_is_refused(bad):
    with pytest.raises(verdicts.VerdictError):
        ab.Plan(**bad)


def test_a_disturbed_run_is_measured_again_until_undisturbed():
    runs = iter([sample(1.5, foreign=1.2), sample(1.4, foreign=0.9), sample(1.0)])
    clean = ab.undisturbed_run(lambda: next(runs), retries=2)
    assert not clean.disturbed and clean.inference_ms == pytest.approx(100.0)
    assert clean.labels["retries"] == 2


def test_a_side_that_stays_disturbed_gives_its_last_run_after_the_retries():
    runs = iter([sample(1.5, foreign=1.2), sample(1.4, foreign=0.9), sample(1.0)])
    last = ab.undisturbed_run(lambda: next(runs), retries=1)
    assert last.disturbed and last.labels["retries"] == 1
    assert next(runs).inference_ms == pytest.approx(100.0), "measured more than the retries allow"


def test_an_undisturbed_run_is_not_measured_again():
    runs = iter([sample(1.0), sample(2.0)])
    assert ab.undisturbed_run(lambda: next(runs), retries=2).labels["retries"] == 0


class MovingLoad:
    """A load that notes the servers it is pointed at and whether it was closed."""

    def __init__(self, url):
        self.urls, self.closed = [url], False

    def retarget(self, url):
        self.urls.append(url)

    def close(self):
        self.closed = True


class NamedServer:
    def __init__(self, side, i):
        self.grpc_url = f"{side}{i}"


def runner_of_rounds(tmp_path, monkeypatch, measured, retried=None):
    """A PairRunner whose servers are names and whose runs come from `measured[url]`: the
    servers are not what these tests check."""
    from pnsuite.server.factory import make_launcher

    launcher = make_launcher("embedded")
    a, b = ab.Side("A", tmp_path / "a", launcher), ab.Side("B", tmp_path / "b", launcher)
    runner = ab.PairRunner(a, b, ab.Plan(), np.zeros(1), lambda name: tmp_path / name)
    loads = []

    def start_all(count):
        return [(side, NamedServer(side.name, i), 1.0 + i)
                for i in range(count) for side in runner.sides]
    monkeypatch.setattr(runner, "_start_all", start_all)
    monkeypatch.setattr(runner, "_load", lambda server: loads.append(MovingLoad(server.grpc_url))
                        or loads[-1])
    monkeypatch.setattr(ab, "measure", lambda server, load, windows: measured[server.grpc_url])
    monkeypatch.setattr(runner, "run_once", lambda side: next(retried[side.name]))
    return runner, loads


def test_a_pair_measures_a_disturbed_side_again_and_keeps_the_other_run(tmp_path, monkeypatch):
    runner, _ = runner_of_rounds(tmp_path, monkeypatch,
                                 {"A0": sample(1.0), "B0": sample(2.0, foreign=1.2)},
                                 retried={"B": iter([sample(1.1)])})
    [(got_a, got_b)] = runner.round(0)
    assert not got_a.disturbed and not got_b.disturbed
    assert got_b.inference_ms == pytest.approx(110.0) and got_b.labels["retries"] == 1
    assert got_a.start_s == 1.0
    assert got_a.labels["retries"] == 0


def test_a_round_pairs_the_servers_in_start_order_on_one_load_that_moves(tmp_path, monkeypatch):
    measured = {f"{side}{i}": sample(1.0 + i + (0.5 if side == "B" else 0.0))
                for i in range(3) for side in "AB"}
    runner, loads = runner_of_rounds(tmp_path, monkeypatch, measured)
    pairs = runner.round(6, count=3)
    assert [(a.inference_ms, b.inference_ms) for a, b in pairs] == \
        [(100.0, 150.0), (200.0, 250.0), (300.0, 350.0)]
    assert [a.labels["pair"] for a, _ in pairs] == [6, 7, 8]
    [load] = loads  # one load for the round, moved from server to server, then closed
    assert sorted(load.urls) == sorted(measured) and load.closed
    positions = sorted(r.labels["position"] for pair in pairs for r in pair)
    assert positions == list(range(6))
    assert all(a.labels["first"] != b.labels["first"] for a, b in pairs)


def rounds_of(measure, asked):
    """Rounds from `measure(i)`, noting each round's (first, count) in `asked`."""
    def measure_round(first, count):
        asked.append((first, count))
        return [measure(first + i) for i in range(count)]
    return measure_round


def test_rounds_of_three_pairs_are_looked_at_once_each_round_ends():
    asked, seen = [], []
    result = ab.sequential(rounds_of(pairs(1.0, spread=0.05, seed=1), asked),
                           ab.Plan(pairs_per_start=3), verdicts.Policy(), "A", "B",
                           on_look=lambda r: seen.append(len(r.pairs)))
    assert all(count == 3 for _, count in asked)
    assert [first for first, _ in asked] == list(range(0, 3 * len(asked), 3))
    assert seen and all(n % 3 == 0 for n in seen)  # looks at round ends only
    assert len(result.pairs) == 3 * len(asked)


def test_the_last_round_holds_only_the_pairs_the_plan_has_left():
    asked = []
    result = ab.sequential(rounds_of(pairs(1.10, spread=0.05), asked),
                           ab.Plan(pairs_per_start=4, max_pairs=10), verdicts.Policy(), "A", "B")
    assert [count for _, count in asked] == [4, 4, 2] and len(result.pairs) == 10


def test_the_budget_is_spent_by_rounds_not_by_pairs():
    clock, asked, measure = [0.0], [], pairs(1.10, spread=0.05)

    def timed_round(first, count):  # a round of 3 takes 100 s on the test's clock
        clock[0] += 100.0
        return rounds_of(measure, asked)(first, count)
    result = ab.sequential(timed_round, ab.Plan(budget_s=330, pairs_per_start=3),
                           verdicts.Policy(), "A", "B", clock=lambda: clock[0])
    assert len(asked) == 3 and len(result.pairs) == 9 and result.seconds == 300.0
    assert "time budget of 330 s spent" in result.stopped_because
