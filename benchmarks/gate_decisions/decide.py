"""Gate decisions drawn from a pool of recorded runs (collect.py), with the gate's own code.

Two modes, as a CI job would use them:

- **baseline**: a stored baseline (BASELINE_RUNS undisturbed runs of the unchanged `A`,
  taken in a row, as `peoplenet-gate record` takes them), then the current build's runs one
  at a time (`peoplenet-gate check`: the noise preflight first, a look after each run from
  MIN_RUNS on, stop when decided or after MAX_RUNS), judged by `pnsuite.perf.gate`.
  Each baseline serves several decisions; baselines are disjoint.
- **ab**: pairs of runs (`A`, and `B0`/`B10`/`B15` of the same block: taken in turns, in
  random order), judged by `pnsuite.perf.ab.sequential` with the plan's defaults.

Within a mode, no two decisions share a current-side run: every decision consumes the
current-side runs it looks at (a disturbed one too), in time order. Reference-side runs
(`A`) are shared between the conditions. For unchanged builds (`B0`) the A/B mode also
draws decisions the other way round (current `A` against reference `B0`), each `A` run
being the current side of at most one such decision. The two modes draw from the same
pool independently of each other.

    python benchmarks/gate_decisions/decide.py results/gate-decisions/quiet.jsonl --out FILE.json
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
from pathlib import Path
from typing import Any, Iterator

from pnsuite.perf import ab, gate, runsets, verdicts
from pnsuite.perf.runsets import BenchmarkRun, RunSet
from pnsuite.perf.sampling import METRICS, RunSample

CONDITIONS = ("B0", "B10", "B15")


class PoolExhausted(Exception):
    """The pool ran out in the middle of a decision."""
BENCH = "reduced[c1]"


def load(path: Path) -> list[RunSample]:
    return [RunSample.from_json(json.loads(line)) for line in path.read_text().splitlines()
            if line.strip()]


def as_bench(sample: RunSample, index: int) -> BenchmarkRun:
    return BenchmarkRun(Path(f"run-{index}"), BENCH,
                        {m: sample.metric(m) for m in METRICS},
                        max(sample.foreign_cores, default=0.0), sample.cores)


def run_set(samples: list[RunSample], label: str) -> RunSet:
    result = RunSet(label, [Path(f"{label}-{i}") for i in range(len(samples))],
                    [{} for _ in samples])
    result.benchmarks[BENCH] = [as_bench(s, i) for i, s in enumerate(samples)]
    return result


def run_times(samples: list[RunSample]) -> dict[float, float]:
    """What each run took: from its start to the next run's start in the pool (its server's
    start, warm-up and rounds). Across a pause in the collection, the median run's time."""
    starts = sorted(s.started for s in samples)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    typical = sorted(gaps)[len(gaps) // 2] if gaps else 5.0
    return {a: (gap if gap < 4 * typical else typical)
            for a, gap in zip(starts, [*gaps, typical])}


def duration(times: dict[float, float], runs: list[RunSample]) -> float:
    """A decision's own time on the runner: what its runs took (`run_times` of the pool)."""
    return sum(times[r.started] for r in runs)


def baseline_decisions(samples: list[RunSample], baseline_runs: int, min_runs: int,
                       max_runs: int, decisions_per_baseline: int,
                       policy: verdicts.Policy, ignore_noise: bool = False
                       ) -> Iterator[dict[str, Any]]:
    times = run_times(samples)
    by = collections.defaultdict(list)
    for s in samples:
        by[s.labels["condition"]].append(s)
    clean_a = [s for s in by["A"] if not ab.disturbed(s)]
    baselines = [clean_a[i:i + baseline_runs]
                 for i in range(0, len(clean_a) - baseline_runs + 1, baseline_runs)]
    looks = dataclasses.replace(policy, looks=len(verdicts.look_schedule(min_runs, max_runs)))
    for condition in CONDITIONS:
        queue = list(by[condition])
        for k, base in enumerate(baselines):
            if not queue:
                break
            baseline = run_set(base, "baseline")
            planned = gate.preflight(baseline, max_runs, looks)
            for _ in range(decisions_per_baseline):
                if not ignore_noise and \
                        any(p.detectable > looks.threshold_of(p.metric) for p in planned):
                    yield {"mode": "baseline", "condition": condition, "baseline": k,
                           "verdict": "inconclusive (preflight)", "runs": 0, "seconds": 0.0,
                           "detectable": max(p.detectable for p in planned)}
                    continue
                taken: list[RunSample] = []
                report = None
                due = verdicts.Looks(min_runs, max_runs)
                while len(taken) < max_runs and queue:
                    taken.append(queue.pop(0))
                    current = run_set(taken, "current")
                    if due.due(len(current.runs_of(BENCH))):
                        report = gate.compare_sets(baseline, current, looks)
                        if report.verdict != verdicts.INCONCLUSIVE:
                            break
                if report is None and not queue:
                    break  # this condition's runs are used up mid-decision: not counted
                if report is None:
                    report = gate.compare_sets(baseline, run_set(taken, "current"), looks)
                row = next(r for r in report.rows if r.comparison.metric == "round_s") \
                    if report.rows else None
                yield {"mode": "baseline", "condition": condition, "baseline": k,
                       "verdict": report.verdict, "runs": len(taken),
                       "left_out": len(report.left_out),
                       "change": row.comparison.change if row else None,
                       "seconds": round(duration(times, taken), 1)}


def ab_decisions(samples: list[RunSample], plan: ab.Plan,
                 policy: verdicts.Policy) -> Iterator[dict[str, Any]]:
    times = run_times(samples)
    blocks: dict[int, dict[str, RunSample]] = collections.defaultdict(dict)
    for s in samples:
        blocks[s.labels["block"]][s.labels["condition"]] = s
    ordered = [blocks[b] for b in sorted(blocks)]
    directions = [(c, "A", c) for c in CONDITIONS] + [("B0 (reversed)", "B0", "A")]
    for name, reference, current in directions:
        pairs = [(b[reference], b[current]) for b in ordered if reference in b and current in b]
        position = 0
        while position < len(pairs):
            used: list[tuple[RunSample, RunSample]] = []

            def measure(_: int) -> tuple[RunSample, RunSample]:
                nonlocal position
                if position >= len(pairs):
                    raise PoolExhausted
                pair = pairs[position]
                position += 1
                used.append(pair)
                return pair

            def clock() -> float:  # the pool's own time: the runs this decision took
                runs = [r for pair in used for r in pair]
                return duration(times, runs) if runs else 0.0

            try:
                result = ab.sequential(measure, plan, policy, reference, current, clock=clock)
            except PoolExhausted:
                break  # the pool ran out in the middle of a decision: not counted
            row = next((r for r in result.rows if r.comparison.metric == "round_s"), None)
            runs = [r for pair in used for r in pair]
            yield {"mode": "ab", "condition": name, "verdict": result.verdict,
                   "pairs": len(result.pairs), "tried": len(used),
                   "change": row.comparison.change if row else None,
                   "stopped": result.stopped_because,
                   "seconds": round(duration(times, runs), 1)}


def summarise(decisions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for d in decisions:
        key = f"{d['mode']} {d['condition']}"
        row = table.setdefault(key, {"decisions": 0, "red": 0, "ok": 0, "inconclusive": 0,
                                     "seconds": []})
        row["decisions"] += 1
        verdict = d["verdict"]
        row["red" if verdict == verdicts.REGRESSION else
            "ok" if verdict in (verdicts.OK, verdicts.IMPROVED) else "inconclusive"] += 1
        row["seconds"].append(d["seconds"])
    for row in table.values():
        seconds = sorted(row.pop("seconds"))
        row["median_s"] = seconds[len(seconds) // 2] if seconds else 0
        row["max_s"] = seconds[-1] if seconds else 0
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pool", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--baseline-runs", type=int, default=10)
    parser.add_argument("--min-runs", type=int, default=3)
    parser.add_argument("--max-runs", type=int, default=10)
    parser.add_argument("--decisions-per-baseline", type=int, default=4)
    parser.add_argument("--threshold", type=float, default=verdicts.DEFAULT_THRESHOLD)
    parser.add_argument("--alpha", type=float, default=verdicts.DEFAULT_ALPHA)
    parser.add_argument("--ignore-noise", action="store_true",
                        help="baseline mode: measure even where the preflight says the noise "
                             "hides the threshold (peoplenet-gate check --ignore-noise)")
    parser.add_argument("--keep-disturbed", action="store_true",
                        help="judge disturbed runs too, as a gate without the neighbour "
                             "check would (what the statistics alone do under drift)")
    args = parser.parse_args()
    if args.keep_disturbed:
        ab.DISTURBED_SHARE = runsets.DISTURBED_SHARE = float("inf")
    samples = load(args.pool)
    policy = verdicts.Policy(args.threshold, args.alpha)
    plan = ab.Plan()  # the defaults of `peoplenet-gate ab`, its time budget on the pool's clock
    decisions = [*baseline_decisions(samples, args.baseline_runs, args.min_runs, args.max_runs,
                                     args.decisions_per_baseline, policy, args.ignore_noise),
                 *ab_decisions(samples, plan, policy)]
    disturbed = sum(max(s.foreign_cores, default=0.0) > 0.25 * s.cores for s in samples)
    summary = summarise(decisions)
    print(f"{args.pool}: {len(samples)} runs, {disturbed} disturbed")
    for key, row in summary.items():
        print(f"{key:22} {row}")
    if args.out:
        args.out.write_text(json.dumps({
            "pool": str(args.pool), "runs": len(samples), "disturbed": disturbed,
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "plan": dataclasses.asdict(plan),
            "summary": summary, "decisions": decisions}, indent=1) + "\n")


if __name__ == "__main__":
    main()
