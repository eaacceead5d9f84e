"""E-divisive change points on seeded synthetic series: steps found where they are, noise
left alone about as often as alpha promises, the statistic as its definition says."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pnsuite.history.changepoints import ChangePoint, e_divisive, split_statistics


def _levels(*segments: tuple[int, float], noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """Log values of runs: (length, level) segments, each run off by lognormal noise."""
    rng = np.random.default_rng(seed)
    level = np.concatenate([np.full(n, np.log(v)) for n, v in segments])
    return level + rng.normal(0.0, noise, level.size)


def _naive_statistics(x: np.ndarray, min_size: int) -> list[float]:
    """Matteson & James's Q(tau) straight from its definition, one split at a time."""
    out = []
    n = x.size
    for tau in range(min_size, n - min_size + 1):
        a, b = x[:tau], x[tau:]
        m, k = a.size, b.size
        between = np.abs(a[:, None] - b[None, :]).mean()
        within_a = np.abs(a[:, None] - a[None, :]).sum() / (m * (m - 1)) if m > 1 else 0.0
        within_b = np.abs(b[:, None] - b[None, :]).sum() / (k * (k - 1)) if k > 1 else 0.0
        out.append(m * k / n * (2 * between - within_a - within_b))
    return out


@pytest.mark.parametrize("min_size", [1, 2, 3, 5])
def test_the_statistic_is_the_energy_distance_of_each_split(min_size):
    x = np.random.default_rng(3).normal(size=23)
    assert split_statistics(x, min_size) == pytest.approx(_naive_statistics(x, min_size))


def test_a_20_percent_step_in_noise_is_found_where_it_is():
    extra = 0
    for seed in range(5):
        found = e_divisive(_levels((15, 1.0), (15, 1.2), seed=seed))
        step = [cp for cp in found if abs(cp.index - 15) <= 1]
        assert len(step) == 1, (seed, found)
        assert step[0].p_value < 0.05
        assert np.exp(step[0].mean_after - step[0].mean_before) > 1.1
        extra += len(found) - 1
    # Each side is searched again at alpha: now and then noise passes too, not often.
    assert extra <= 2


def test_stationary_noise_gives_false_positives_at_about_alpha():
    # alpha 0.05 over 40 series: 2 expected; 7 or more has probability under 1%.
    with_change = sum(bool(e_divisive(_levels((40, 1.0), noise=0.1, seed=100 + s)))
                      for s in range(40))
    assert with_change <= 6


def test_two_steps_are_both_found():
    found = e_divisive(_levels((15, 1.0), (15, 1.25), (15, 1.0), seed=7))
    assert [cp.index for cp in found] == pytest.approx([15, 30], abs=1)
    assert found[0].mean_after > found[0].mean_before
    assert found[1].mean_after < found[1].mean_before
    # Each side's mean is of its own segment, not of everything before or after.
    assert found[0].mean_after == pytest.approx(found[1].mean_before)


def test_the_minimum_segment_size_is_honoured():
    # A big step two runs from the start: no segment may be that short.
    x = _levels((2, 1.0), (28, 2.0), seed=1)
    found = e_divisive(x, min_size=3)
    indices = [0, *(cp.index for cp in found), x.size]
    assert all(b - a >= 3 for a, b in itertools.pairwise(indices))
    assert e_divisive(x, min_size=1)[0].index == 2
    # A series shorter than two minimum segments is not searched at all.
    assert e_divisive(_levels((4, 1.0), (4, 3.0)), min_size=5) == []


def test_the_same_seed_gives_the_same_verdicts():
    x = _levels((12, 1.0), (12, 1.03), (12, 1.1), noise=0.05, seed=11)
    first = e_divisive(x, seed=42)
    assert first and all(e_divisive(x, seed=42) == first for _ in range(3))

    def p_value(seed: int) -> float:
        # One possible split (min_size 18), accepted at any p: its p-value shows the shuffles.
        return e_divisive(x, alpha=1.0, permutations=49, min_size=18, seed=seed)[0].p_value

    assert all(p_value(s) == p_value(s) for s in range(4))
    assert len({p_value(s) for s in range(6)}) > 1, "the shuffles depend on the seed"


def test_the_p_value_cannot_go_below_one_over_permutations_plus_one():
    found = e_divisive(_levels((20, 1.0), (20, 5.0)), permutations=99)
    assert found[0].p_value == pytest.approx(1 / 100)
    with pytest.raises(ValueError, match="cannot be reached"):
        e_divisive([1.0] * 10, alpha=0.01, permutations=99)


def test_a_constant_series_has_no_change_point():
    assert e_divisive([0.5] * 30) == []


def test_relative_change_is_of_the_means():
    assert ChangePoint(3, 0.01, 2.0, 2.5).relative_change == pytest.approx(0.25)
