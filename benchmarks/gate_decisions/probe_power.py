"""How often the gate's runner-speed rule (`pnsuite.perf.runner_speed.RunnerShift.moved`)
flags a move of the runner, at the probe noise measured in a pool (collect.py).

The noise is the log spread of the undisturbed runs' probes, leaving out the blocks given
with --episode (a stretch where the host itself moved). Each cell is the share of 2000
simulated checks, a 10-run baseline against N current runs, flagged as moved.

    python benchmarks/gate_decisions/probe_power.py results/gate-decisions/drift.jsonl --episode 349-353
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import numpy as np

from pnsuite.perf import runner_speed, runsets, verdicts

SHIFTS = (0.0, 0.05, 0.10, 0.15, 0.25)
CURRENT_RUNS = (3, 5, 8, 12, 27, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pool", type=Path)
    parser.add_argument("--episode", default="", help="blocks FIRST-LAST to leave out")
    parser.add_argument("--baseline-runs", type=int, default=10)
    parser.add_argument("--trials", type=int, default=2000)
    args = parser.parse_args()
    first, last = (int(b) for b in args.episode.split("-")) if args.episode else (1, 0)
    runs = [json.loads(line) for line in args.pool.read_text().splitlines() if line.strip()]
    probes = [r["probe_ms"] for r in runs if r.get("probe_ms")
              and max(r["foreign_cores"]) <= runsets.DISTURBED_SHARE * r["cores"]
              and not first <= r["labels"]["block"] <= last]
    sigma = statistics.stdev(math.log(p) for p in probes)
    print(f"probe noise: {sigma:.1%} per run (log sd) over {len(probes)} undisturbed runs")
    print("current runs | flagged at a move of " + " / ".join(f"{s:.0%}" for s in SHIFTS))
    rng, policy = np.random.default_rng(0), verdicts.Policy()
    for n in CURRENT_RUNS:
        cells = []
        for move in SHIFTS:
            flagged = sum(runner_speed.shift(
                np.exp(rng.normal(0, sigma, args.baseline_runs)),
                np.exp(rng.normal(math.log1p(move), sigma, n)), policy).moved
                for _ in range(args.trials))
            cells.append(f"{flagged / args.trials:4.0%}")
        print(f"{n:12} | " + " / ".join(cells))


if __name__ == "__main__":
    main()
