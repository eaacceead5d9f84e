"""Verdicts over independent runs: regression, ok, improved or inconclusive.

The unit of evidence is the run (a server start and its windows, pnsuite/measure/run.py),
never the window: the windows of one run share its start-up luck, so a test over windows
calls a run that drew a slow start "significantly slower". Each run gives one value per
metric, and the statistics work on the logs of those values, so that effects are ratios.

Two metrics are judged, each by its own rule (GATE_METRICS):

- the **gated metric**, `inference_ms` (the mean time per inference at the benchmark's
  concurrency, 1000 / throughput), at `threshold`. With the runner's run-to-run spread
  `sigma` and Student's t on `df` degrees of freedom:
  - **regression**: slower at level alpha (one-sided t test, p-values Holm-corrected over
    every row of the gate) AND the estimated ratio of the runs' geometric means at or past
    the threshold (asv's rule: big enough to matter and not noise);
  - **ok**: the upper confidence bound of the ratio is below the threshold: whatever
    changed, it is smaller than what the gate is there to catch. Passing needs every
    benchmark ok, an intersection-union test, so no correction is needed for it;
  - **improved**: faster at level alpha and by more than the threshold;
  - **inconclusive**: neither: the interval spans the threshold. `runs_needed` says about
    how many runs per side would decide, at the spread seen (`spans_threshold`);
- the **tail**, `latency_p99_ms`, by a red-only rule at `tail_threshold` (25% by default):
  red when significantly slower AND estimated past the tail threshold, else ok. A run's
  p99 rests on its slowest 1% of requests and moves several times more from run to run
  than the mean, so asking its upper bound to clear a threshold would leave nearly every
  unchanged build undecided; the tail can turn a gate red, never hold it.

`red_rule="interval"` (red only when the whole interval lies past the threshold) is kept
for the error-rate benchmark's comparison (benchmarks/gate_decisions), not for gating.

A sequential comparison (runs added until decided) looks several times, on a schedule
(`look_schedule`); `looks` splits alpha over the planned looks (Bonferroni), so stopping at
the first decisive look keeps the error rates. `detectable_slowdown` is the noise preflight:
the smallest slowdown a comparison of that many runs tells from noise 95% of the time.

Every inconclusive outcome, here and in the gate, `check` and `ab` built on it, carries an
`Undecided`: one of a few reason codes (UNDECIDED_CODES), a line saying why, and the next
step that would decide it, with the options of the command that measured (`Rerun`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from pnsuite.errors import SuiteError

REGRESSION, OK, IMPROVED, INCONCLUSIVE = "REGRESSION", "ok", "improved", "inconclusive"
#: the gated metric and the tail, as pnsuite.measure.run and the run files name them
GATED, TAIL = "inference_ms", "latency_p99_ms"
GATE_METRICS = (GATED, TAIL)
DEFAULT_THRESHOLD = 0.10
DEFAULT_TAIL_THRESHOLD = 0.25
RED_RULES = ("asv", "interval")
DEFAULT_ALPHA = 0.05
#: power the preflight asks for: the slowdown it reports is caught this often
POWER = 0.95
#: a t test needs a spread: at least two runs on each side (one run has none)
MIN_RUNS = 2


class VerdictError(SuiteError):
    """The runs cannot give a verdict (too few runs, no values)."""

    default_hint = (
        "record more independent runs (`peoplenet-gate record NAME --runs 10`; "
        "each pytest session of the benchmarks is one run)"
    )


@dataclass(frozen=True, kw_only=True)
class Policy:
    """What counts as a regression, and at what error rate."""

    threshold: float = DEFAULT_THRESHOLD
    #: the tail's threshold (its red-only rule: see the module's docstring)
    tail_threshold: float = DEFAULT_TAIL_THRESHOLD
    alpha: float = DEFAULT_ALPHA
    #: looks a sequential comparison may take at most: alpha is split over them
    looks: int = 1
    #: thresholds of single metrics, where they differ from `threshold`
    metric_thresholds: Mapping[str, float] = field(default_factory=dict)
    #: "asv" (significant AND the estimate past the threshold) or "interval" (the whole
    #: interval past it); only the error-rate benchmark asks for the second
    red_rule: str = "asv"

    def __post_init__(self) -> None:
        if self.red_rule not in RED_RULES:
            raise VerdictError(f"red rule {self.red_rule!r}: one of {', '.join(RED_RULES)}")
        if not 0 < self.alpha < 1:
            raise VerdictError(
                f"alpha must be between 0 and 1, got {self.alpha}", "a usual choice is 0.05"
            )
        for name, value in {
            "threshold": self.threshold,
            "tail": self.tail_threshold,
            **self.metric_thresholds,
        }.items():
            if not 0 < value < 10:
                raise VerdictError(
                    f"threshold {name} must be a fraction > 0 (0.10 = 10%), got {value}",
                    "give e.g. --threshold 0.10",
                )
        if self.looks < 1:
            raise VerdictError(f"looks must be >= 1, got {self.looks}")

    @property
    def alpha_per_look(self) -> float:
        return self.alpha / self.looks

    def threshold_of(self, metric: str) -> float:
        default = self.tail_threshold if metric == TAIL else self.threshold
        return self.metric_thresholds.get(metric, default)


@dataclass(frozen=True)
class Comparison:
    """One benchmark's one metric: per-run values on each side and what they say."""

    benchmark: str
    metric: str
    old: tuple[float, ...]
    new: tuple[float, ...]
    paired: bool
    #: new / old, the ratio of the runs' geometric means (> 1: slower)
    ratio: float
    #: standard error of log(ratio) and its degrees of freedom
    se: float
    df: int
    #: run-to-run spread of log values (pooled), per run
    sigma: float
    p_slower: float
    p_faster: float

    def bounds(self, alpha: float) -> tuple[float, float]:
        """One-sided (1 - alpha) lower and upper confidence bounds of the ratio."""
        half = float(stats.t.ppf(1 - alpha, self.df)) * self.se
        centre = math.log(self.ratio)
        return math.exp(centre - half), math.exp(centre + half)

    @property
    def change(self) -> float:
        return self.ratio - 1.0


def geometric_mean(values: Sequence[float]) -> float:
    """The runs' geometric mean: the centre the verdicts compare (nan for no runs)."""
    return float(stats.gmean(values)) if len(values) else float("nan")


def log_spread(values: Sequence[float]) -> float:
    """Run-to-run spread: the sample standard deviation of log values."""
    return float(np.std(np.log(np.asarray(values, dtype=float)), ddof=1))


def compare(
    benchmark: str, metric: str, old: Sequence[float], new: Sequence[float], paired: bool = False
) -> Comparison:
    """The t statistics of log(new) against log(old).

    Unpaired (a stored baseline against new runs): the spread is pooled, as both sides
    ran on one runner. Paired (A/B runs taken in turns): the test is on the per-pair log
    ratios, so a drift that moves both runs of a pair cancels.
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # refused just below
        lo = np.log(np.asarray(old, dtype=float))
        ln = np.log(np.asarray(new, dtype=float))
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(ln))):
        raise VerdictError(
            f"{benchmark} {metric}: values must be positive and finite, "
            f"got {list(old)} and {list(new)}",
            "re-record the runs; a zero time means the benchmark did nothing",
        )
    if len(lo) < MIN_RUNS or len(ln) < MIN_RUNS:
        raise VerdictError(
            f"{benchmark} {metric}: {len(lo)} baseline and {len(ln)} current run(s); a "
            f"comparison needs at least {MIN_RUNS} independent runs on each side (with one, "
            "run-to-run noise cannot be told from a change, so it can never reject)"
        )
    if paired:
        if len(lo) != len(ln):
            raise VerdictError(
                f"{benchmark} {metric}: {len(lo)} A runs but {len(ln)} B runs "
                "for a paired comparison"
            )
        diffs = ln - lo
        d, df = float(diffs.mean()), len(diffs) - 1
        spread = float(diffs.std(ddof=1)) / math.sqrt(2)  # per run: a diff holds two runs' noise
        se = float(diffs.std(ddof=1)) / math.sqrt(len(diffs))
    else:
        d, df = float(ln.mean() - lo.mean()), len(lo) + len(ln) - 2
        pooled = ((len(lo) - 1) * lo.var(ddof=1) + (len(ln) - 1) * ln.var(ddof=1)) / df
        spread = math.sqrt(pooled)
        se = spread * math.sqrt(1 / len(lo) + 1 / len(ln))
    se = max(se, 1e-12)  # identical runs: a spread of 0 would divide by zero
    t = d / se
    return Comparison(
        benchmark,
        metric,
        tuple(map(float, old)),
        tuple(map(float, new)),
        paired,
        ratio=math.exp(d),
        se=se,
        df=df,
        sigma=spread,
        p_slower=float(stats.t.sf(t, df)),
        p_faster=float(stats.t.cdf(t, df)),
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order (step-down, monotone)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Row:
    """A comparison with its verdict."""

    comparison: Comparison
    verdict: str
    p_adjusted: float
    low: float
    high: float
    threshold: float
    #: runs per side that would likely decide an inconclusive row (None: decided)
    runs_needed: int | None = None


def _runs_needed(c: Comparison, limit: float, alpha: float) -> int | None:
    """Runs per side for the interval at the spread seen to clear the threshold."""
    d = math.log(c.ratio)
    gap = abs(d - limit) if d < limit else d
    if gap <= 0 or c.sigma <= 0:
        return None
    z = float(stats.norm.ppf(1 - alpha))
    return max(MIN_RUNS + 1, math.ceil(2 * (z * c.sigma / gap) ** 2))


def decide(comparisons: Sequence[Comparison], policy: Policy = Policy()) -> list[Row]:
    """One row per comparison, Holm-corrected over all of them."""
    alpha = policy.alpha_per_look
    adjusted = holm([c.p_slower for c in comparisons])
    rows = []
    for c, p_adj in zip(comparisons, adjusted):
        threshold = policy.threshold_of(c.metric)
        limit = math.log1p(threshold)
        low, high = c.bounds(alpha)
        needed = None
        past = low > 1 + threshold if policy.red_rule == "interval" else math.log(c.ratio) >= limit
        if p_adj < alpha and past:
            verdict = REGRESSION
        elif c.metric == TAIL:
            verdict = OK  # red-only: not shown slower by the tail threshold
        elif high < 1 + threshold:
            verdict = IMPROVED if (c.p_faster < alpha and c.ratio <= 1 / (1 + threshold)) else OK
        else:
            verdict = INCONCLUSIVE
            needed = _runs_needed(c, limit, alpha)
        rows.append(Row(c, verdict, p_adj, low, high, threshold, needed))
    return rows


def overall(rows: Sequence[Row]) -> str:
    """REGRESSION if any row regressed, ok if every row is ok or improved, else inconclusive."""
    verdicts = {r.verdict for r in rows}
    if REGRESSION in verdicts:
        return REGRESSION
    if verdicts <= {OK, IMPROVED}:
        return OK
    return INCONCLUSIVE


#: past this, exp() overflows a float
MAX_EXPONENT = math.log(sys.float_info.max)


def detectable_slowdown(
    sigma: float,
    old_runs: int,
    new_runs: int,
    alpha: float,
    hypotheses: int = 1,
    power: float = POWER,
) -> float:
    """The smallest slowdown (0.1 = 10%) that `old_runs` against `new_runs` runs with
    run-to-run spread `sigma` (of log values) show as significant with probability
    `power`, at level alpha after a Holm correction over `hypotheses` (its worst case)."""
    if old_runs < MIN_RUNS or new_runs < MIN_RUNS:
        return math.inf
    df = old_runs + new_runs - 2
    se = sigma * math.sqrt(1 / old_runs + 1 / new_runs)
    t_alpha = float(stats.t.ppf(1 - alpha / hypotheses, df))
    t_power = float(stats.t.ppf(power, df))
    exponent = (t_alpha + t_power) * se
    # A tiny alpha on few runs asks for a change beyond any float: none is detectable.
    return math.expm1(exponent) if exponent < MAX_EXPONENT else math.inf


def runs_to_detect(
    sigma: float,
    slowdown: float,
    alpha: float,
    hypotheses: int = 1,
    power: float = POWER,
    old_runs: int | None = None,
    most: int = 200,
) -> int | None:
    """Runs per side (or new runs against `old_runs` fixed ones) that detect `slowdown`;
    None if not even `most` would."""
    for n in range(MIN_RUNS, most + 1):
        if detectable_slowdown(sigma, old_runs or n, n, alpha, hypotheses, power) <= slowdown:
            return n
    return None


def look_schedule(first: int, last: int) -> list[int]:
    """When a sequential comparison looks at its verdict: at `first` runs, then about 1.5
    times as many each time, and at `last` (3..20: 3, 5, 8, 12, 18, 20). Fewer looks keep
    more of alpha for each, at little cost in how early a clear verdict is seen."""
    if first < MIN_RUNS or last < first:
        raise VerdictError(f"looks from {first} to {last} runs: need {MIN_RUNS} <= first <= last")
    points, n = [], first
    while n < last:
        points.append(n)
        n = max(n + 1, math.ceil(n * 1.5))
    return [*points, last]


class Looks:
    """The looks of one sequential comparison: `due(n)` says whether to look at n runs."""

    def __init__(self, first: int, last: int) -> None:
        self.points = look_schedule(first, last)
        self._next = 0

    def __len__(self) -> int:
        return len(self.points)

    @property
    def remaining(self) -> int:
        """Looks not taken yet (a comparison that stopped early may take one more)."""
        return len(self.points) - self._next

    def due(self, runs: int) -> bool:
        if self._next >= len(self.points) or runs < self.points[self._next]:
            return False
        while self._next < len(self.points) and self.points[self._next] <= runs:
            self._next += 1
        return True


SPANS_THRESHOLD, TOO_FEW_RUNS, TOO_NOISY = "spans-threshold", "too-few-runs", "too-noisy"
RUNNER_DISTURBED, BUDGET_SPENT = "runner-disturbed", "budget-spent"
RUNNER_CHANGED = "runner-changed"
#: every reason an outcome can be inconclusive for, and what it means (docs/perf-and-gate.md)
UNDECIDED_CODES = {
    SPANS_THRESHOLD: "measured, but the interval spans the threshold: more runs would decide",
    TOO_FEW_RUNS: "too few runs for a verdict, or for the runner-speed probe to rule out a "
    "move of the runner",
    TOO_NOISY: "the noise preflight: the planned runs cannot detect the threshold at this "
    "runner's noise",
    RUNNER_DISTURBED: "others took the CPU during too many runs: they were left out",
    BUDGET_SPENT: "the time budget ended before the first look",
    RUNNER_CHANGED: "the runner's own speed moved since the baseline, in the direction "
    "that could have faked the verdict",
}


@dataclass(frozen=True)
class Undecided:
    """Why an outcome is inconclusive (`code`, one of UNDECIDED_CODES), in one line, and
    the concrete step that would decide it."""

    code: str
    why: str
    next_step: str

    def __post_init__(self) -> None:
        if self.code not in UNDECIDED_CODES:
            raise ValueError(f"reason code {self.code!r}: one of {', '.join(UNDECIDED_CODES)}")

    def line(self) -> str:
        """`[code] why; next: step`, as the gate's closing line shows it."""
        return f"[{self.code}] {self.why}; next: {self.next_step}"

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "why": self.why, "next": self.next_step}


@dataclass(frozen=True)
class Rerun:
    """How the command that measured would take more runs, for a next step to name.

    `command` and `option` are its name and its flag for the most runs ("check",
    "--max-runs"; "ab", "--max-pairs"; both "" for `compare`, whose runs are recorded
    beforehand); `baseline_runs` the stored baseline's size (0: both sides are measured
    anew); `run_s` what one run (or pair) took and `budget_s` the budget it ran under (0:
    unknown), to size `--budget-s`."""

    command: str = ""
    option: str = ""
    unit: str = "runs"
    baseline_runs: int = 0
    run_s: float = 0.0
    budget_s: float = 0.0

    def step(self, per_side: int) -> str:
        """The step that takes `per_side` runs on each side."""
        steps = []
        if self.baseline_runs and self.baseline_runs < per_side:
            steps.append(
                f"record the baseline with --runs {per_side} "
                f"(BASELINE_RUNS={per_side} in ci/jetson-perf.sh)"
            )
        if not self.option:
            steps.append(
                f"compare {per_side} current runs (peoplenet-gate record NAME --runs {per_side})"
            )
            return ", then ".join(steps)
        rerun = f"rerun {self.command} with {self.option} {per_side}"
        if self.run_s and per_side * self.run_s > self.budget_s:
            rerun += f" --budget-s {math.ceil(per_side * self.run_s * 1.1)}"
        return ", then ".join([*steps, rerun])


#: how each command takes more runs (the time a run takes, where known, is added)
COMPARE_RERUN = Rerun()
CHECK_RERUN = Rerun("check", "--max-runs")
AB_RERUN = Rerun("ab", "--max-pairs", "pairs")


def spans_threshold(rows: Sequence[Row], rerun: Rerun = COMPARE_RERUN) -> Undecided:
    """The reason of rows left inconclusive: the row that needs most runs, and those runs."""
    open_rows = [r for r in rows if r.verdict == INCONCLUSIVE]
    if not open_rows:
        raise ValueError("no inconclusive row")
    worst = max(open_rows, key=lambda r: r.runs_needed or math.inf)
    c = worst.comparison
    more = f" (and {len(open_rows) - 1} more row(s))" if len(open_rows) > 1 else ""
    why = (
        f"{c.benchmark} {c.metric} changed {c.change:+.1%}, its interval "
        f"{worst.low - 1:+.1%}..{worst.high - 1:+.1%} spans the {worst.threshold:.0%} "
        f"threshold after {len(c.old)}/{len(c.new)} {rerun.unit}{more}"
    )
    if worst.runs_needed is None:  # no spread to size them by
        return Undecided(
            SPANS_THRESHOLD, why, f"take more {rerun.unit}: {rerun.step(2 * len(c.new))}"
        )
    # runs_needed is a normal approximation: at a few runs it can name no more than taken
    needed = max(worst.runs_needed, len(c.new) + 1)
    per_side = " per side" if rerun.unit == "runs" else ""
    return Undecided(
        SPANS_THRESHOLD,
        why,
        f"about {needed} {rerun.unit}{per_side} would decide at the spread "
        f"seen: {rerun.step(needed)}",
    )


def runner_disturbed(disturbed: int, taken: int, unit: str = "runs", also: str = "") -> Undecided:
    """The reason of an outcome left undecided by runs others disturbed (took the CPU)."""
    return Undecided(
        RUNNER_DISTURBED,
        f"others took the CPU during {disturbed} of {taken} {unit}, which were left out",
        f"run on a quiet runner, with no other jobs beside it{also}",
    )


def budget_spent(
    budget_s: float,
    run_s: float,
    taken: int,
    first_look: int,
    unit: str = "run(s)",
    also: str = ", or fewer benchmarks (-- -k ...)",
) -> Undecided:
    """The reason of a comparison whose time budget ended before its first look: the
    budget that would fit that look, at the time one run (or pair) took."""
    return Undecided(
        BUDGET_SPENT,
        f"the {budget_s:.0f} s budget fits only {taken} {unit} of {run_s:.0f} s, "
        f"fewer than the {first_look} of the first look",
        f"give --budget-s {math.ceil(first_look * run_s)} or more{also}",
    )
