"""A/B on one runner: two deployments measured in turns until the verdict is decided.

The common CI question is "is B slower than A?" where both can run here: two model
repositories or plans, two Triton installs or images, two configs. Runs of A and B are
taken in pairs: both sides' servers start afresh, side by side, for every pair (so a slow
start lands on either side by chance, and a pair costs one start's wait, not two), then
each is measured alone, in time windows until stable (pnsuite/measure/run.py), the order a
coin toss. Drift on the runner moves both runs of a pair alike: the verdict is a paired
test on per-pair log ratios (pnsuite/perf/verdicts.py).

From `min_pairs` on, the verdict is looked at on a schedule (3, 5, 8, 12, 18, 27, 30 pairs
by default); the comparison stops at the first decided look (regression, or ok on every
metric), or when `max_pairs` or the time budget is spent (then inconclusive, with the
reason and how many pairs would decide: `ABResult.reason`); a pair that would likely end
past the budget is not begun. Alpha is split over the looks the plan allows, as
Chromium's Pinpoint stops a bisection once it is sure. A run that others disturbed (they
took the CPU) is measured again, up to `retries` times, while the other run of its pair
stands: on a shared runner a neighbour comes and goes, and a pair is only left out (and
said so) when its side stayed disturbed.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pnsuite.client.image_set import ImageSet
from pnsuite.client.memory import Memory
from pnsuite.client.multiprocess_load import make_load
from pnsuite.measure.run import MeasuredRun, measure
from pnsuite.measure.windows import WindowPlan
from pnsuite.perf import verdicts
from pnsuite.server import Launcher, TritonServer
from pnsuite.server.pool import ServerPool


@dataclass(frozen=True)
class Side:
    """One deployment: a model repository served by a launcher (embedded, release, docker)."""

    name: str
    repo: Path
    launcher: Launcher
    #: tritonserver options each of this side's servers gets
    server_args: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What each run measures, and when the comparison stops."""

    concurrency: int = 1
    windows: WindowPlan = field(default_factory=WindowPlan)
    min_pairs: int = 3
    #: on the 2-core CI machine one unchanged run differs from the next by about 10%
    #: (results/gate-decisions): at 20 pairs a quarter of unchanged builds stayed
    #: undecided, at 30 a tenth, with the same false reds and the 330-s budget still
    #: ending the longest
    max_pairs: int = 30
    budget_s: float = 330.0
    memory: Memory = Memory.SYSTEM
    load_processes: int = 1
    #: new runs of a side whose run was disturbed, before its pair is left out
    retries: int = 2

    def __post_init__(self) -> None:
        if self.min_pairs < verdicts.MIN_RUNS:
            raise verdicts.VerdictError(f"min_pairs must be >= {verdicts.MIN_RUNS}, got "
                                        f"{self.min_pairs}: a paired test needs a spread")
        if self.max_pairs < self.min_pairs:
            raise verdicts.VerdictError(f"max_pairs ({self.max_pairs}) < min_pairs "
                                        f"({self.min_pairs})")
        if self.retries < 0:
            raise verdicts.VerdictError(f"retries must be >= 0, got {self.retries}")
        if self.concurrency < 1:
            raise verdicts.VerdictError(f"concurrency must be >= 1, got {self.concurrency}")

    @property
    def looks(self) -> int:
        return len(verdicts.look_schedule(self.min_pairs, self.max_pairs))

    def policy(self, policy: verdicts.Policy) -> verdicts.Policy:
        """`policy` with its alpha split over this plan's looks."""
        return replace(policy, looks=self.looks)


Pair = tuple[MeasuredRun, MeasuredRun]


@dataclass
class ABResult:
    """The pairs measured, those left out, and the rows of the last look."""

    a: str
    b: str
    pairs: list[Pair] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    rows: list[verdicts.Row] = field(default_factory=list)
    stopped_because: str = ""
    seconds: float = 0.0
    #: how more pairs are taken (`--max-pairs`), at the time a pair took here
    rerun: verdicts.Rerun = verdicts.AB_RERUN
    #: why the comparison itself stopped undecided (the budget, disturbed pairs), where
    #: the last look's rows do not say it
    stopped_undecided: verdicts.Undecided | None = None

    @property
    def verdict(self) -> str:
        return verdicts.overall(self.rows) if self.rows else verdicts.INCONCLUSIVE

    @property
    def reason(self) -> verdicts.Undecided | None:
        """Why the comparison is inconclusive and what would decide it (None: decided)."""
        if self.verdict != verdicts.INCONCLUSIVE:
            return None
        if self.stopped_undecided is not None or not self.rows:
            return self.stopped_undecided
        return verdicts.spans_threshold(self.rows, self.rerun)


def undisturbed_run(measure_side: Callable[[], MeasuredRun], retries: int,
                    first: MeasuredRun | None = None) -> MeasuredRun:
    """`first` (else a run from `measure_side()`), measured again (at most `retries` times)
    while others disturbed it; the last one if they always did. Its label `retries` says
    how many."""
    run, tried = first if first is not None else measure_side(), 0
    while run.disturbed and tried < retries:
        run, tried = measure_side(), tried + 1
    run.labels["retries"] = tried
    return run


def judge(pairs: Sequence[Pair], policy: verdicts.Policy,
          benchmark: str = "ab") -> list[verdicts.Row]:
    """Paired verdicts on the gate's metrics of the pairs (A first in each tuple)."""
    comparisons = [verdicts.compare(benchmark, metric, [a.metric(metric) for a, _ in pairs],
                                    [b.metric(metric) for _, b in pairs], paired=True)
                   for metric in verdicts.GATE_METRICS]
    return verdicts.decide(comparisons, policy)


def sequential(measure_pair: Callable[[int], Pair],
               plan: Plan, policy: verdicts.Policy, a: str, b: str,
               clock: Callable[[], float] = time.monotonic,
               on_look: Callable[[ABResult], None] | None = None) -> ABResult:
    """Pairs (A, B) from `measure_pair(i)` until decided or spent; a pair with a disturbed
    run is left out."""
    policy = plan.policy(policy)
    result = ABResult(a, b)
    began = clock()
    attempts = 0
    looks = verdicts.Looks(plan.min_pairs, plan.max_pairs)
    while len(result.pairs) < plan.max_pairs:
        elapsed = clock() - began
        # stop before a pair that would likely end past the budget (pairs so far say how
        # long one takes, retries included), not after it: the budget is a CI job's limit
        if attempts and elapsed + elapsed / attempts > plan.budget_s:
            result.stopped_because = f"time budget of {plan.budget_s:.0f} s spent"
            if len(result.pairs) < plan.min_pairs:
                result.stopped_undecided = verdicts.budget_spent(
                    plan.budget_s, elapsed / attempts, len(result.pairs), plan.min_pairs,
                    "pair(s)", also="")
            break
        if attempts >= 2 * plan.max_pairs:
            result.stopped_because = f"{attempts} pairs tried, too many disturbed"
            result.stopped_undecided = verdicts.runner_disturbed(
                len(result.left_out), attempts, "pairs",
                f", or raise --retries (now {plan.retries})")
            break
        pair = measure_pair(attempts)
        attempts += 1
        if pair[0].disturbed or pair[1].disturbed:
            worst = max(s.peak_foreign_cores for s in pair)
            result.left_out.append(f"pair {attempts}: a run was disturbed (others took "
                                   f"{worst:.2f} of {pair[0].cores} cores in a window)")
            continue
        result.pairs.append(pair)
        if looks.due(len(result.pairs)):
            result.rows = judge(result.pairs, policy)
            if on_look is not None:
                on_look(result)
            if result.verdict != verdicts.INCONCLUSIVE:
                result.stopped_because = f"decided after {len(result.pairs)} pairs"
                break
    else:
        result.stopped_because = f"{plan.max_pairs} pairs measured (the most the plan allows)"
    if result.verdict == verdicts.INCONCLUSIVE and looks.remaining and \
            len(result.pairs) >= verdicts.MIN_RUNS and \
            (not result.rows or len(result.rows[0].comparison.new) < len(result.pairs)):
        result.rows = judge(result.pairs, policy)  # a look the schedule had left
    result.seconds = clock() - began
    result.rerun = replace(result.rerun, run_s=result.seconds / max(attempts, 1),
                           budget_s=plan.budget_s)
    return result


class PairRunner:
    """Measures pairs of runs on real servers: for each pair both sides' servers start
    afresh, side by side; each is then measured alone, in an order a coin toss picks, and
    both are stopped together afterwards (a server stopping beside a measurement would
    take CPU from it)."""

    def __init__(self, a: Side, b: Side, plan: Plan, tensor: ImageSet | np.ndarray,
                 workdir: Callable[[str], Path], rng: random.Random | None = None,
                 ready_timeout_s: float = 120.0) -> None:
        self.sides = (a, b)
        self.plan = plan
        self.tensor = tensor
        self.rng = rng or random.Random()
        self._pools = {side.name: ServerPool(side.launcher, workdir, ready_timeout_s,
                                             server_args=side.server_args)
                       for side in self.sides}

    def _start(self, side: Side) -> tuple[TritonServer, float]:
        began = time.monotonic()
        server = self._pools[side.name].start(side.repo)
        return server, time.monotonic() - began

    def _start_both(self) -> dict[str, tuple[TritonServer, float]]:
        """Both sides' servers, started at once. Every start is waited for before an error
        (or Ctrl-C) goes on, so no server is left behind unowned."""
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ab-start") as starter:
            futures = {side.name: starter.submit(self._start, side) for side in self.sides}
            return {name: future.result() for name, future in futures.items()}

    def _measure(self, side: Side, server: TritonServer) -> MeasuredRun:
        with make_load(server.grpc_url, self.tensor, self.plan.concurrency,
                       self.plan.memory, self.plan.load_processes) as load:
            return measure(server, load, self.plan.windows)

    def run_once(self, side: Side) -> MeasuredRun:
        """One run of `side` alone, on a server of its own (a disturbed run's retry)."""
        try:
            server, start_s = self._start(side)
            run = self._measure(side, server)
        finally:
            self._pools[side.name].stop_all()
        run.start_s = start_s
        run.labels.update({"side": side.name})
        return run

    def pair(self, index: int) -> Pair:
        order = list(self.sides)
        self.rng.shuffle(order)
        runs: dict[str, MeasuredRun] = {}
        try:
            started = self._start_both()
            for side in order:
                server, start_s = started[side.name]
                run = self._measure(side, server)
                run.start_s = start_s
                run.labels.update({"side": side.name})
                runs[side.name] = undisturbed_run(lambda: self.run_once(side),
                                                  self.plan.retries, first=run)
        finally:
            self.close()
        a, b = runs[self.sides[0].name], runs[self.sides[1].name]
        for run, first in ((a, order[0] is self.sides[0]), (b, order[0] is self.sides[1])):
            run.labels.update({"pair": index, "first": first})
        return a, b

    def close(self) -> None:
        for pool in self._pools.values():
            pool.stop_all()


def run_ab(a: Side, b: Side, plan: Plan, policy: verdicts.Policy,
           tensor: ImageSet | np.ndarray,
           workdir: Callable[[str], Path], rng: random.Random | None = None,
           on_look: Callable[[ABResult], None] | None = None) -> ABResult:
    """Measure A and B in turns until the verdict is decided or the plan is spent."""
    runner = PairRunner(a, b, plan, tensor, workdir, rng)
    try:
        return sequential(runner.pair, plan, policy, a.name, b.name, on_look=on_look)
    finally:
        runner.close()
