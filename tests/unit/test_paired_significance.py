"""The paired analysis of the concurrency assertions (median pair ratio AND a one-sided
signed-rank test, refusing too few pairs), and paired_rounds' random order within pairs."""

import random
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from pnsuite.client.load import paired_rounds
from pnsuite.measure.profiles import PROFILES
from pnsuite.verdict import significance


def _paired_noise(n, speedup, drift, noise, seed):
    """Pairs whose common level wanders by `drift` while slow/fast stays near `speedup`."""
    rng = np.random.default_rng(seed)
    level = 0.1 * (1 + drift * rng.random(n))
    fast = level * (1 + noise * rng.standard_normal(n))
    slow = level * speedup * (1 + noise * rng.standard_normal(n))
    return slow.tolist(), fast.tolist()


def test_a_clear_speedup_with_paired_noise_holds():
    slow, fast = _paired_noise(7, speedup=1.7, drift=0.3, noise=0.03, seed=1)
    result = significance.compare_paired(slow, fast)
    assert result.ratio == pytest.approx(1.7, rel=0.1)
    assert result.p_value == pytest.approx(1 / 128)
    assert result.holds(1.25, 0.01)
    assert not result.holds(2.0, 0.01), "a speedup below the minimum must not hold"


def test_pairing_shows_a_consistent_speedup_that_drift_hides_from_unpaired_samples():
    # The level triples across pairs; within each pair slow is steadily ~10% slower.
    slow, fast = _paired_noise(9, speedup=1.1, drift=2.0, noise=0.01, seed=2)
    unpaired = mannwhitneyu(slow, fast, alternative="greater").pvalue
    assert unpaired > 0.01, unpaired
    paired = significance.compare_paired(slow, fast)
    assert paired.holds(1.05, 0.01), paired.describe()


def test_no_speedup_does_not_hold():
    slow, fast = _paired_noise(15, speedup=1.0, drift=0.5, noise=0.05, seed=3)
    result = significance.compare_paired(slow, fast)
    assert result.ratio == pytest.approx(1.0, abs=0.1)
    assert result.p_value > 0.05
    assert not result.holds(0.9, 0.01)


def test_fast_being_faster_the_other_way_round_does_not_hold():
    slow, fast = _paired_noise(9, speedup=1.5, drift=0.3, noise=0.02, seed=4)
    result = significance.compare_paired(fast, slow)
    assert result.p_value > 0.9 and not result.holds(0.5, 0.01)


def test_the_speedup_is_the_median_of_the_pair_ratios_not_a_ratio_of_medians():
    result = significance.compare_paired([1.0, 4.0, 9.0], [0.5, 4.0, 3.0])
    assert result.ratios == (2.0, 1.0, 3.0) and result.ratio == 2.0


def test_identical_pairs_show_no_speedup():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy warns on a zero spread: none may leak out
        result = significance.compare_paired([0.1] * 7, [0.1] * 7)
    assert result.p_value == 1.0 and result.ratio == 1.0 and not result.holds(1.0, 0.01)


def test_every_pair_counts_not_just_their_medians():
    # A single pair against the others lifts p from 1/2^n (one-sided, exact).
    slow = [2.0] * 6 + [0.9]
    fast = [1.0] * 7
    result = significance.compare_paired(slow, fast)
    assert result.ratio == pytest.approx(2.0)
    assert result.p_value > 0.01 and not result.holds(1.5, 0.01)


@pytest.mark.parametrize("alpha,expected", [(0.01, 7), (0.05, 5), (0.1, 4), (1 / 128, 8)])
def test_min_pairs_is_the_fewest_pairs_whose_best_case_beats_alpha(alpha, expected):
    assert significance.min_pairs(alpha) == expected
    # The same fact from scipy: every pair favouring slow is the smallest p there is.
    best = significance.compare_paired([2.0] * expected, [1.0] * expected).p_value
    fewer = significance.compare_paired([2.0] * (expected - 1), [1.0] * (expected - 1)).p_value
    assert best < alpha <= fewer


def test_too_few_pairs_for_alpha_is_an_error_not_a_verdict():
    result = significance.compare_paired([2.0] * 6, [1.0] * 6)
    with pytest.raises(significance.TooFewPairsError, match="at least 7 pairs") as raised:
        result.holds(1.25, 0.01)
    assert isinstance(raised.value, ValueError) and raised.value.hint
    with pytest.raises(significance.TooFewPairsError):
        significance.check_enough_pairs(6, 0.01)
    significance.check_enough_pairs(7, 0.01)


def test_lengths_that_differ_are_refused():
    with pytest.raises(ValueError, match="same length"):
        significance.compare_paired([2.0] * 7, [1.0] * 6)


def test_empty_or_non_positive_times_are_refused():
    with pytest.raises(ValueError, match="at least 2 pairs"):
        significance.compare_paired([], [])
    with pytest.raises(ValueError, match="at least 2 pairs"):
        significance.compare_paired([2.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        significance.compare_paired([2.0, 2.0], [1.0, 0.0])


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_times_enough_rounds_for_its_alpha(name):
    profile = PROFILES[name]
    assert profile.rounds >= significance.min_pairs(profile.alpha), profile


@dataclass
class _Run:
    total_s: float


class _FakeLoad:
    """Answers each run with a time that names the side and the call, and logs the call."""

    def __init__(self, name: str, log: list[str], base: float) -> None:
        self.name, self.log, self.base, self.concurrency = name, log, base, 1

    def run(self, requests: int) -> _Run:
        self.log.append(self.name)
        return _Run(self.base + len(self.log))


def _fake_rounds(rounds, seed):
    log: list[str] = []
    slow, fast = _FakeLoad("slow", log, 1000.0), _FakeLoad("fast", log, 0.0)
    slow_s, fast_s = paired_rounds(slow, fast, 6, rounds, rng=random.Random(seed))
    return log, slow_s, fast_s


def test_paired_rounds_puts_either_side_first_and_keeps_pairs_aligned():
    log, slow_s, fast_s = _fake_rounds(20, seed=5)
    pairs = [log[i:i + 2] for i in range(2, len(log), 2)]
    assert len(pairs) == 20 and all(sorted(p) == ["fast", "slow"] for p in pairs), log
    firsts = [p[0] for p in pairs]
    assert "slow" in firsts and "fast" in firsts, firsts
    assert len(slow_s) == len(fast_s) == 20
    for i, first in enumerate(firsts):
        # A time is its side's base plus its position (1-based) in the call log.
        slow_call, fast_call = (3 + 2 * i, 4 + 2 * i) if first == "slow" else (4 + 2 * i,
                                                                               3 + 2 * i)
        assert slow_s[i] == 1000.0 + slow_call and fast_s[i] == fast_call, (i, first)


def test_paired_rounds_warms_each_side_up_once_uncounted():
    log, slow_s, fast_s = _fake_rounds(7, seed=6)
    assert sorted(log[:2]) == ["fast", "slow"] and len(log) == 2 + 2 * 7
    warmups = {1.0 + 1000.0 * (log[0] == "slow"), 2.0 + 1000.0 * (log[1] == "slow")}
    assert not warmups & set(slow_s + fast_s)
    assert len(slow_s) == len(fast_s) == 7


def test_paired_rounds_draws_its_order_from_the_rng_it_is_given():
    assert _fake_rounds(20, seed=7)[0] == _fake_rounds(20, seed=7)[0]
    assert _fake_rounds(20, seed=7)[0] != _fake_rounds(20, seed=8)[0]
    log, slow_s, fast_s = _fake_rounds(3, seed=None)
    assert len(log) == 8 and len(slow_s) == len(fast_s) == 3
