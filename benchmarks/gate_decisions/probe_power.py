"""What the gate's runner-speed rule (`pnsuite.measure.runner_shift.RunnerShift`: refuse, hold)
does to an ok verdict when the runner got faster by a given move, at the probe noise
measured in a pool (collect.py).

The noise is the log spread of the undisturbed runs' probes about their stretch's mean,
pooled over the pool's stretches (collections more than 10 minutes apart: the runner's
level moves between sessions, and a check against a baseline of another session is what
the rule is for), leaving out the blocks given with --episode (a stretch where the host
itself moved).

Each row is 1000 simulated checks of a build whose measured verdict is ok at every look,
as `peoplenet-gate check` takes its looks (3, 5, 8, ... 50 current runs). The ok is given
at the first look where the probe runs see a move of the threshold, unless the probe shows
the runner faster: refused, exit 3 (at alpha from that look on, at alpha split over the
looks before it). A check whose probe never sees the threshold ends held (inconclusive).
Given at a move of 0%, an ok is what the rule costs an unchanged build; given at a move of
10% or more, it is a regression the faster runner may have hidden. By symmetry the same
rates hold for a red verdict on a runner that got slower.

    python benchmarks/gate_decisions/probe_power.py results/gate-decisions/drift.jsonl --episode 349-353
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import statistics
from pathlib import Path

import numpy as np

from pnsuite.measure.run import DISTURBED_SHARE
from pnsuite.verdict import gate, runner_shift, verdicts

MOVES = (0.0, 0.05, 0.10, 0.15, 0.25)
BASELINE_RUNS = (10, 60)


def ok_outcome(baseline: np.ndarray, current: np.ndarray, plan: gate.CheckPlan,
               policy: verdicts.Policy) -> tuple[str, int]:
    """What the rule makes of an ok measured at every look: given, refused or held, and at
    how many current runs."""
    # the baseline's probes alone say whether any number of runs could see the threshold
    never = gate.probe_preflight(baseline, plan.max_runs, policy).runs_for_threshold is None
    for n in verdicts.look_schedule(plan.min_runs, plan.max_runs):
        shift = runner_shift.shift(baseline, current[:n], policy)
        assert shift is not None
        if shift.refuses(verdicts.OK):
            return "refused", n
        if not shift.holds(verdicts.OK):
            return "given", n
        if never:
            return "held", n
    return "held", plan.max_runs


#: a pause in a pool longer than this starts a new stretch (another session)
STRETCH_GAP_S = 600.0


def within_stretch_spread(runs: list[dict]) -> tuple[float, list[list[dict]]]:
    """The pooled log spread of the runs' probes about their stretch's mean, and the
    stretches."""
    stretches: list[list[dict]] = []
    for run in sorted(runs, key=lambda r: r["started"]):
        if not stretches or run["started"] - stretches[-1][-1]["started"] > STRETCH_GAP_S:
            stretches.append([])
        stretches[-1].append(run)
    stretches = [s for s in stretches if len(s) >= 2]
    squares = sum(float(np.sum((logs - logs.mean()) ** 2)) for logs in
                  (np.log([r["probe_ms"] for r in s]) for s in stretches))
    return math.sqrt(squares / (sum(map(len, stretches)) - len(stretches))), stretches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pool", type=Path)
    parser.add_argument("--episode", default="", help="blocks FIRST-LAST to leave out")
    parser.add_argument("--trials", type=int, default=1000)
    args = parser.parse_args()
    first, last = (int(b) for b in args.episode.split("-")) if args.episode else (1, 0)
    runs = [json.loads(line) for line in args.pool.read_text().splitlines() if line.strip()]
    probed = [r for r in runs if r.get("probe_ms")
              and max(r["foreign_cores"]) <= DISTURBED_SHARE * r["cores"]
              and not first <= r["labels"]["block"] <= last]
    sigma, stretches = within_stretch_spread(probed)
    print(f"probe noise: {sigma:.1%} per run (log sd about each stretch's mean) over "
          f"{len(probed)} undisturbed runs in {len(stretches)} stretch(es): " + ", ".join(
              f"{len(s)} runs at {statistics.median(r['probe_ms'] for r in s):.1f} ms "
              f"(median), {statistics.stdev(math.log(r['probe_ms']) for r in s):.1%}"
              for s in stretches))
    print("baseline runs | runner faster by | ok given / refused / held | "
          "median current runs at the answer")
    rng, plan = np.random.default_rng(0), gate.CheckPlan()
    # the policy of a default check's looks, as `gate.sequential_check` plans them
    policy = verdicts.Policy(looks=len(verdicts.look_schedule(plan.min_runs, plan.max_runs)))
    for baseline_runs in BASELINE_RUNS:
        for move in MOVES:
            outcomes, at = collections.Counter(), []
            for _ in range(args.trials):
                outcome, n = ok_outcome(
                    np.exp(rng.normal(0, sigma, baseline_runs)),
                    np.exp(rng.normal(-math.log1p(move), sigma, plan.max_runs)), plan, policy)
                outcomes[outcome] += 1
                at.append(n)
            shares = " / ".join(f"{outcomes[o] / args.trials:4.0%}"
                                for o in ("given", "refused", "held"))
            print(f"{baseline_runs:13} | {move:16.0%} | {shares:25} | {statistics.median(at):.0f}")


if __name__ == "__main__":
    main()
