"""A/B on one runner: two deployments measured in turns until the verdict is decided.

The common CI question is "is B slower than A?" where both can run here: two model
repositories or plans, two Triton installs or images, two configs. Runs of A and B are
taken in pairs: both sides' servers start afresh, side by side, for every pair (so a slow
start lands on either side by chance, and a pair costs one start's wait, not two), then
each is measured alone, in time windows until stable (pnsuite/measure/run.py), the order a
coin toss. With `Plan.pairs_per_start` above 1, a round starts that many servers of each
side at once and measures them all, one load moving between them. Drift on the runner
moves both runs of a pair alike: the verdict is a paired test on per-pair log ratios
(pnsuite/verdict/verdicts.py).

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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from pnsuite.client.image_set import ImageSet
from pnsuite.client.load import Load
from pnsuite.client.memory import Memory
from pnsuite.client.multiprocess_load import make_load
from pnsuite.measure.run import MeasuredRun, measure
from pnsuite.measure.windows import WindowPlan
from pnsuite.server import Launcher, TritonServer
from pnsuite.server.pool import ServerPool
from pnsuite.verdict import verdicts


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
    #: pairs measured from one round of server starts: 2 x this many servers start at
    #: once, each is measured alone, and the round's A and B runs pair up in the order they
    #: started. Where a server start costs far more than its measurement (a millisecond
    #: model, whose start-to-start spread is the noise), a round of 3 costs about one
    #: start and six measurements for 3 pairs. Each server is its own start, so each pair
    #: stays an independent sample of the start-to-start spread; 1 on a small board whose
    #: memory holds two servers, not six.
    pairs_per_start: int = 1

    def __post_init__(self) -> None:
        if self.min_pairs < verdicts.MIN_RUNS:
            raise verdicts.VerdictError(
                f"min_pairs must be >= {verdicts.MIN_RUNS}, got "
                f"{self.min_pairs}: a paired test needs a spread"
            )
        if self.max_pairs < self.min_pairs:
            raise verdicts.VerdictError(
                f"max_pairs ({self.max_pairs}) < min_pairs ({self.min_pairs})"
            )
        if self.retries < 0:
            raise verdicts.VerdictError(f"retries must be >= 0, got {self.retries}")
        if self.concurrency < 1:
            raise verdicts.VerdictError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.pairs_per_start < 1:
            raise verdicts.VerdictError(f"pairs_per_start must be >= 1, got {self.pairs_per_start}")

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


def undisturbed_run(
    measure_side: Callable[[], MeasuredRun], retries: int, first: MeasuredRun | None = None
) -> MeasuredRun:
    """`first` (else a run from `measure_side()`), measured again (at most `retries` times)
    while others disturbed it; the last one if they always did. Its label `retries` says
    how many."""
    run, tried = first if first is not None else measure_side(), 0
    while run.disturbed and tried < retries:
        run, tried = measure_side(), tried + 1
    run.labels["retries"] = tried
    return run


def judge(
    pairs: Sequence[Pair], policy: verdicts.Policy, benchmark: str = "ab"
) -> list[verdicts.Row]:
    """Paired verdicts on the gate's metrics of the pairs (A first in each tuple)."""
    comparisons = [
        verdicts.compare(
            benchmark,
            metric,
            [a.metric(metric) for a, _ in pairs],
            [b.metric(metric) for _, b in pairs],
            paired=True,
        )
        for metric in verdicts.GATE_METRICS
    ]
    return verdicts.decide(comparisons, policy)


def sequential(
    measure_round: Callable[[int, int], Sequence[Pair]],
    plan: Plan,
    policy: verdicts.Policy,
    a: str,
    b: str,
    clock: Callable[[], float] = time.monotonic,
    on_look: Callable[[ABResult], None] | None = None,
) -> ABResult:
    """Rounds of pairs (A, B) from `measure_round(first, count)` (`count` pairs numbered
    from `first`) until decided or spent; a pair with a disturbed run is left out. The
    verdict is looked at after a round that reached a look of the schedule."""
    policy = plan.policy(policy)
    result = ABResult(a, b)
    began = clock()
    attempts = rounds = 0
    looks = verdicts.Looks(plan.min_pairs, plan.max_pairs)
    while len(result.pairs) < plan.max_pairs:
        elapsed = clock() - began
        # stop before a round that would likely end past the budget (rounds so far say how
        # long one takes, retries included), not after it: the budget is a CI job's limit
        if rounds and elapsed + elapsed / rounds > plan.budget_s:
            result.stopped_because = f"time budget of {plan.budget_s:.0f} s spent"
            if len(result.pairs) < plan.min_pairs:
                result.stopped_undecided = verdicts.budget_spent(
                    plan.budget_s,
                    elapsed / attempts,
                    len(result.pairs),
                    plan.min_pairs,
                    "pair(s)",
                    also="",
                )
            break
        if attempts >= 2 * plan.max_pairs:
            result.stopped_because = f"{attempts} pairs tried, too many disturbed"
            result.stopped_undecided = verdicts.runner_disturbed(
                len(result.left_out),
                attempts,
                "pairs",
                f", or raise --retries (now {plan.retries})",
            )
            break
        count = min(plan.pairs_per_start, plan.max_pairs - len(result.pairs))
        measured = measure_round(attempts, count)
        rounds += 1
        for pair in measured:
            attempts += 1
            if pair[0].disturbed or pair[1].disturbed:
                worst = max(s.peak_foreign_cores for s in pair)
                result.left_out.append(
                    f"pair {attempts}: a run was disturbed (others took "
                    f"{worst:.2f} of {pair[0].cores} cores in a window)"
                )
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
    if (
        result.verdict == verdicts.INCONCLUSIVE
        and looks.remaining
        and len(result.pairs) >= verdicts.MIN_RUNS
        and (not result.rows or len(result.rows[0].comparison.new) < len(result.pairs))
    ):
        result.rows = judge(result.pairs, policy)  # a look the schedule had left
    result.seconds = clock() - began
    result.rerun = replace(
        result.rerun, run_s=result.seconds / max(attempts, 1), budget_s=plan.budget_s
    )
    return result


def one_pair_a_round(measure_pair: Callable[[int], Pair]) -> Callable[[int, int], list[Pair]]:
    """`measure_pair(index)` as rounds of one pair each (`Plan.pairs_per_start` 1)."""
    return lambda first, count: [measure_pair(first + i) for i in range(count)]


class PairRunner:
    """Measures rounds of pairs on real servers: for each round, `count` servers of each
    side start afresh, all at once; each is then measured alone, in an order a coin toss
    picks, on one load that moves from server to server (its worker processes start once
    a round), and all are stopped together afterwards (a server stopping beside a
    measurement would take CPU from it). The i-th A and the i-th B started make pair i."""

    def __init__(
        self,
        a: Side,
        b: Side,
        plan: Plan,
        tensor: ImageSet | np.ndarray,
        workdir: Callable[[str], Path],
        rng: random.Random | None = None,
        ready_timeout_s: float = 120.0,
    ) -> None:
        self.sides = (a, b)
        self.plan = plan
        self.tensor = tensor
        self.rng = rng or random.Random()
        self._pools = {
            side.name: ServerPool(
                side.launcher, workdir, ready_timeout_s, server_args=side.server_args
            )
            for side in self.sides
        }

    def _start(self, side: Side) -> tuple[TritonServer, float]:
        began = time.monotonic()
        server = self._pools[side.name].start(side.repo)
        return server, time.monotonic() - began

    def _start_all(self, count: int) -> list[tuple[Side, TritonServer, float]]:
        """`count` servers of each side, started at once. Every start is waited for before
        an error (or Ctrl-C) goes on, so no server is left behind unowned."""
        slots = [side for _ in range(count) for side in self.sides]
        with ThreadPoolExecutor(max_workers=len(slots), thread_name_prefix="ab-start") as starter:
            futures = [starter.submit(self._start, side) for side in slots]
            return [(side, *future.result()) for side, future in zip(slots, futures)]

    def _load(self, server: TritonServer) -> Load:
        return make_load(
            server.grpc_url,
            self.tensor,
            self.plan.concurrency,
            self.plan.memory,
            self.plan.load_processes,
        )

    def run_once(self, side: Side) -> MeasuredRun:
        """One run of `side` alone, on a server and load of its own (a disturbed run's retry)."""
        try:
            server, start_s = self._start(side)
            with self._load(server) as load:
                run = measure(server, load, self.plan.windows)
        finally:
            self._pools[side.name].stop_all()
        run.start_s = start_s
        run.labels.update({"side": side.name})
        return run

    def round(self, first: int, count: int = 1) -> list[Pair]:
        """`count` pairs, numbered from `first`, from one round of server starts."""
        runs: list[MeasuredRun | None] = [None] * (2 * count)
        try:
            started = self._start_all(count)
            order = list(range(len(started)))
            self.rng.shuffle(order)
            load: Load | None = None
            try:
                for slot in order:
                    side, server, start_s = started[slot]
                    if load is None:
                        load = self._load(server)
                    else:
                        load.retarget(server.grpc_url)
                    run = measure(server, load, self.plan.windows)
                    run.start_s = start_s
                    run.labels.update({"side": side.name})
                    runs[slot] = run
            finally:
                if load is not None:
                    load.close()
            for slot, measured in enumerate(runs):
                runs[slot] = undisturbed_run(
                    partial(self.run_once, started[slot][0]), self.plan.retries, first=measured
                )
        finally:
            self.close()
        pairs = []
        for i in range(count):
            a, b = runs[2 * i], runs[2 * i + 1]
            assert a is not None and b is not None
            for slot, run, other in ((2 * i, a, 2 * i + 1), (2 * i + 1, b, 2 * i)):
                run.labels.update(
                    {
                        "pair": first + i,
                        "round_pairs": count,
                        "position": order.index(slot),
                        "first": order.index(slot) < order.index(other),
                    }
                )
            pairs.append((a, b))
        return pairs

    def close(self) -> None:
        for pool in self._pools.values():
            pool.stop_all()


def run_ab(
    a: Side,
    b: Side,
    plan: Plan,
    policy: verdicts.Policy,
    tensor: ImageSet | np.ndarray,
    workdir: Callable[[str], Path],
    rng: random.Random | None = None,
    on_look: Callable[[ABResult], None] | None = None,
) -> ABResult:
    """Measure A and B in turns until the verdict is decided or the plan is spent."""
    runner = PairRunner(a, b, plan, tensor, workdir, rng)
    try:
        return sequential(runner.round, plan, policy, a.name, b.name, on_look=on_look)
    finally:
        runner.close()
