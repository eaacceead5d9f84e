"""A/B on one runner: two deployments measured in turns until the verdict is decided.

The common CI question is "is B slower than A?" where both can run here: two model
repositories or plans, two Triton installs or images, two configs. Runs of A and B are
taken in pairs, the order of each pair a coin toss, each run a fresh server (so a slow
start lands on either side by chance), and drift on the runner moves both runs of a pair
alike: the verdict is a paired test on per-pair log ratios (pnsuite/perf/verdicts.py).

From `min_pairs` on, the verdict is looked at on a schedule (3, 5, 8, 12, 18, 20 pairs by
default); the comparison stops at the first decided look (regression, or ok on every
metric), or when `max_pairs` or the time budget is spent (then inconclusive, with how many
pairs would decide); a pair that would likely end past the budget is not begun. Alpha is
split over the looks the plan allows, as Chromium's Pinpoint stops a bisection once it is
sure. A run that others disturbed (they took the CPU) is measured again, up to `retries`
times, while the other run of its pair stands: on a shared runner a neighbour comes and
goes, and a pair is only left out (and said so) when its side stayed disturbed.
"""

from __future__ import annotations


import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pnsuite.client.memory import Memory
from pnsuite.client.multiprocess_load import make_load
from pnsuite.perf import verdicts
from pnsuite.perf.runsets import DISTURBED_SHARE
from pnsuite.perf.sampling import METRICS, RunSample, measure_run
from pnsuite.server import Launcher
from pnsuite.server.pool import ServerPool


@dataclass(frozen=True)
class Side:
    """One deployment: a model repository served by a launcher (embedded, release, docker)."""

    name: str
    repo: Path
    launcher: Launcher
    #: tritonserver options each of this side's servers gets
    server_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What each run measures, and when the comparison stops."""

    concurrency: int = 1
    requests: int = 3
    rounds: int = 3
    warmup: int = 1
    min_pairs: int = 3
    #: on this 2-core CI machine one unchanged run differs from the next by about 10%
    #: (results/gate-decisions): 20 pairs tell 15% from a 10% threshold most of the time
    max_pairs: int = 20
    budget_s: float = 330.0
    memory: str = "system"
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
        if self.requests < self.concurrency:
            raise verdicts.VerdictError(f"requests ({self.requests}) < concurrency "
                                        f"({self.concurrency})", "send at least one request per worker")

    @property
    def looks(self) -> int:
        return len(verdicts.look_schedule(self.min_pairs, self.max_pairs))

    def policy(self, policy: verdicts.Policy) -> verdicts.Policy:
        """`policy` with its alpha split over this plan's looks."""
        return replace(policy, looks=self.looks)


@dataclass
class ABResult:
    """The pairs measured, those left out, and the rows of the last look."""

    a: str
    b: str
    pairs: list[tuple[RunSample, RunSample]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    rows: list[verdicts.Row] = field(default_factory=list)
    stopped_because: str = ""
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        return verdicts.overall(self.rows) if self.rows else verdicts.INCONCLUSIVE


def disturbed(sample: RunSample) -> bool:
    """Whether others took more than DISTURBED_SHARE of the cores in a round of the run."""
    return max(sample.foreign_cores, default=0.0) > DISTURBED_SHARE * sample.cores


def undisturbed_run(measure: Callable[[], RunSample], retries: int) -> RunSample:
    """A run from `measure()`, measured again (at most `retries` times) while others
    disturbed it; the last one if they always did. Its label `retries` says how many."""
    sample, tried = measure(), 0
    while disturbed(sample) and tried < retries:
        sample, tried = measure(), tried + 1
    sample.labels["retries"] = tried
    return sample


def judge(pairs: Sequence[tuple[RunSample, RunSample]], policy: verdicts.Policy,
          benchmark: str = "ab") -> list[verdicts.Row]:
    """Paired verdicts on every metric of the pairs (A first in each tuple)."""
    comparisons = [verdicts.compare(benchmark, metric, [a.metric(metric) for a, _ in pairs],
                                    [b.metric(metric) for _, b in pairs], paired=True)
                   for metric in METRICS]
    return verdicts.decide(comparisons, policy)


def sequential(measure_pair: Callable[[int], tuple[RunSample, RunSample]],
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
            break
        if attempts >= 2 * plan.max_pairs:
            result.stopped_because = f"{attempts} pairs tried, too many disturbed"
            break
        pair = measure_pair(attempts)
        attempts += 1
        if disturbed(pair[0]) or disturbed(pair[1]):
            worst = max(max(s.foreign_cores, default=0.0) for s in pair)
            result.left_out.append(f"pair {attempts}: a run was disturbed (others took "
                                   f"{worst:.2f} of {pair[0].cores} cores in a round)")
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
    return result


class PairRunner:
    """Measures pairs of runs on real servers: each run starts its side's server afresh."""

    def __init__(self, a: Side, b: Side, plan: Plan, tensor: np.ndarray,
                 workdir: Callable[[str], Path], rng: random.Random | None = None,
                 ready_timeout_s: float = 120.0) -> None:
        self.sides = (a, b)
        self.plan = plan
        self.tensor = tensor
        self.rng = rng or random.Random()
        self._pools = {side.name: ServerPool(side.launcher, workdir, ready_timeout_s,
                                             server_args=side.server_args)
                       for side in self.sides}

    def run_once(self, side: Side) -> RunSample:
        pool = self._pools[side.name]
        server = pool.start(side.repo)
        try:
            with make_load(server.grpc_url, self.tensor, self.plan.concurrency,
                           Memory.parse(self.plan.memory), self.plan.load_processes) as load:
                sample = measure_run(server, load, self.plan.requests, self.plan.rounds,
                                     self.plan.warmup)
        finally:
            pool.stop_all()
        sample.labels.update({"side": side.name})
        return sample

    def pair(self, index: int) -> tuple[RunSample, RunSample]:
        order = list(self.sides)
        self.rng.shuffle(order)
        samples = {side.name: undisturbed_run(lambda: self.run_once(side), self.plan.retries)
                   for side in order}
        a, b = samples[self.sides[0].name], samples[self.sides[1].name]
        for sample, first in ((a, order[0] is self.sides[0]), (b, order[0] is self.sides[1])):
            sample.labels.update({"pair": index, "first": first})
        return a, b

    def close(self) -> None:
        for pool in self._pools.values():
            pool.stop_all()


def run_ab(a: Side, b: Side, plan: Plan, policy: verdicts.Policy, tensor: np.ndarray,
           workdir: Callable[[str], Path], rng: random.Random | None = None,
           on_look: Callable[[ABResult], None] | None = None) -> ABResult:
    """Measure A and B in turns until the verdict is decided or the plan is spent."""
    runner = PairRunner(a, b, plan, tensor, workdir, rng)
    try:
        return sequential(runner.pair, plan, policy, a.name, b.name, on_look=on_look)
    finally:
        runner.close()
