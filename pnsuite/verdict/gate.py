"""The regression gate: runs of the current build against runs of a baseline, red only
on regressions that are both large and real.

Both sides are run sets (pnsuite/measure/runsets.py): several independent runs each. Every
benchmark is judged on two metrics, each by its rule (the gated mean time per inference
and the client's p99) with the runs as the unit (pnsuite/verdict/verdicts.py), Holm-corrected
over all of them. Runs whose neighbours took the CPU are left out on either side, and said so.
Runs from a different machine identity (device, board, power mode, clocks, launcher,
transport, and Triton/JetPack release unless a new release is being validated) are
refused with a message instead of compared.

`sequential_check` takes the current build's runs one at a time until the verdict is
decided, the planned runs are measured or the time budget is spent; `pnsuite.cli.gate`
(`peoplenet-gate`) records those runs, prints the report and sets the exit code;
`pnsuite.verdict.ab` measures both sides itself, in turns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pnsuite.errors import SuiteError
from pnsuite.measure.records import IDENTITY_KEYS, RELEASE_KEYS
from pnsuite.measure.runsets import RunSet, benchmark_of, source_of
from pnsuite.platform import jetson
from pnsuite.verdict import runner_shift, verdicts


class GateError(SuiteError):
    """The runs cannot be compared (another machine, another release, too few runs)."""

    default_hint = "see `peoplenet-gate --help`"


def identity_check(
    old: dict[str, Any], new: dict[str, Any], new_release: bool = False
) -> tuple[list[str], list[str]]:
    """(refusals, notes) for gating run `new` against `old`, from their machine_info.

    Device, launcher, transport, Jetson board, power mode and clocks must match. Triton and JetPack
    releases must match too unless `new_release` (validating a new release against the
    old one's baseline), when their differences become notes.
    """
    # Runs saved before the transport was recorded all used system shared memory.
    old, new = ({"transport": "system_shm", **old}, {"transport": "system_shm", **new})
    refusals = [
        f"{key}: baseline {old.get(key)!r}, current {new.get(key)!r}"
        for key in IDENTITY_KEYS
        if old.get(key) != new.get(key)
    ]
    release = [
        f"{key}: baseline {old.get(key)!r}, current {new.get(key)!r}"
        for key in RELEASE_KEYS
        if old.get(key) != new.get(key)
    ]
    board = jetson.comparable(old, new)
    refusals += list(board.refusals)
    notes = list(board.notes)
    if new_release:
        notes += release
    else:
        refusals += [
            f"{r} (pass --new-release to validate a new release against it)" for r in release
        ]
    return refusals, notes


def check_sets(baseline: RunSet, current: RunSet, new_release: bool = False) -> list[str]:
    """The notes on gating `current` against `baseline`; a GateError naming every refusal
    (between the two sides, and between the runs of one side)."""
    refusals: list[str] = []
    notes: list[str] = []
    for label, runs in (("baseline", baseline), ("current", current)):
        for path, info in zip(runs.files[1:], runs.machine_infos[1:]):
            inside, _ = identity_check(runs.machine_info, info, new_release=False)
            refusals += [
                f"{label} run {path.name} differs from {runs.files[0].name}: {r}" for r in inside
            ]
    between, notes = identity_check(baseline.machine_info, current.machine_info, new_release)
    refusals += between
    if refusals:
        raise GateError(
            "refusing to compare runs from different machines or servers:\n  "
            + "\n  ".join(dict.fromkeys(refusals)),
            "gate against a baseline recorded on this runner with the same settings",
        )
    return notes


#: the preflight item of the runner-speed probe (its metric is probe_ms)
PROBE_BENCHMARK = "runner-speed probe"


@dataclass(frozen=True)
class Preflight:
    """What the baseline's own runs say about this runner's noise, per benchmark."""

    benchmark: str
    metric: str
    sigma: float
    baseline_runs: int
    current_runs: int
    #: the smallest slowdown that many runs tell from noise 95% of the time (the probe's:
    #: a move, told runner_shift.SEE_POWER of the time)
    detectable: float
    #: current runs that would detect a slowdown of the threshold against this baseline
    #: (None: no number would, the baseline is too small)
    runs_for_threshold: int | None
    #: runs on each side that would, with a baseline re-recorded as large
    runs_per_side: int | None = None
    #: baseline runs that would, against `current_runs` current runs
    baseline_runs_needed: int | None = None


@dataclass
class GateReport:
    """Every benchmark's rows, what was left out, and the verdict."""

    rows: list[verdicts.Row]
    missing: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    #: benchmarks left without enough undisturbed runs on a side: no verdict possible
    undecided: list[str] = field(default_factory=list)
    preflight: list[Preflight] = field(default_factory=list)
    policy: verdicts.Policy = field(default_factory=verdicts.Policy)
    #: how the runner's own speed moved between the sides (None: not probed on both)
    runner: runner_shift.RunnerShift | None = None
    #: benchmark runs on both sides, disturbed ones included
    runs_seen: int = 0

    @property
    def measured_verdict(self) -> str:
        """What the rows say, before the runner's own move is taken into account."""
        if self.missing:
            return verdicts.REGRESSION  # a benchmark that vanished hides its result
        if any(r.verdict == verdicts.REGRESSION for r in self.rows):
            return verdicts.REGRESSION
        if self.undecided or not self.rows:
            return verdicts.INCONCLUSIVE
        return verdicts.overall(self.rows)

    @property
    def runner_moved(self) -> bool:
        """The runner's own speed moved in the direction that could have faked the measured
        verdict (runner_shift.RunnerShift.refuses): more runs will not take that away."""
        return (
            not self.missing
            and self.runner is not None
            and self.runner.refuses(self.measured_verdict)
        )

    @property
    def runner_unseen(self) -> bool:
        """The measured verdict is one the runner's move could fake, and the probe runs so
        far would likely have missed a move of the threshold (runner_shift.RunnerShift.holds):
        more current runs can give the verdict."""
        return (
            not self.missing
            and self.runner is not None
            and self.runner.holds(self.measured_verdict)
        )

    @property
    def verdict(self) -> str:
        if self.runner_moved or self.runner_unseen:
            return verdicts.INCONCLUSIVE
        return self.measured_verdict

    def reason(self, rerun: verdicts.Rerun = verdicts.COMPARE_RERUN) -> verdicts.Undecided | None:
        """Why the verdict is inconclusive and what would decide it (None: decided);
        `rerun` says how the command that measured takes more runs."""
        if self.verdict != verdicts.INCONCLUSIVE:
            return None
        if self.runner is not None and self.runner_moved:
            return runner_changed(self.runner, self.measured_verdict)
        if self.runner is not None and self.runner_unseen:
            return probe_unseen(self.runner, self.measured_verdict, rerun)
        if self.undecided:
            return verdicts.runner_disturbed(
                len(self.left_out),
                self.runs_seen,
                "benchmark runs",
                f", so that every benchmark keeps at least {verdicts.MIN_RUNS} undisturbed "
                "runs a side (see undecided:)",
            )
        if not self.rows:
            return verdicts.Undecided(
                verdicts.TOO_FEW_RUNS,
                "no benchmark has runs on both sides",
                "record a baseline of the benchmarks the check runs "
                "(peoplenet-gate record NAME --runs 10)",
            )
        if not rerun.baseline_runs:  # the baseline's size, from the rows themselves
            rerun = replace(rerun, baseline_runs=min(len(r.comparison.old) for r in self.rows))
        return verdicts.spans_threshold(self.rows, rerun)


#: the step left when no number of runs would do: less noise
QUIETER = "gate on a quieter runner (no other jobs, fixed clocks)"


def runner_changed(shift: runner_shift.RunnerShift, measured: str) -> verdicts.Undecided:
    """The reason of a verdict refused because the runner's own speed moved."""
    c = shift.comparison
    return verdicts.Undecided(
        verdicts.RUNNER_CHANGED,
        f"the runner's own speed moved: it is {abs(c.change):.1%} "
        f"{'slower' if shift.slower else 'faster'} than when the baseline was recorded, "
        f"which could have faked the measured {measured} (see runner:)",
        "compare the builds on one runner in turns (peoplenet-gate ab --a REPO --b REPO), or "
        "record the baseline again (ci/jetson-perf.sh record)",
    )


def probe_unseen(
    shift: runner_shift.RunnerShift, measured: str, rerun: verdicts.Rerun
) -> verdicts.Undecided:
    """The reason of a verdict held until the runner-speed probe could see a move of the
    threshold: the current runs that would, or, where none would, the baseline's."""
    why = (
        f"the measured {measured} waits for the runner-speed probe: "
        f"{len(shift.comparison.new)} probed runs see a move of {shift.resolution:.0%}, "
        f"not yet one of the {shift.threshold:.0%} threshold (see runner:)"
    )
    needed = shift.runs_to_see_threshold()
    if needed is not None:
        return verdicts.Undecided(
            verdicts.TOO_FEW_RUNS,
            why,
            f"about {needed} current runs would see it: "
            f"{replace(rerun, baseline_runs=0).step(needed)}",
        )
    per_side = verdicts.runs_to_detect(
        shift.comparison.sigma, shift.threshold, shift.alpha, power=runner_shift.SEE_POWER
    )
    return verdicts.Undecided(
        verdicts.TOO_NOISY,
        why + f"; the baseline's {len(shift.comparison.old)} probed runs "
        "are too few for the probe's noise",
        f"record the baseline with --runs {per_side} (BASELINE_RUNS={per_side} in "
        "ci/jetson-perf.sh)"
        if per_side
        else QUIETER,
    )


def _most(needed: Sequence[int | None]) -> int | None:
    """The most runs any item needs; None if one of them is out of reach."""
    known = [n for n in needed if n is not None]
    return max(known) if known and len(known) == len(needed) else None


def noise_reason(
    weak: Sequence[Preflight], policy: verdicts.Policy, rerun: verdicts.Rerun = verdicts.CHECK_RERUN
) -> verdicts.Undecided:
    """The reason of a check the noise preflight stops (`too_noisy`'s items `weak`): the
    baseline runs that would detect the threshold against the planned current runs and the
    current runs that would against this baseline, else both sides that large, else a
    quieter runner. `rerun` says how a check takes more runs."""
    worst = max(weak, key=lambda p: p.sigma)
    why = (
        f"with {worst.current_runs} current runs this runner's noise ({worst.sigma:.1%} per "
        f"run in {worst.benchmark} {worst.metric}) hides a "
        f"{policy.threshold_of(worst.metric):.0%} slowdown in {len(weak)} comparison(s) "
        "(see noise:)"
    )
    baseline = _most([p.baseline_runs_needed for p in weak])
    current = _most([p.runs_for_threshold for p in weak])
    both = _most([p.runs_per_side for p in weak])
    steps = []
    if baseline is not None:
        steps.append(
            f"record the baseline with --runs {baseline} (BASELINE_RUNS={baseline} "
            "in ci/jetson-perf.sh)"
        )
    if current is not None:
        steps.append(replace(rerun, baseline_runs=0).step(current))
    if not steps and both is not None:
        steps.append(rerun.step(both))
    if not steps:
        return verdicts.Undecided(
            verdicts.TOO_NOISY,
            why,
            f"{QUIETER}: even 200 runs per side would not detect the threshold",
        )
    return verdicts.Undecided(verdicts.TOO_NOISY, why, ", or ".join([*steps, QUIETER]))


def preflight(
    baseline: RunSet,
    current_runs: int,
    policy: verdicts.Policy,
    metrics: Sequence[str] = (verdicts.GATED,),
) -> list[Preflight]:
    """The baseline runs' spread, and the slowdown `current_runs` runs could detect, for
    the metrics that can leave a verdict undecided (the tail's rule is red-only)."""
    names = sorted(baseline.benchmarks)
    hypotheses = max(1, len(names) * len(verdicts.GATE_METRICS))
    found = []
    for name in names:
        runs = baseline.runs_of(name)
        for metric in metrics:
            values = [r.metric(metric) for r in runs if r.metric(metric) > 0]
            if len(values) < verdicts.MIN_RUNS:
                continue
            sigma = verdicts.log_spread(values)
            alpha = policy.alpha_per_look
            found.append(
                Preflight(
                    name,
                    metric,
                    sigma,
                    len(values),
                    current_runs,
                    verdicts.detectable_slowdown(
                        sigma, len(values), current_runs, alpha, hypotheses
                    ),
                    verdicts.runs_to_detect(
                        sigma, policy.threshold_of(metric), alpha, hypotheses, old_runs=len(values)
                    ),
                    verdicts.runs_to_detect(sigma, policy.threshold_of(metric), alpha, hypotheses),
                    verdicts.runs_to_detect(
                        sigma, policy.threshold_of(metric), alpha, hypotheses, old_runs=current_runs
                    ),
                )
            )
    probes = baseline.probes()
    if len(probes) >= verdicts.MIN_RUNS:
        found.append(probe_preflight(probes, current_runs, policy))
    return found


def probe_preflight(
    probes: Sequence[float], current_runs: int, policy: verdicts.Policy
) -> Preflight:
    """The runner-speed probe's own preflight: whether `current_runs` probed runs would see
    a move of the threshold (runner_shift.RunnerShift.sees_threshold; a check holds its
    verdict until they do). Its one test is taken once, so at the whole alpha."""
    sigma, n, see = verdicts.log_spread(probes), len(probes), runner_shift.SEE_POWER
    return Preflight(
        PROBE_BENCHMARK,
        "probe_ms",
        sigma,
        n,
        current_runs,
        verdicts.detectable_slowdown(sigma, n, current_runs, policy.alpha, power=see),
        verdicts.runs_to_detect(sigma, policy.threshold, policy.alpha, power=see, old_runs=n),
        verdicts.runs_to_detect(sigma, policy.threshold, policy.alpha, power=see),
        verdicts.runs_to_detect(
            sigma, policy.threshold, policy.alpha, power=see, old_runs=current_runs
        ),
    )


def compare_sets(
    baseline: RunSet,
    current: RunSet,
    policy: verdicts.Policy = verdicts.Policy(),
    metrics: Sequence[str] = verdicts.GATE_METRICS,
) -> GateReport:
    """Judge every benchmark of both sets on every metric both sides recorded."""
    report = GateReport([], policy=policy)
    comparisons = []
    for side in (baseline, current):
        report.runs_seen += sum(len(runs) for runs in side.benchmarks.values())
        for run in side.disturbed():
            report.left_out.append(
                f"{side.label} {source_of(run).name} {benchmark_of(run)}: others used "
                f"{run.peak_foreign_cores:.2f} of {run.cores} cores in a round (disturbed)"
            )
    for name in sorted(set(baseline.benchmarks) | set(current.benchmarks)):
        if name not in current.benchmarks:
            report.missing.append(name)
            continue
        if name not in baseline.benchmarks:
            report.new.append(name)
            continue
        old, new = baseline.runs_of(name), current.runs_of(name)
        if (
            min(len(old), len(new))
            < verdicts.MIN_RUNS
            <= min(
                len(baseline.runs_of(name, include_disturbed=True)),
                len(current.runs_of(name, include_disturbed=True)),
            )
        ):
            report.undecided.append(
                f"{name}: {len(old)} baseline and {len(new)} current "
                "undisturbed runs, too few for a verdict"
            )
            continue
        for metric in metrics:
            # 0.0: a record that did not keep the metric (pnsuite.measure.records.measured_run)
            a = [r.metric(metric) for r in old if r.metric(metric) > 0]
            b = [r.metric(metric) for r in new if r.metric(metric) > 0]
            if not a and not b:
                continue  # neither side records it (e.g. no server statistics)
            comparisons.append(verdicts.compare(name, metric, a, b))
    report.rows = verdicts.decide(comparisons, policy)
    report.preflight = preflight(
        baseline,
        max((len(current.runs_of(n)) for n in current.benchmarks), default=0),
        policy,
        metrics,
    )
    report.runner = runner_shift.shift(baseline.probes(), current.probes(), policy)
    return report


@dataclass(frozen=True)
class CheckPlan:
    """How many current runs a check may take, and for how long."""

    min_runs: int = 3
    #: a cap for short benchmarks: the time budget is what usually decides how many runs
    #: are taken (about 50 of the reduced benchmark of results/gate-decisions fit 330 s)
    max_runs: int = 50
    #: the most a check should take on a CI runner, as for `peoplenet-gate ab`
    budget_s: float = 330.0

    def __post_init__(self) -> None:
        verdicts.look_schedule(self.min_runs, self.max_runs)  # refuses a bad pair
        if self.budget_s <= 0:
            raise GateError(f"the time budget must be > 0 s, got {self.budget_s}")

    def runs_within(self, run_s: float) -> int:
        """Runs of `run_s` seconds each that fit the budget (1 to max_runs)."""
        return max(1, min(self.max_runs, int(self.budget_s // max(run_s, 1e-9))))


@dataclass
class CheckResult:
    """A sequential check: the last look's report (None if none was taken) and why it stopped."""

    report: GateReport | None
    #: the noise preflight for the runs planned, under the policy the looks use
    preflight: list[Preflight]
    policy: verdicts.Policy
    planned: int
    runs: int = 0
    stopped_because: str = ""
    seconds: float = 0.0
    #: the budget it ran under, the runs of its first look, and the baseline's runs (of
    #: its benchmark with fewest)
    budget_s: float = 0.0
    first_look: int = verdicts.MIN_RUNS
    baseline_runs: int = 0
    #: why the check itself stopped undecided (the preflight, the budget, disturbed runs),
    #: where the last look's report does not say it
    stopped_undecided: verdicts.Undecided | None = None

    @property
    def verdict(self) -> str:
        return self.report.verdict if self.report is not None else verdicts.INCONCLUSIVE

    @property
    def rerun(self) -> verdicts.Rerun:
        """How more runs are taken: `check --max-runs`, at the time a run took here."""
        return replace(
            verdicts.CHECK_RERUN,
            baseline_runs=self.baseline_runs,
            run_s=self.seconds / self.runs if self.runs else 0.0,
            budget_s=self.budget_s,
        )

    @property
    def reason(self) -> verdicts.Undecided | None:
        """Why the check is inconclusive and what would decide it (None: decided)."""
        if self.verdict != verdicts.INCONCLUSIVE:
            return None
        if self.stopped_undecided is not None:
            return self.stopped_undecided
        if self.report is None:  # the budget ended before the first look
            run_s = self.seconds / max(self.runs, 1)
            return verdicts.budget_spent(self.budget_s, run_s, self.runs, self.first_look)
        return self.report.reason(self.rerun)


def too_noisy(items: Sequence[Preflight], policy: verdicts.Policy) -> list[Preflight]:
    """The preflight items whose detectable slowdown is above their threshold."""
    return [p for p in items if p.detectable > policy.threshold_of(p.metric)]


def undisturbed_runs(baseline: RunSet, current: RunSet) -> int:
    """The current side's undisturbed runs of the benchmark that has fewest."""
    return min((len(current.runs_of(n)) for n in baseline.benchmarks), default=0)


def _plan(
    result: CheckResult,
    baseline: RunSet,
    plan: CheckPlan,
    policy: verdicts.Policy,
    runs: int,
    ignore_noise: bool,
    run_s: float = 0.0,
) -> verdicts.Looks | None:
    """Plan `runs` current runs: the looks, the policy over them and the preflight for them;
    None (with the reason in `result`) if the noise hides the threshold at that many."""
    looks = verdicts.Looks(plan.min_runs, runs)
    result.policy, result.planned = replace(policy, looks=len(looks)), runs
    result.preflight = preflight(baseline, runs, result.policy)
    weak = too_noisy(result.preflight, result.policy)
    if weak and not ignore_noise:
        result.stopped_because = f"the noise preflight for {runs} current runs"
        result.stopped_undecided = noise_reason(
            weak, result.policy, replace(result.rerun, run_s=run_s)
        )
        return None
    return looks


def _stop_at_look(result: CheckResult, undisturbed: int) -> str:
    """Why a check stops at the look just taken ("" to measure on)."""
    report = result.report
    assert report is not None
    if result.verdict != verdicts.INCONCLUSIVE:
        return f"decided after {undisturbed} runs"
    if report.runner_moved:
        return "the runner's own speed moved (see runner:)"
    if report.runner_unseen and any(
        p.benchmark == PROBE_BENCHMARK and p.runs_for_threshold is None for p in result.preflight
    ):
        return (
            "the runner-speed probe cannot see a move of the threshold against this "
            "baseline, with any number of runs (see runner:)"
        )
    return ""


def sequential_check(
    baseline: RunSet,
    measure: Callable[[], RunSet],
    plan: CheckPlan,
    policy: verdicts.Policy,
    clock: Callable[[], float] = time.monotonic,
    ignore_noise: bool = False,
) -> CheckResult:
    """Judge the current build's runs against `baseline`, one more run per `measure()` call
    (it returns every current run so far), until the verdict is decided or the plan is spent.

    The noise preflight comes first, for `plan.max_runs` runs. The first run's time says how
    many fit the budget; when fewer, the looks and the preflight are planned for those. Both
    are fixed before the first look, from timings only, so splitting alpha over the looks
    keeps the error rate. A check the noise would leave undecided stops before measuring
    (unless `ignore_noise`), inconclusive. Where both sides carry the runner-speed probe, a
    verdict the runner's own move could fake is refused when the probe saw one, and held
    until the probe runs could have seen one of the threshold.
    """
    result = CheckResult(
        None,
        [],
        policy,
        plan.max_runs,
        budget_s=plan.budget_s,
        first_look=plan.min_runs,
        baseline_runs=min((len(baseline.runs_of(n)) for n in baseline.benchmarks), default=0),
    )
    looks = _plan(result, baseline, plan, policy, plan.max_runs, ignore_noise)
    if looks is None:
        return result
    began = clock()
    current, result.runs = measure(), 1
    first_s = clock() - began
    fits = plan.runs_within(first_s)
    if fits < plan.min_runs:
        result.stopped_because = "the budget fits fewer runs than the first look"
        result.stopped_undecided = verdicts.budget_spent(
            plan.budget_s, first_s, fits, plan.min_runs
        )
    elif fits < plan.max_runs:
        looks = _plan(result, baseline, plan, policy, fits, ignore_noise, first_s)
    while looks is not None and not result.stopped_because:
        undisturbed = undisturbed_runs(baseline, current)
        if looks.due(undisturbed):
            result.report = compare_sets(baseline, current, result.policy)
            result.stopped_because = _stop_at_look(result, undisturbed)
            if result.stopped_because:
                break
        elapsed = clock() - began
        if undisturbed >= result.planned:
            result.stopped_because = f"{result.planned} runs measured (the most planned)"
        elif elapsed + elapsed / result.runs > plan.budget_s:
            result.stopped_because = f"time budget of {plan.budget_s:.0f} s spent"
        elif result.runs >= 2 * result.planned:
            result.stopped_because = f"{result.runs} runs taken, too many disturbed"
            result.stopped_undecided = verdicts.runner_disturbed(
                result.runs - undisturbed,
                result.runs,
                "current runs",
                f", or raise --max-runs (a check takes at most twice the {result.planned} "
                "runs it plans)",
            )
        else:
            current = measure()
            result.runs += 1
    if (
        looks is not None
        and looks.remaining
        and result.verdict == verdicts.INCONCLUSIVE
        and undisturbed_runs(baseline, current) >= verdicts.MIN_RUNS
    ):
        result.report = compare_sets(baseline, current, result.policy)  # a look left over
    result.seconds = clock() - began
    return result
