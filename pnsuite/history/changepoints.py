"""Change points in a series of measurements: E-divisive means with a permutation test.

The method is Matteson & James (2014), "A nonparametric approach for multiple change point
analysis of multivariate data" (JASA 109:505), which the change-point detection of MongoDB's
performance CI (Daly et al., ICPE 2020) and of Apache Otava builds on. In a segment, the
split that maximises the scaled energy distance between the values before and after it is
the candidate; it is accepted when its permutation p-value (the share of random shuffles of
the segment whose best split scores as high) is below `alpha`, so the verdict is a
significance level, not a tuning penalty; then both sides are searched the same way until
no split is significant or a side is shorter than twice `min_size`.

Energy distance with exponent 1 compares whole distributions, so a change in spread is found
as well as a change in level, and no distribution is assumed. The statistic of a split is
computed for every split of a segment at once from running sums of the pairwise
distances: O(n^2) time and memory per statistic, a few hundred points in well under a second.

Which scale to work on is the caller's choice: timings are multiplicative (a slowdown is a
ratio), so `pnsuite.history.history` passes log values, which makes a +20% step look the same
at 5 ms and at 500 ms. The means in a `ChangePoint` are of the values given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_ALPHA = 0.05
DEFAULT_PERMUTATIONS = 199
DEFAULT_MIN_SIZE = 3
#: permutations whose distance matrices are built together (memory: chunk * n^2 floats)
_CHUNK = 8


@dataclass(frozen=True)
class ChangePoint:
    """A significant change starting at `index` (the first value after it).

    `mean_before` and `mean_after` are the means of the values from the previous change
    point (or the start) to this one, and from this one to the next (or the end).
    """

    index: int
    p_value: float
    mean_before: float
    mean_after: float

    @property
    def relative_change(self) -> float:
        """mean_after / mean_before - 1 (+0.2 = 20% higher); for positive, not log, values.

        On log values the ratio of geometric means is `exp(mean_after - mean_before) - 1`.
        """
        if self.mean_before == 0:
            return float("inf") if self.mean_after else 0.0
        return self.mean_after / self.mean_before - 1.0


def split_statistics(
    values: Sequence[float] | np.ndarray, min_size: int = DEFAULT_MIN_SIZE
) -> np.ndarray:
    """The scaled energy distance Q(tau) for each split tau = min_size .. n - min_size.

    Q(tau) = m k / (m + k) * (2 mean|x_i - y_j| - mean|x_i - x_i'| - mean|y_j - y_j'|) with
    x the first m = tau values, y the other k = n - tau, and the within-side means over
    distinct pairs. Entry 0 is the split at tau = min_size. A 2-D input is a batch of series.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim == 1:
        return _statistics(x[None, :], min_size)[0]
    return _statistics(x, min_size)


def _statistics(batch: np.ndarray, min_size: int) -> np.ndarray:
    """`split_statistics` for a (series, n) batch: a (series, n - 2 min_size + 1) array."""
    n = batch.shape[1]
    taus = np.arange(min_size, n - min_size + 1)
    distances = np.abs(batch[:, :, None] - batch[:, None, :])
    row_sums = distances.sum(axis=2)
    # Distances of each value to the values before it: moving value t to the left side
    # adds twice that to the left side's sum of pairwise distances.
    to_earlier = np.einsum("bij,ij->bi", distances, np.tri(n, k=-1))
    left = 2.0 * np.cumsum(to_earlier, axis=1)[:, taus - 1]
    cross = np.cumsum(row_sums, axis=1)[:, taus - 1] - left
    right = row_sums.sum(axis=1)[:, None] - left - 2.0 * cross
    m = taus.astype(float)
    k = n - m
    # The sums count each pair twice: / (m (m - 1)) is the mean over distinct pairs.
    # A side of one value has no pairs; its within-side term is 0.
    within_left = np.divide(left, m * (m - 1), out=np.zeros_like(left), where=m > 1)
    within_right = np.divide(right, k * (k - 1), out=np.zeros_like(right), where=k > 1)
    energy = 2.0 * cross / (m * k) - within_left - within_right
    return m * k / n * energy


def _best_split(
    segment: np.ndarray, min_size: int, alpha: float, permutations: int, rng: np.random.Generator
) -> tuple[int, float]:
    """(tau, p-value) of the segment's best split.

    The permutations stop once enough of them reached the observed statistic for p to be
    at least alpha whatever the rest give: the verdict is the same, and most segments have
    no change, so most tests end early.
    """
    observed = _statistics(segment[None, :], min_size)[0]
    tau = int(np.argmax(observed)) + min_size
    best = float(observed[tau - min_size])
    if not best > 0.0:  # constant segment: every permutation gives the same statistic
        return tau, 1.0
    # Sums in another order differ in the last bits: a tie must count as "as large".
    bar = best * (1.0 - 1e-9)
    enough = alpha * (permutations + 1) - 1.0  # p = (as_large + 1) / (permutations + 1)
    as_large = done = 0
    while done < permutations and as_large < enough:
        count = min(_CHUNK, permutations - done)
        shuffled = rng.permuted(np.broadcast_to(segment, (count, segment.size)), axis=1)
        as_large += int(np.count_nonzero(_statistics(shuffled, min_size).max(axis=1) >= bar))
        done += count
    # Stopped early, this is a lower bound of the p-value, and already >= alpha.
    return tau, (as_large + 1) / (permutations + 1)


def e_divisive(
    values: Sequence[float] | np.ndarray,
    alpha: float = DEFAULT_ALPHA,
    permutations: int = DEFAULT_PERMUTATIONS,
    min_size: int = DEFAULT_MIN_SIZE,
    seed: int | None = 0,
) -> list[ChangePoint]:
    """The significant change points of `values`, sorted by index.

    A split is accepted when its permutation p-value is below `alpha`; with `permutations`
    shuffles the smallest p-value is 1 / (permutations + 1), so alpha must be above that.
    Every segment between change points has at least `min_size` values. The same `seed`
    gives the same verdicts; None draws a fresh one.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"values must be one series, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("values must be finite (no NaN or infinity)")
    if min_size < 1:
        raise ValueError(f"min_size must be at least 1, got {min_size}")
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}")
    if not 1.0 / (permutations + 1) < alpha <= 1.0:
        raise ValueError(
            f"alpha {alpha} cannot be reached with {permutations} permutations "
            f"(the smallest p-value is {1.0 / (permutations + 1):.4f})"
        )
    rng = np.random.default_rng(seed)
    found: dict[int, float] = {}
    pending = [(0, x.size)]
    while pending:
        start, stop = pending.pop()
        if stop - start < 2 * min_size:
            continue
        tau, p = _best_split(x[start:stop], min_size, alpha, permutations, rng)
        if p < alpha:
            found[start + tau] = p
            pending += [(start + tau, stop), (start, start + tau)]
    bounds = [0, *sorted(found), x.size]
    return [
        ChangePoint(index, found[index], float(x[lo:index].mean()), float(x[index:hi].mean()))
        for lo, index, hi in zip(bounds, bounds[1:-1], bounds[2:])
    ]
