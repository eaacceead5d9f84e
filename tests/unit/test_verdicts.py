"""The verdict rule over independent runs, on known per-run values: red only when slower
both significantly and past the threshold; ok only when the interval clears it;
inconclusive in between, with the runs that would decide; Holm over comparisons."""

import math

import numpy as np
import pytest

from pnsuite.verdict import verdicts


def runs(centre, spread=0.02, n=6, seed=0):
    """n per-run values around `centre`, log-normal with the given run-to-run spread."""
    rng = np.random.default_rng(seed)
    return list(centre * np.exp(rng.normal(0, spread, n)))


def verdict(old, new, threshold=0.10, alpha=0.05, paired=False):
    c = verdicts.compare("b", "round_s", old, new, paired=paired)
    return verdicts.decide([c], verdicts.Policy(threshold=threshold, alpha=alpha))[0]


def test_the_same_build_is_ok():
    assert verdict(runs(1.0, seed=1), runs(1.0, seed=2)).verdict == verdicts.OK


def test_a_large_slowdown_beyond_the_noise_is_a_regression():
    row = verdict(runs(1.0, seed=1), runs(1.3, seed=2))
    assert row.verdict == verdicts.REGRESSION
    assert row.comparison.change == pytest.approx(0.3, abs=0.05) and row.p_adjusted < 0.05
    assert row.low > 1.0


def test_a_significant_slowdown_below_the_threshold_is_not_red():
    row = verdict(runs(1.0, 0.005, seed=1), runs(1.04, 0.005, seed=2))
    assert row.comparison.p_slower < 1e-6 and row.verdict == verdicts.OK


def test_a_slowdown_in_noisy_runs_is_inconclusive_and_says_how_many_runs_would_decide():
    row = verdict(runs(1.0, 0.15, n=3, seed=1), runs(1.12, 0.15, n=3, seed=3))
    assert row.verdict == verdicts.INCONCLUSIVE
    assert row.low < 1.10 < row.high
    assert row.runs_needed and row.runs_needed > 3


def test_a_large_speedup_is_improved():
    assert verdict(runs(1.0, seed=1), runs(0.7, seed=2)).verdict == verdicts.IMPROVED


def test_one_run_on_a_side_can_never_reject_so_it_is_an_error():
    with pytest.raises(verdicts.VerdictError, match="at least 2 independent runs"):
        verdicts.compare("b", "round_s", [1.0], [2.0, 2.1, 2.2])


def test_values_must_be_positive():
    with pytest.raises(verdicts.VerdictError, match="positive and finite"):
        verdicts.compare("b", "round_s", [1.0, 0.0], [1.0, 1.0])


def test_holm_adjusts_step_down_and_keeps_order():
    assert verdicts.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert verdicts.holm([0.5]) == [0.5]


def test_holm_keeps_a_slowdown_that_one_test_alone_would_call_significant_from_going_red():
    # p = 0.012 alone (red at 0.05), but one of twelve comparisons: 12 * 0.012 > 0.05.
    old, new = runs(1.0, 0.05, n=4, seed=5), runs(1.16, 0.05, n=4, seed=13)
    c = verdicts.compare("b", "round_s", old, new)
    assert verdict(old, new).verdict == verdicts.REGRESSION
    others = [verdicts.compare(f"o{i}", "round_s", runs(1.0, seed=i), runs(1.0, seed=i + 50))
              for i in range(11)]
    together = verdicts.decide([c, *others])[0]
    assert together.p_adjusted >= 0.05 > c.p_slower
    assert together.verdict != verdicts.REGRESSION


def test_pairing_removes_a_drift_shared_by_both_runs_of_a_pair():
    drift = np.exp(np.linspace(-0.3, 0.3, 8))  # the runner drifts by 60% over the pairs
    a = list(1.0 * drift * np.exp(np.random.default_rng(1).normal(0, 0.01, 8)))
    b = list(1.2 * drift * np.exp(np.random.default_rng(2).normal(0, 0.01, 8)))
    assert verdict(a, b, paired=False).verdict == verdicts.INCONCLUSIVE
    assert verdict(a, b, paired=True).verdict == verdicts.REGRESSION


def test_more_looks_make_each_look_stricter():
    c = verdicts.compare("b", "round_s", runs(1.0, 0.04, n=5, seed=1), runs(1.13, 0.04, n=5, seed=2))
    one = verdicts.decide([c], verdicts.Policy(looks=1))[0]
    many = verdicts.decide([c], verdicts.Policy(looks=10))[0]
    assert one.high < many.high and one.low > many.low


@pytest.mark.parametrize("bad", [dict(alpha=0), dict(alpha=1.5), dict(threshold=0),
                                 dict(threshold=-0.1), dict(looks=0),
                                 dict(tail_threshold=0), dict(red_rule="strict")])
def test_a_policy_that_means_nothing_is_refused(bad):
    with pytest.raises(verdicts.VerdictError):
        verdicts.Policy(**bad)


def test_the_preflight_shrinks_with_runs_and_grows_with_noise():
    few = verdicts.detectable_slowdown(0.05, 3, 3, 0.05)
    more = verdicts.detectable_slowdown(0.05, 10, 10, 0.05)
    noisy = verdicts.detectable_slowdown(0.10, 10, 10, 0.05)
    assert more < few and noisy > more
    assert verdicts.detectable_slowdown(0.05, 1, 10, 0.05) == math.inf


def test_a_level_no_float_can_reach_detects_nothing_instead_of_overflowing():
    # --alpha 1e-9 on two runs a side: the t quantile is in the tens of thousands
    assert verdicts.detectable_slowdown(0.1, 2, 2, 1e-9) == math.inf
    assert verdicts.runs_to_detect(0.1, 0.10, 1e-9, most=3) is None


def test_runs_to_detect_is_the_first_count_whose_detectable_slowdown_fits():
    n = verdicts.runs_to_detect(0.05, 0.10, 0.05)
    assert verdicts.detectable_slowdown(0.05, n, n, 0.05) <= 0.10
    assert verdicts.detectable_slowdown(0.05, n - 1, n - 1, 0.05) > 0.10
    assert verdicts.runs_to_detect(0.5, 0.01, 0.05, most=20) is None


def test_the_false_red_rate_on_unchanged_builds_stays_below_alpha():
    # 2000 simulated A/A gates of 5 against 5 runs at 8% run-to-run noise.
    rng = np.random.default_rng(7)
    reds = 0
    for _ in range(2000):
        old, new = np.exp(rng.normal(0, 0.08, 5)), np.exp(rng.normal(0, 0.08, 5))
        reds += verdict(list(old), list(new)).verdict == verdicts.REGRESSION
    assert reds / 2000 < 0.05


def tail_verdict(old, new, tail_threshold=0.25):
    c = verdicts.compare("b", verdicts.TAIL, old, new)
    return verdicts.decide([c], verdicts.Policy(tail_threshold=tail_threshold))[0]


def test_the_tail_is_never_inconclusive_an_unchanged_noisy_tail_passes():
    # p99 moving 30% run to run: the gated metric's rule would leave this undecided
    row = tail_verdict(runs(20.0, 0.30, n=3, seed=3), runs(20.0, 0.30, n=3, seed=4))
    assert row.high > 1.25 and row.verdict == verdicts.OK


def test_the_tail_is_red_when_significantly_slower_past_its_own_threshold():
    row = tail_verdict(runs(20.0, 0.03, seed=1), runs(28.0, 0.03, seed=2))
    assert row.verdict == verdicts.REGRESSION and row.threshold == 0.25
    # 20% slower, certain, but short of the tail's threshold: not red
    assert tail_verdict(runs(20.0, 0.01, seed=1), runs(24.0, 0.01, seed=2)).verdict == verdicts.OK


def test_the_asv_rule_is_red_where_the_interval_rule_still_waits():
    # 15% slower at 5% noise and 4 runs a side: clearly slower and estimated past 10%,
    # but the interval's lower end is not yet past the threshold
    c = verdicts.compare("b", verdicts.GATED, runs(1.0, 0.05, n=4, seed=5),
                         runs(1.15, 0.05, n=4, seed=6))
    asv = verdicts.decide([c], verdicts.Policy())[0]
    interval = verdicts.decide([c], verdicts.Policy(red_rule="interval"))[0]
    assert asv.low < 1.10 <= asv.comparison.ratio
    assert asv.verdict == verdicts.REGRESSION and interval.verdict == verdicts.INCONCLUSIVE
