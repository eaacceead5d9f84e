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
    return ab.sequential(measure, ab.Plan(**plan), verdicts.Policy(), "A", "B")


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
    result = ab.sequential(pairs(1.10, spread=0.05), ab.Plan(budget_s=150), verdicts.Policy(),
                           "A", "B", clock=lambda: next(ticks))
    assert "time budget of 150 s spent" in result.stopped_because


def test_no_pair_is_begun_that_would_end_past_the_budget():
    clock, measure = [0.0], pairs(1.10, spread=0.05)

    def timed(i):  # every pair takes 100 s on the test's clock
        clock[0] += 100.0
        return measure(i)
    result = ab.sequential(timed, ab.Plan(budget_s=330), verdicts.Policy(), "A", "B",
                           clock=lambda: clock[0])
    assert len(result.pairs) == 3 and result.seconds == 300.0
    assert "time budget of 330 s spent" in result.stopped_because


def test_alpha_is_split_over_the_plans_looks():
    def first_look(max_pairs):
        seen = []
        ab.sequential(pairs(1.15, spread=0.03, seed=4), ab.Plan(min_pairs=4, max_pairs=max_pairs),
                      verdicts.Policy(), "A", "B", on_look=lambda r: seen.append(r.rows[0]))
        return seen[0]
    assert first_look(4).high < first_look(20).high  # the same 4 pairs, a stricter look


@pytest.mark.parametrize("bad", [dict(min_pairs=1), dict(min_pairs=5, max_pairs=4),
                                 dict(concurrency=0), dict(retries=-1)])
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


def test_a_pair_measures_a_disturbed_side_again_and_keeps_the_other_run(tmp_path, monkeypatch):
    from pnsuite.server.factory import make_launcher

    launcher = make_launcher("embedded")
    a, b = ab.Side("A", tmp_path / "a", launcher), ab.Side("B", tmp_path / "b", launcher)
    runner = ab.PairRunner(a, b, ab.Plan(), np.zeros(1), lambda name: tmp_path / name)
    measured = {"A": iter([sample(1.0)]), "B": iter([sample(2.0, foreign=1.2), sample(1.1)])}
    # the servers are not what this checks: both "start" at once, and each run is drawn
    monkeypatch.setattr(runner, "_start_both", lambda: {"A": (None, 1.0), "B": (None, 2.0)})
    monkeypatch.setattr(runner, "_measure", lambda side, server: next(measured[side.name]))
    monkeypatch.setattr(runner, "run_once", lambda side: next(measured[side.name]))
    got_a, got_b = runner.pair(0)
    assert not got_a.disturbed and not got_b.disturbed
    assert got_b.inference_ms == pytest.approx(110.0) and got_b.labels["retries"] == 1
    assert got_a.start_s == 1.0
    assert got_a.labels["retries"] == 0
