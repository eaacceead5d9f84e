"""Where a pool's run-to-run noise comes from: between server starts, between loads on one
server, between measurements of one load, and between the windows of one measurement.

Reads a collect.py pool (MeasuredRun lines); with `--repeats 3` each server was measured
three times (repeat 0 and 1 on one load, back to back; repeat 2 on a new load). Spreads are
standard deviations of log values (0.05 = about 5%):

- window: the counted windows' throughputs within one measurement;
- same load: repeat 0 against repeat 1 (the difference's spread over the square root of 2);
- new load: repeat 1 against repeat 2 (a new set of client processes on the same server);
- runs: first measurements of one condition, across servers (each its own start), within
  one start-up of `--copies` servers and across start-ups;
- pair: log(B / A) of two servers of one block (what `peoplenet-gate ab` judges);
- round: with `--copies N`, the pairs of one start-up (`ab --pairs-per-start N`) split
  into a between-round and a within-round variance of log(B / A) (one-way ANOVA). A
  between-round part near 0 says the pairs of a round are as independent as pairs of
  different rounds, which `--pairs-per-start` assumes.

    python benchmarks/gate_decisions/components.py POOL.jsonl
"""

from __future__ import annotations

import argparse
import collections
import json
import math
from pathlib import Path

import numpy as np

from pnsuite.measure.run import MeasuredRun


def spread(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pool", type=Path)
    args = parser.parse_args()
    runs = [MeasuredRun.from_json(json.loads(line))
            for line in args.pool.read_text().splitlines() if line.strip()]
    servers: dict[tuple[int, str], dict[int, MeasuredRun]] = collections.defaultdict(dict)
    for run in runs:
        servers[(run.labels["block"], run.labels["condition"])][run.labels.get("repeat", 0)] = run
    windows = [spread([math.log(w.throughput) for w in r.counted_windows]) for r in runs]
    print(f"{args.pool}: {len(runs)} measurements of {len(servers)} servers")
    print(f"window (within one measurement): {math.sqrt(np.nanmean(np.square(windows))):.3f}")
    for name, (a, b) in {"same load": (0, 1), "new load": (1, 2)}.items():
        diffs = [math.log(v[b].inference_ms / v[a].inference_ms)
                 for v in servers.values() if a in v and b in v]
        if len(diffs) > 1:
            print(f"{name}: {spread(diffs) / math.sqrt(2):.3f} ({len(diffs)} servers)")
    firsts = [v[0] for v in servers.values() if 0 in v]
    by_condition = collections.defaultdict(list)
    for run in firsts:
        by_condition[run.labels["condition"]].append(run)
    reference = by_condition.get("A", [])
    for condition, group in sorted(by_condition.items()):
        logs = [math.log(r.inference_ms) for r in group]
        line = (f"runs {condition}: {len(group)}, geometric mean {math.exp(np.mean(logs)):.3f} ms"
                f"/inference, spread {spread(logs):.3f}")
        if condition != "A" and reference:
            a = {r.labels["block"]: r for r in reference}
            pairs = [math.log(r.inference_ms / a[r.labels["block"]].inference_ms)
                     for r in group if r.labels["block"] in a]
            line += (f"; pairs with A: {len(pairs)}, B/A {math.expm1(np.mean(pairs)):+.1%}, "
                     f"spread of log(B/A) {spread(pairs):.3f}")
        print(line)
        if condition != "A" and reference:
            kinship = round_kinship(reference, group)
            if kinship:
                print(kinship)


def round_kinship(reference: list[MeasuredRun], group: list[MeasuredRun]) -> str:
    """The between-round and within-round variance of log(B/A) for pools with copies > 1
    ("" for pools of one copy, or fewer than 2 rounds of 2 pairs)."""
    copies = int(group[0].labels.get("copies", 1))
    a = {r.labels["block"]: r for r in reference}
    rounds: dict[int, list[float]] = collections.defaultdict(list)
    first = min(r.labels["block"] for r in reference + group)
    for run in group:
        if run.labels["block"] in a:
            rounds[(run.labels["block"] - first) // copies].append(
                math.log(run.inference_ms / a[run.labels["block"]].inference_ms))
    rounds = {k: v for k, v in rounds.items() if len(v) > 1}
    values = [v for g in rounds.values() for v in g]
    if copies < 2 or len(rounds) < 2:
        return ""
    grand = float(np.mean(values))
    between = sum(len(g) * (np.mean(g) - grand) ** 2 for g in rounds.values()) / (len(rounds) - 1)
    within = sum((v - np.mean(g)) ** 2 for g in rounds.values() for v in g) / \
        (len(values) - len(rounds))
    part = max(0.0, (between - within) / copies)
    return (f"  rounds of {copies}: {len(rounds)}; variance of log(B/A) between rounds "
            f"{part:.4f}, within {within:.4f} (mean squares {between:.4f} and {within:.4f})")


if __name__ == "__main__":
    main()
