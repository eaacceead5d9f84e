"""Whether the runner moved between a baseline and a check: the runner-speed probe
(pnsuite.measure.runner_speed, measured beside every recorded benchmark) of the baseline's
runs compared with the current ones, as the gate compares a metric. A move can fake or hide a
verdict, so the check refuses the verdicts such a move could fake (`RunnerShift.refuses`),
and holds them until the probe runs could have seen such a move (`RunnerShift.holds`);
`pnsuite.verdict.gate` uses both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pnsuite.verdict import verdicts

#: how often the probe must see a move of the gate's threshold before the check trusts a
#: verdict such a move could fake (`RunnerShift.sees_threshold`); below the preflight's 0.95,
#: as the probe is a guard on the verdict rather than the verdict itself, and at 0.95 its
#: noise on the project's CI VM (10% per run) would hold every verdict of a 10-run baseline
SEE_POWER = 0.8


@dataclass(frozen=True)
class RunnerShift:
    """How the runner's speed moved from the baseline's runs to the current ones: the
    per-run probe times compared as the gate compares a metric (runs as the unit)."""

    comparison: verdicts.Comparison
    #: the gate's threshold: a move of that size could fake or hide a verdict outright
    threshold: float
    alpha: float
    #: the level a move is tested at while the probe runs cannot see the threshold yet:
    #: alpha split over the check's looks, as such a test may come at any of them
    alpha_early: float

    @property
    def tolerance(self) -> float:
        """The move the gate tolerates: half its threshold (a smaller move is not flagged,
        and can move a build's change by up to that much)."""
        return self.threshold / 2

    @property
    def level(self) -> float:
        """The level of the move's test: alpha once the probe runs see the threshold (a
        check stops at the first such look that has a verdict, so it is spent once), before
        that `alpha_early`, so that only a move too large to miss stops a check early."""
        return self.alpha if self.sees_threshold else self.alpha_early

    @property
    def moved_slower(self) -> bool:
        """Slower by more than the tolerance, significantly (one-sided at `level`)."""
        c = self.comparison
        return c.p_slower < self.level and math.log(c.ratio) > math.log1p(self.tolerance)

    @property
    def moved_faster(self) -> bool:
        """Faster by more than the tolerance, significantly (one-sided at `level`)."""
        c = self.comparison
        return c.p_faster < self.level and -math.log(c.ratio) > math.log1p(self.tolerance)

    @property
    def moved(self) -> bool:
        return self.moved_slower or self.moved_faster

    @property
    def slower(self) -> bool:
        return self.comparison.ratio > 1

    @property
    def resolution(self) -> float:
        """The smallest move either way that these probe runs show as significant with
        probability SEE_POWER, at the probe noise seen."""
        c = self.comparison
        return verdicts.detectable_slowdown(
            c.sigma, len(c.old), len(c.new), self.alpha, power=SEE_POWER
        )

    @property
    def sees_threshold(self) -> bool:
        """Whether the probe runs so far would likely have seen a move of the threshold."""
        return self.resolution <= self.threshold

    def runs_to_see_threshold(self) -> int | None:
        """Current probe runs, against the baseline's, that see a move of the threshold at
        the noise of both sides; None if no number would (the baseline has too few runs for
        the probe's noise; `pnsuite.verdict.gate.probe_preflight` says so from the baseline's
        runs alone, before a check measures)."""
        c = self.comparison
        return verdicts.runs_to_detect(
            c.sigma, self.threshold, self.alpha, power=SEE_POWER, old_runs=len(c.old)
        )

    def refuses(self, verdict: str) -> bool:
        """Whether the move makes `verdict` untrustworthy. A slower runner makes every build
        look slower, so it can fake a regression but not an ok; a faster one can hide a
        regression behind an ok, but cannot fake one. Each verdict is refused on a
        one-sided test of the direction that could have faked it."""
        if verdict == verdicts.REGRESSION:
            return self.moved_slower
        if verdict in (verdicts.OK, verdicts.IMPROVED):
            return self.moved_faster
        return False

    def holds(self, verdict: str) -> bool:
        """Whether `verdict` must wait for more probe runs: it is one a move could fake, no
        move too large to miss was seen, and the probe runs so far would likely have missed
        a move of the threshold (more current runs can give the verdict, unlike a
        refusal)."""
        return (
            verdict in (verdicts.REGRESSION, verdicts.OK, verdicts.IMPROVED)
            and not self.sees_threshold
            and not self.refuses(verdict)
        )

    def describe(self) -> str:
        c = self.comparison
        return (
            f"the runner is {abs(c.change):.1%} {'slower' if self.slower else 'faster'} "
            f"than when the baseline was recorded (runner-speed probe "
            f"{verdicts.geometric_mean(c.old):.2f} -> {verdicts.geometric_mean(c.new):.2f} "
            f"ms over {len(c.old)}/{len(c.new)} runs)"
        )


def shift(
    baseline_probes: Sequence[float], current_probes: Sequence[float], policy: verdicts.Policy
) -> RunnerShift | None:
    """The runner's move between two sides' per-run probe times; None when a side has fewer
    than two probed runs (runs recorded without the probe, or all disturbed)."""
    if min(len(baseline_probes), len(current_probes)) < verdicts.MIN_RUNS:
        return None
    return RunnerShift(
        verdicts.compare("runner", "probe_ms", baseline_probes, current_probes),
        policy.threshold,
        policy.alpha,
        policy.alpha_per_look,
    )
