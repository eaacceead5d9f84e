"""Gate decisions drawn from a pool of recorded runs (collect.py), with the gate's own code.

Two modes, as a CI job would use them:

- **baseline**: a stored baseline (`--baseline-runs` undisturbed runs of the unchanged `A`,
  taken in a row, as `peoplenet-gate record` takes them), then the current build's runs one
  at a time, judged by `pnsuite.verdict.gate.sequential_check` as `peoplenet-gate check` judges
  them: the noise preflight first, as many runs as fit the time budget on the pool's clock,
  a look on the schedule, stop when decided. Each baseline serves
  `--decisions-per-baseline` decisions; baselines are disjoint.
- **ab**: pairs of runs (`A`, and each other condition), judged by `pnsuite.verdict.ab.sequential`
  with the plan's defaults. Each side's runs are taken in time order; a disturbed run is
  taken again from that side's next run in the pool (`ab.undisturbed_run`, as
  `peoplenet-gate ab` measures a disturbed side again); before each pair the side whose
  next run is older drops runs until both next runs start within two blocks (`align`), so
  a pair's two runs are from the same block of four or a nearby one.

Within a mode, no two decisions share a current-side run: every decision consumes the
current-side runs it takes (disturbed ones too), in time order. Reference-side runs
(`A`) are shared between the conditions. For unchanged builds (`B0`) the A/B mode also
draws decisions the other way round (current `A` against reference `B0`), each `A` run
being the current side of at most one such decision. The two modes draw from the same
pool independently of each other.

With `--every-start` the A/B mode draws instead one decision per direction begun at every
block of the pool. Those decisions overlap, so they are not independent; they say what a
decision started anywhere in the pool would answer, where the disjoint cut's counts depend
on the block where each decision happened to begin (`--skip-blocks` shifts that cut).
`--min-pairs`, `--max-pairs` and `--ab-budget-s` are `peoplenet-gate ab`'s options of those
names (the looks follow from the first two, `verdicts.look_schedule`).

A pool's runs are read as pnsuite.measure.run.MeasuredRun. Pools recorded before the
measurement engine (rounds of a fixed request count: quiet.jsonl, drift.jsonl) are read
with the median round time standing for the time per inference (the same factor on every
run, which the ratios cancel). Only each server's first measurement (`repeat` 0) is drawn.

A decision's time on the runner: for a legacy pool, what its runs took from one start to
the next; for a pool of blocks (collect.py's `measure_s` and `block_start_s`), each pair
costs the fastest start of its block (two servers starting side by side start no slower
than the block's many) plus both runs' measurements, and each check run the same start
plus its measurement, plus STOP_S for the servers' stop.

    python benchmarks/gate_decisions/decide.py results/gate-decisions/quiet.jsonl --out FILE.json
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any, Iterator

import statistics

from pnsuite.cli import gate as gate_cli
from pnsuite.measure import run as engine
from pnsuite.measure import runsets
from pnsuite.measure.run import MeasuredRun, Window
from pnsuite.measure.runsets import RunSet
from pnsuite.verdict import ab, gate, verdicts

RunSample = MeasuredRun
#: what stopping a pair's (or a check run's) servers adds to its time
STOP_S = 3.0


class PoolExhausted(Exception):
    """The pool ran out in the middle of a decision."""
BENCH = "reduced[c1]"


def legacy_run(data: dict[str, Any]) -> MeasuredRun:
    """A run recorded before the engine: rounds of a fixed request count."""
    rounds = data["rounds_s"]
    windows = [Window(requests=1, seconds=t, latency_p99_ms=data["latency_p99_ms"],
                      foreign_cores=f) for t, f in zip(rounds, data["foreign_cores"])]
    return MeasuredRun(concurrency=1, windows=windows, counted=len(windows), stable=True,
                       inference_ms=statistics.median(rounds) * 1e3,
                       latency_p99_ms=data["latency_p99_ms"],
                       compute_infer_ms=data["compute_infer_ms"], cores=data["cores"],
                       started=data["started"], probe_ms=data.get("probe_ms"),
                       labels=data["labels"])


def load(path: Path) -> list[MeasuredRun]:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    runs = [legacy_run(d) if "rounds_s" in d else MeasuredRun.from_json(d) for d in lines]
    runs = [r for r in runs if r.labels.get("repeat", 0) == 0]
    floors: dict[Any, float] = {}
    for r in runs:  # the fastest start of each start-up (copies share one)
        if r.start_s is not None:
            key = (r.labels["block"] // r.labels.get("copies", 1))
            floors[key] = min(floors.get(key, r.start_s), r.start_s)
    for r in runs:
        if r.start_s is not None:
            r.labels["start_floor_s"] = floors[r.labels["block"] // r.labels.get("copies", 1)]
    return runs


def conditions_of(samples: list[MeasuredRun]) -> list[str]:
    return sorted({s.labels["condition"] for s in samples} - {"A"})


def as_bench(sample: RunSample, index: int) -> MeasuredRun:
    """The pool's run as the gate reads a stored one: labelled with its benchmark and a
    source of its own (the gate takes one probe per source)."""
    return dataclasses.replace(sample, labels={**sample.labels, runsets.BENCHMARK: BENCH,
                                               runsets.SOURCE: f"run-{index}"})


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


def duration(times: dict[float, float], runs: list[RunSample], paired: bool = False) -> float:
    """A decision's own time on the runner: what its runs took (`run_times` of a legacy
    pool), or for a pool of blocks its starts, measurements and stops (`paired`: two runs
    share one start and one stop)."""
    if runs and "measure_s" in runs[0].labels:
        starts = sum(r.labels["start_floor_s"] + STOP_S for r in runs)
        return sum(r.labels["measure_s"] for r in runs) + (starts / 2 if paired else starts)
    return sum(times[r.started] for r in runs)


def baseline_decisions(samples: list[RunSample], baseline_runs: int, plan: gate.CheckPlan,
                       decisions_per_baseline: int, policy: verdicts.Policy,
                       ignore_noise: bool = False,
                       across: float | None = None) -> Iterator[dict[str, Any]]:
    """Checks against stored baselines; with `across` (a time), the baselines are from the
    runs started before it and the current runs from those started after it."""
    times = run_times(samples)
    by = collections.defaultdict(list)
    for s in samples:
        if across is None or (s.started < across) == (s.labels["condition"] == "A"):
            by[s.labels["condition"]].append(s)
    clean_a = [s for s in by["A"] if not s.disturbed]
    baselines = [clean_a[i:i + baseline_runs]
                 for i in range(0, len(clean_a) - baseline_runs + 1, baseline_runs)]
    for condition in conditions_of(samples):
        queue = list(by[condition])
        for k, base in enumerate(baselines):
            baseline = run_set(base, "baseline")
            for _ in range(decisions_per_baseline):
                taken: list[RunSample] = []

                def measure() -> RunSet:
                    if not queue:
                        raise PoolExhausted
                    taken.append(queue.pop(0))
                    return run_set(taken, "current")

                def clock() -> float:  # the pool's own time: the runs this decision took
                    return duration(times, taken)

                try:
                    result = gate.sequential_check(baseline, measure, plan, policy, clock,
                                                   ignore_noise)
                except PoolExhausted:
                    break  # this condition's runs are used up mid-decision: not counted
                rows = result.report.rows if result.report else []
                row = next((r for r in rows if r.comparison.metric == verdicts.GATED), None)
                runner = result.report.runner if result.report else None
                yield {"mode": "baseline", "condition": condition, "baseline": k,
                       "verdict": result.verdict if result.runs
                       else f"{result.verdict} (preflight)",
                       "measured": result.report.measured_verdict if result.report else None,
                       "runner_change": round(runner.comparison.change, 4) if runner else None,
                       "runner_refused": bool(result.report and result.report.runner_moved),
                       "runner_held": bool(result.report and result.report.runner_unseen),
                       "runs": len(taken), "planned": result.planned,
                       "detectable": round(max((p.detectable for p in result.preflight),
                                               default=float("nan")), 4),
                       "left_out": len(result.report.left_out) if result.report else 0,
                       "change": row.comparison.change if row else None,
                       "stopped": result.stopped_because,
                       "seconds": round(duration(times, taken), 1)}


#: how far apart in time a pair's two runs may start: two blocks of the pool (a real `ab`
#: measures them back to back)
PAIR_SPAN_S = 60.0


def align(a: list[RunSample], b: list[RunSample]) -> None:
    """Drop the older head of the two queues until their next runs are within PAIR_SPAN_S.

    Retries take a side's runs faster than the other's, so without this the two queues
    drift apart over the pool, until a pair holds runs from minutes or hours (another
    stretch of the pool, at another level of the runner) apart. Dropped runs are used by no
    decision."""
    while a and b and abs(a[0].started - b[0].started) > PAIR_SPAN_S:
        (a if a[0].started < b[0].started else b).pop(0)


def ab_decisions(samples: list[RunSample], plan: ab.Plan,
                 policy: verdicts.Policy, first_only: bool = False) -> Iterator[dict[str, Any]]:
    """The pool cut into disjoint decisions, each direction in time order (`first_only`:
    each direction's first decision only)."""
    times = run_times(samples)
    by = collections.defaultdict(list)
    for s in sorted(samples, key=lambda s: s.started):
        by[s.labels["condition"]].append(s)
    directions = [(c, "A", c) for c in conditions_of(samples)] + [("B0 (reversed)", "B0", "A")]
    for name, reference, current in directions:
        queues = {reference: list(by[reference]), current: list(by[current])}
        while all(queues.values()):
            used: list[RunSample] = []

            def take(condition: str) -> RunSample:
                if not queues[condition]:
                    raise PoolExhausted
                used.append(queues[condition].pop(0))
                return used[-1]

            def measure(_: int) -> tuple[RunSample, RunSample]:
                align(queues[reference], queues[current])
                # a disturbed run is taken again from its condition's next run in the pool
                return (ab.undisturbed_run(lambda: take(reference), plan.retries),
                        ab.undisturbed_run(lambda: take(current), plan.retries))

            def clock() -> float:  # the pool's own time: the runs this decision took
                return duration(times, used, paired=True) if used else 0.0

            try:
                result = ab.sequential(measure, plan, policy, reference, current, clock=clock)
            except PoolExhausted:
                break  # the pool ran out in the middle of a decision: not counted
            row = next((r for r in result.rows if r.comparison.metric == verdicts.GATED), None)
            yield {"mode": "ab", "condition": name, "verdict": result.verdict,
                   "first_block": min(r.labels["block"] for r in used),
                   "last_block": max(r.labels["block"] for r in used),
                   "pairs": len(result.pairs), "runs": len(used),
                   "left_out": len(result.left_out),
                   "change": row.comparison.change if row else None,
                   "stopped": result.stopped_because,
                   "seconds": round(duration(times, used, paired=True), 1)}
            if first_only:
                break


def ab_every_start(samples: list[RunSample], plan: ab.Plan,
                   policy: verdicts.Policy) -> Iterator[dict[str, Any]]:
    """One decision per direction begun at every block of the pool: what a decision
    started there would say. They overlap (block k's and block k+1's share most runs), so
    they are not independent; they show what the disjoint cut (`ab_decisions`) owes to the
    block where it happened to begin."""
    for start in sorted({s.labels["block"] for s in samples}):
        for decision in ab_decisions([s for s in samples if s.labels["block"] >= start],
                                     plan, policy, first_only=True):
            yield {**decision, "start_block": start}


def summarise(decisions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for d in decisions:
        key = f"{d['mode']} {d['condition']}"
        row = table.setdefault(key, {"decisions": 0, "red": 0, "ok": 0, "inconclusive": 0,
                                     "runner_refused": 0, "runner_held": 0, "seconds": []})
        row["decisions"] += 1
        row["runner_refused"] += bool(d.get("runner_refused"))
        row["runner_held"] += bool(d.get("runner_held"))
        verdict = d["verdict"]
        row["red" if verdict == verdicts.REGRESSION else
            "ok" if verdict in (verdicts.OK, verdicts.IMPROVED) else "inconclusive"] += 1
        row["seconds"].append(d["seconds"])
    for row in table.values():
        seconds = sorted(row.pop("seconds"))
        row["median_s"] = seconds[len(seconds) // 2] if seconds else 0
        row["max_s"] = seconds[-1] if seconds else 0
    return table


def utc_timestamp(text: str) -> float:
    """An ISO 8601 time without a zone, read as UTC, as the pool's `started` seconds."""
    return datetime.datetime.fromisoformat(text).replace(
        tzinfo=datetime.timezone.utc).timestamp()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pool", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--baseline-runs", type=int, default=gate_cli.DEFAULT_RECORD_RUNS,
                        help="runs of each stored baseline (default: `peoplenet-gate record`'s)")
    check = gate.CheckPlan()  # the defaults of `peoplenet-gate check`
    parser.add_argument("--min-runs", type=int, default=check.min_runs)
    parser.add_argument("--max-runs", type=int, default=check.max_runs)
    parser.add_argument("--budget-s", type=float, default=check.budget_s,
                        help="a check's time budget, on the pool's clock")
    parser.add_argument("--decisions-per-baseline", type=int, default=4)
    parser.add_argument("--threshold", type=float, default=verdicts.DEFAULT_THRESHOLD)
    parser.add_argument("--alpha", type=float, default=verdicts.DEFAULT_ALPHA)
    parser.add_argument("--tail-threshold", type=float, default=verdicts.DEFAULT_TAIL_THRESHOLD)
    parser.add_argument("--red-rule", choices=verdicts.RED_RULES, default="asv",
                        help="asv (the gate's) or interval (red only when the whole interval "
                             "is past the threshold), to compare what each costs")
    parser.add_argument("--min-pairs", type=int, default=ab.Plan().min_pairs,
                        help="A/B: the first look (peoplenet-gate ab --min-pairs); the looks "
                             "follow from it and --max-pairs (verdicts.look_schedule)")
    parser.add_argument("--max-pairs", type=int, default=ab.Plan().max_pairs,
                        help="A/B: the most pairs and the last look (peoplenet-gate ab "
                             "--max-pairs)")
    parser.add_argument("--ab-budget-s", type=float, default=ab.Plan().budget_s,
                        help="A/B: the time budget on the pool's clock (peoplenet-gate ab "
                             "--budget-s)")
    parser.add_argument("--skip-blocks", type=int, default=0,
                        help="leave out the pool's first N blocks: the decisions are drawn "
                             "from a shifted start, so another partition of the same runs "
                             "(how much a rate owes to where the draw began)")
    parser.add_argument("--every-start", action="store_true",
                        help="A/B: one decision per direction begun at every block of the pool "
                             "(overlapping), instead of the pool cut into disjoint decisions")
    parser.add_argument("--mode", choices=("both", "ab", "baseline"), default="both",
                        help="which decisions to draw (default both)")
    parser.add_argument("--ignore-noise", action="store_true",
                        help="baseline mode: measure even where the preflight says the noise "
                             "hides the threshold (peoplenet-gate check --ignore-noise)")
    parser.add_argument("--probed-only", action="store_true",
                        help="draw decisions from the runs that carry the runner-speed probe "
                             "only (both sides of every check probed)")
    parser.add_argument("--no-runner-check", action="store_true",
                        help="baseline mode: leave the runner-speed probe out, as a check "
                             "against a baseline recorded without it")
    parser.add_argument("--across", metavar="TIME", type=utc_timestamp,
                        help="baseline mode only: baselines from the runs started before TIME "
                             "(ISO 8601, UTC), current runs from those started after it, as a "
                             "check against a baseline recorded in an earlier session")
    parser.add_argument("--keep-disturbed", action="store_true",
                        help="judge disturbed runs too, as a gate without the neighbour "
                             "check would (what the statistics alone do under drift)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.keep_disturbed:
        engine.DISTURBED_SHARE = float("inf")
    samples = [s for s in load(args.pool) if s.labels["block"] >= args.skip_blocks]
    if args.probed_only:
        samples = [s for s in samples if s.probe_ms]
    if args.no_runner_check:
        for sample in samples:
            sample.probe_ms = None
    policy = verdicts.Policy(threshold=args.threshold, alpha=args.alpha,
                             tail_threshold=args.tail_threshold, red_rule=args.red_rule)
    # `peoplenet-gate ab`'s plan, its time budget on the pool's clock
    plan = ab.Plan(min_pairs=args.min_pairs, max_pairs=args.max_pairs,
                   budget_s=args.ab_budget_s)
    check = gate.CheckPlan(args.min_runs, args.max_runs, args.budget_s)
    decisions = [*(baseline_decisions(samples, args.baseline_runs, check,
                                      args.decisions_per_baseline, policy, args.ignore_noise,
                                      args.across) if args.mode != "ab" else ()),
                 *((ab_every_start if args.every_start else ab_decisions)(
                     samples, plan, policy)
                   if args.across is None and args.mode != "baseline" else ())]
    disturbed = sum(max(s.foreign_cores, default=0.0) > 0.25 * s.cores for s in samples)
    summary = summarise(decisions)
    print(f"{args.pool}: {len(samples)} runs, {disturbed} disturbed")
    for key, row in summary.items():
        print(f"{key:22} {row}")
    if args.out:
        args.out.write_text(json.dumps({
            "pool": str(args.pool), "runs": len(samples), "disturbed": disturbed,
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "plan": {**dataclasses.asdict(plan), "memory": plan.memory.value},
            "looks": verdicts.look_schedule(plan.min_pairs, plan.max_pairs),
            "check_plan": dataclasses.asdict(check),
            "summary": summary, "decisions": decisions}, indent=1) + "\n")


if __name__ == "__main__":
    main()
