"""`peoplenet-gate`: perf verdicts a CI gate can trust, with independent runs as the unit.

    peoplenet-gate record NAME [--runs 10] [-- PYTEST ARGS]    record a baseline: NAME's runs
    peoplenet-gate check NAME [--label L] [-- PYTEST ARGS]     record runs of this build until
                                                               the verdict against NAME is decided
                                                               (at most --budget-s, 330 s)
    peoplenet-gate compare BASELINE CURRENT                    judge two recorded run sets
    peoplenet-gate accept BASELINE CURRENT                     CURRENT's runs join BASELINE in
                                                               the results store (it rolls on)
    peoplenet-gate noise BASELINE                              this runner's run-to-run noise
    peoplenet-gate ab --a REPO --b REPO [...]                  A against B, measured in turns

A run is one pytest session of the recorded benchmarks (`pytest -m recorded_benchmark`;
its servers start once), saved in pytest-benchmark's storage (`--benchmark-storage`, default
.benchmarks). BASELINE and CURRENT name run sets: a saved name (every run saved under
it), a JSON file, a directory of them, or several of these separated by commas.
`./suite gate ARGS` is this command.

Exit codes: 0 passed, 1 regression (or a baseline benchmark missing), 2 refused (not
comparable, no such run, too few runs, a broken file), 3 inconclusive (its line names the
reason's code and the step that would decide it: docs/perf-and-gate.md, "Inconclusive").
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pnsuite.cli.vocabulary import add_option
from pnsuite.cli.window_options import add_window_options, window_plan_of
from pnsuite.client.image_set import answer_images
from pnsuite.client.memory import Memory
from pnsuite.errors import SuiteError
from pnsuite.history.history import SOURCE_KEY
from pnsuite.measure import recorder, runsets
from pnsuite.platform.defaults import RELEASE_INSTALL
from pnsuite.server.factory import CHOICES, make_launcher
from pnsuite.store import open_store, queries
from pnsuite.store.results_store import redacted
from pnsuite.verdict import ab, gate, verdicts
from pnsuite.verdict.gate_text import closing_line, format_preflight, format_rows, runner_line

PASSED, REGRESSED, REFUSED, INCONCLUSIVE = 0, 1, 2, 3
EXIT_CODES = {
    verdicts.OK: PASSED,
    verdicts.REGRESSION: REGRESSED,
    verdicts.INCONCLUSIVE: INCONCLUSIVE,
}
COMMANDS = ("record", "check", "compare", "accept", "noise", "ab")
#: a baseline's runs; `record` says when this runner's noise needs more (`baseline_advice`)
DEFAULT_RECORD_RUNS = 10
#: the rolling baseline a store holds: its newest runs, of the last days (see queries.baseline_runs)
DEFAULT_POOL_RUNS, DEFAULT_POOL_DAYS = 60, 90


def policy_of(args: argparse.Namespace, looks: int = 1) -> verdicts.Policy:
    thresholds = {}
    for item in args.metric_threshold or []:
        name, sep, value = item.partition("=")
        if not sep or name not in verdicts.GATE_METRICS:
            raise verdicts.VerdictError(
                f"--metric-threshold {item!r}: expected METRIC=FRACTION "
                f"with METRIC one of {', '.join(verdicts.GATE_METRICS)}"
            )
        thresholds[name] = float(value)
    return verdicts.Policy(
        threshold=args.threshold,
        tail_threshold=args.tail_threshold,
        alpha=args.alpha,
        looks=looks,
        metric_thresholds=thresholds,
    )


def run_set(ref: str, args: argparse.Namespace) -> runsets.RunSet:
    """The runs `ref` names: from the results store when one is given and holds runs of
    that label, else files, folders or saved names in the pytest-benchmark storage."""
    if args.store and "," not in ref and not Path(ref).exists():
        with open_store(args.store) as store:
            stored = queries.baseline_runs(store, ref)
        documents = queries.newest(
            stored,
            max_runs=args.baseline_max_runs or None,
            max_age=dt.timedelta(days=args.baseline_max_age_days)
            if args.baseline_max_age_days
            else None,
        )
        if stored and not documents:
            raise verdicts.VerdictError(
                f"{ref}: none of its {len(stored)} runs in the results store is of the last "
                f"{args.baseline_max_age_days} days",
                "record the baseline again (ci/jetson-perf.sh record), or raise "
                "--baseline-max-age-days",
            )
        if len(documents) < len(stored):
            print(
                f"baseline {ref}: the newest {len(documents)} of its {len(stored)} runs "
                f"(--baseline-max-runs {args.baseline_max_runs}, --baseline-max-age-days "
                f"{args.baseline_max_age_days})"
            )
        if documents:
            return runsets.set_of(ref, [(Path(d[SOURCE_KEY]), d) for d in documents])
    return runsets.load_set([r for r in ref.split(",") if r], args.storage, label=ref)


def _print_report(
    baseline: runsets.RunSet,
    current: runsets.RunSet,
    report: gate.GateReport,
    notes: Sequence[str],
    reason: verdicts.Undecided | None,
    json_path: str | None = None,
) -> int:
    """Print the report and its closing line (with `reason`, where inconclusive), write its
    JSON to `json_path` if given; the exit code."""
    print(f"baseline: {baseline.label} ({len(baseline.files)} runs)")
    print(f"current:  {current.label} ({len(current.files)} runs)")
    for note in notes:
        print(f"note: {note}")
    for line in report.left_out:
        print(f"left out: {line}")
    print(runner_line(report))
    for line in format_preflight(report.preflight, report.policy):
        print(line)
    for name in report.missing:
        print(f"MISSING: {name} is in the baseline but not in the current runs")
    for name in report.new:
        print(f"new: {name} (no baseline yet)")
    for line in report.undecided:
        print(f"undecided: {line}")
    if report.rows:
        print(format_rows(report.rows))
    print()
    print(
        closing_line(report.verdict, len(report.rows), report.policy, len(report.missing), reason)
    )
    _write_json(json_path, gate_json(report.verdict, reason, report.rows))
    return EXIT_CODES[report.verdict]


def _rows_json(rows: Sequence[verdicts.Row]) -> list[dict[str, Any]]:
    return [
        {
            "benchmark": r.comparison.benchmark,
            "metric": r.comparison.metric,
            "change": r.comparison.change,
            "low": r.low - 1,
            "high": r.high - 1,
            "p_adjusted": r.p_adjusted,
            "verdict": r.verdict,
            "runs_needed": r.runs_needed,
        }
        for r in rows
    ]


def gate_json(
    verdict: str, reason: verdicts.Undecided | None, rows: Sequence[verdicts.Row]
) -> dict[str, Any]:
    """The verdict as JSON: its exit code, the reason of an inconclusive one (code, why,
    next step; null when decided) and the rows."""
    return {
        "verdict": verdict,
        "exit_code": EXIT_CODES[verdict],
        "reason": reason.to_json() if reason is not None else None,
        "rows": _rows_json(rows),
    }


def _write_json(path: str | None, document: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(document, indent=2) + "\n")


def cmd_compare(args: argparse.Namespace) -> int:
    baseline, current = run_set(args.baseline, args), run_set(args.current, args)
    notes = gate.check_sets(baseline, current, args.new_release)
    report = gate.compare_sets(baseline, current, policy_of(args))
    return _print_report(baseline, current, report, notes, report.reason(), args.json)


def cmd_noise(args: argparse.Namespace) -> int:
    baseline = run_set(args.baseline, args)
    policy = policy_of(args, looks=len(verdicts.look_schedule(args.min_runs, args.max_runs)))
    items = gate.preflight(baseline, args.max_runs, policy)
    if not items:
        raise verdicts.VerdictError(
            f"{baseline.label}: fewer than {verdicts.MIN_RUNS} "
            "undisturbed runs of any benchmark: no spread to measure"
        )
    for line in format_preflight(items, policy):
        print(line)
    weak = gate.too_noisy(items, policy)
    if weak:
        print(f"noise: too noisy to gate {gate.noise_reason(weak, policy).line()}")
    return INCONCLUSIVE if weak else PASSED


def baseline_advice(baseline: runsets.RunSet, run_s: float, policy: verdicts.Policy) -> list[str]:
    """What a default `check` against a baseline of runs taking `run_s` each could do: the
    runs that fit its budget, the noise preflight for them, and what to do if too noisy."""
    plan = gate.CheckPlan()
    runs = plan.runs_within(run_s)
    if runs < plan.min_runs:
        reason = verdicts.budget_spent(plan.budget_s, run_s, runs, plan.min_runs)
        return [f"record: a default check would stop inconclusive {reason.line()}"]
    policy = dataclasses.replace(policy, looks=len(verdicts.look_schedule(plan.min_runs, runs)))
    items = gate.preflight(baseline, runs, policy)
    lines = [
        f"record: a default check fits {runs} runs like these in {plan.budget_s:.0f} s",
        *format_preflight(items, policy),
    ]
    weak = gate.too_noisy(items, policy)
    if weak:
        lines.append(
            "record: too noisy to gate: a default check against this baseline would "
            f"stop inconclusive {gate.noise_reason(weak, policy).line()}"
        )
    return lines


def too_noisy_to_gate(baseline: runsets.RunSet, run_s: float, policy: verdicts.Policy) -> bool:
    """Whether a default `check` against `baseline` would stop inconclusive for its noise."""
    plan = gate.CheckPlan()
    runs = plan.runs_within(run_s)
    if runs < plan.min_runs:
        return False  # a budget too small for the runs, not noise: baseline_advice says so
    policy = dataclasses.replace(policy, looks=len(verdicts.look_schedule(plan.min_runs, runs)))
    return bool(gate.too_noisy(gate.preflight(baseline, runs, policy), policy))


def _recorded_enough(
    args: argparse.Namespace, kept: list[Path], began: float, attempts: int
) -> bool:
    """`--runs` undisturbed runs, and with `--until-usable N` as many more (up to N) as this
    runner's noise needs for a default check to detect the threshold."""
    if len(kept) < args.runs:
        return False
    if not args.until_usable or len(kept) >= args.until_usable:
        return True
    baseline = runsets.load_set([str(p) for p in kept], args.storage, label=args.name)
    run_s = (time.monotonic() - began) / max(attempts, 1)
    noisy = too_noisy_to_gate(baseline, run_s, policy_of(args))
    if noisy:
        print(
            f"record: {len(kept)} runs are too noisy to gate yet; recording more "
            f"(at most {args.until_usable})",
            flush=True,
        )
    return not noisy


def cmd_record(args: argparse.Namespace) -> int:
    kept: list[Path] = []
    disturbed: list[Path] = []
    began = time.monotonic()
    most = max(args.runs, args.until_usable or 0)
    for attempt in range(2 * most):
        if _recorded_enough(args, kept, began, attempt):
            break
        path = recorder.record_run(args.name, args.storage, args.pytest_args, store=args.store)
        run = runsets.load_set([str(path)], args.storage)
        if run.disturbed():
            disturbed.append(path)
            print(
                f"record: run {attempt + 1} ({path.name}) was disturbed (others took the CPU); "
                "it stays in the history but not in the baseline",
                flush=True,
            )
            continue
        kept.append(path)
        print(f"record: run {len(kept)} of {args.runs}: {path}", flush=True)
    if disturbed:
        for path in disturbed:  # a disturbed run must never be read as part of the baseline
            path.rename(path.with_name(f"{path.stem}-disturbed.json"))
    if len(kept) < args.runs:
        reason = verdicts.runner_disturbed(
            len(disturbed),
            len(kept) + len(disturbed),
            "runs",
            f" (the baseline needs {args.runs} undisturbed)",
        )
        print(f"record: the baseline is not complete {reason.line()}", file=sys.stderr)
        return INCONCLUSIVE
    baseline = runsets.load_set([str(p) for p in kept], args.storage, label=args.name)
    run_s = (time.monotonic() - began) / (len(kept) + len(disturbed))
    for line in baseline_advice(baseline, run_s, policy_of(args)):
        print(line)
    print(f"record: baseline {args.name!r}: {len(kept)} runs in {args.storage}")
    return PASSED


def cmd_check(args: argparse.Namespace) -> int:
    baseline = run_set(args.baseline, args)
    plan = gate.CheckPlan(args.min_runs, args.max_runs, args.budget_s)
    label = args.label or "current-" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    files: list[Path] = []
    notes: list[str] = []
    latest: list[runsets.RunSet] = []  # every current run so far, as the last look read them

    def measure() -> runsets.RunSet:
        files.append(recorder.record_run(label, args.storage, args.pytest_args, store=args.store))
        current = runsets.load_set([str(f) for f in files], args.storage, label=label)
        latest[:] = [current]
        notes[:] = gate.check_sets(baseline, current, args.new_release)
        runs = gate.undisturbed_runs(baseline, current)
        print(f"check: run {len(files)} ({files[-1].name}); {runs} undisturbed", flush=True)
        return current

    result = gate.sequential_check(
        baseline, measure, plan, policy_of(args), ignore_noise=args.ignore_noise
    )
    if result.planned < plan.max_runs and files:
        print(
            f"check: {result.planned} runs fit the budget of {plan.budget_s:.0f} s "
            f"at the first run's time"
        )
    print(f"check: stopped: {result.stopped_because}, {result.runs} runs, {result.seconds:.0f} s")
    if result.report is None:
        print("\n".join(format_preflight(result.preflight, result.policy)))
        print(f"\n{closing_line(result.verdict, 0, result.policy, reason=result.reason)}")
        _write_json(args.json, gate_json(result.verdict, result.reason, []))
        return INCONCLUSIVE
    return _print_report(baseline, latest[0], result.report, notes, result.reason, args.json)


def cmd_accept(args: argparse.Namespace) -> int:
    """The runs saved under CURRENT join BASELINE in the results store: a build of the
    trusted branch that passed, so that the baseline rolls on with it."""
    if not args.store:
        raise verdicts.VerdictError(
            "accept: no results store holds the runs to accept",
            "give --results-store (or TRITON_SUITE_RESULTS_STORE)",
        )
    if args.current == args.baseline:
        raise verdicts.VerdictError(
            f"accept: {args.current!r} is the baseline itself",
            "name the label the passing build's runs were saved under",
        )
    with open_store(args.store) as store:
        joined = store.relabel(args.current, args.baseline)
    if not joined:
        raise verdicts.VerdictError(
            f"accept: no runs saved under {args.current!r} in {redacted(args.store)}",
            "name the --label of the check whose runs passed",
        )
    print(
        f"accept: {joined} run(s) of {args.current!r} joined baseline {args.baseline!r} "
        f"in {redacted(args.store)}"
    )
    return PASSED


def _side(args: argparse.Namespace, which: str) -> ab.Side:
    repo = Path(getattr(args, which))
    if not (repo / "peoplenet" / "config.pbtxt").is_file():
        raise verdicts.VerdictError(
            f"--{which} {repo}: no peoplenet/config.pbtxt there",
            "give a model repository directory",
        )
    launcher = make_launcher(
        getattr(args, f"{which}_launcher"),
        install=getattr(args, f"{which}_install"),
        image=getattr(args, f"{which}_image"),
    )
    return ab.Side(which.upper(), repo, launcher)


def cmd_ab(args: argparse.Namespace) -> int:
    plan = ab.Plan(
        concurrency=args.concurrency,
        windows=window_plan_of(args),
        min_pairs=args.min_pairs,
        max_pairs=args.max_pairs,
        budget_s=args.budget_s,
        memory=args.memory,
        load_processes=args.load_processes,
        retries=args.retries,
        pairs_per_start=args.pairs_per_start,
    )
    policy = policy_of(args)
    a, b = _side(args, "a"), _side(args, "b")
    images = answer_images()  # each run's answers are checked under load

    def look(result: ab.ABResult) -> None:
        row = result.rows[0]
        print(
            f"ab: {len(result.pairs)} pairs: B/A {row.comparison.change:+.1%} "
            f"({row.low - 1:+.1%}..{row.high - 1:+.1%}) {result.verdict}",
            flush=True,
        )

    with tempfile.TemporaryDirectory(prefix="peoplenet-ab-") as tmp:
        result = ab.run_ab(
            a,
            b,
            plan,
            policy,
            images,
            lambda name: Path(tempfile.mkdtemp(prefix=name, dir=tmp)),
            random.Random(args.seed),
            on_look=look,
        )
    print(f"A: {a.repo} ({a.launcher.name})\nB: {b.repo} ({b.launcher.name})")
    for line in result.left_out:
        print(f"left out: {line}")
    retried = sum(s.labels.get("retries", 0) for pair in result.pairs for s in pair)
    if retried:
        print(f"measured again: {retried} run(s) that others disturbed")
    print(f"stopped: {result.stopped_because}, {result.seconds:.0f} s")
    if result.rows:
        print(format_rows(result.rows))
    print()
    print(closing_line(result.verdict, len(result.rows), plan.policy(policy), reason=result.reason))
    if args.json:
        Path(args.json).write_text(json.dumps(_ab_json(result, a, b, plan), indent=2) + "\n")
    return EXIT_CODES[result.verdict]


def _ab_json(result: ab.ABResult, a: ab.Side, b: ab.Side, plan: ab.Plan) -> dict[str, Any]:
    plan_json = {**dataclasses.asdict(plan), "memory": plan.memory.value}
    return {
        "a": str(a.repo),
        "b": str(b.repo),
        "plan": plan_json,
        "verdict": result.verdict,
        "reason": result.reason.to_json() if result.reason is not None else None,
        "stopped": result.stopped_because,
        "seconds": round(result.seconds, 1),
        "left_out": result.left_out,
        "pairs": [[x.to_json(), y.to_json()] for x, y in result.pairs],
        "rows": _rows_json(result.rows),
    }


def _memory(text: str) -> Memory:
    try:
        return Memory.parse(text, "--memory")
    except SuiteError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (0 or more)")
    return value


def common_options() -> argparse.ArgumentParser:
    """The options every subcommand takes: where runs are, and the verdict's policy."""
    common = argparse.ArgumentParser(add_help=False)
    add_option(
        common,
        "--benchmark-storage",
        dest="storage",
        type=Path,
        default=Path(".benchmarks"),
        help="pytest-benchmark storage dir (default %(default)s)",
    )
    add_option(
        common,
        "--results-store",
        dest="store",
        default=os.environ.get("TRITON_SUITE_RESULTS_STORE") or None,
        help="results store (SQLite path or postgresql:// URL; default: env "
        "TRITON_SUITE_RESULTS_STORE): record and check write their runs there "
        "too, and a baseline or current NAME is read from it "
        "(docs/results-store.md)",
    )
    common.add_argument(
        "--threshold",
        type=float,
        default=verdicts.DEFAULT_THRESHOLD,
        help="slowdown that counts (default %(default)s = 10%%)",
    )
    common.add_argument(
        "--tail-threshold",
        type=float,
        default=verdicts.DEFAULT_TAIL_THRESHOLD,
        help="p99 slowdown that turns the gate red (red-only rule; default %(default)s = 25%%)",
    )
    common.add_argument(
        "--metric-threshold",
        action="append",
        metavar="METRIC=FRACTION",
        help=f"another threshold for one metric ({', '.join(verdicts.GATE_METRICS)})",
    )
    common.add_argument(
        "--alpha",
        type=float,
        default=verdicts.DEFAULT_ALPHA,
        help="error rate of a red verdict, over all comparisons (default %(default)s)",
    )
    common.add_argument(
        "--baseline-max-runs",
        type=_whole,
        default=DEFAULT_POOL_RUNS,
        metavar="N",
        help="a baseline read from the store counts its newest N "
        "undisturbed runs (default %(default)s; 0: all)",
    )
    common.add_argument(
        "--baseline-max-age-days",
        type=_whole,
        default=DEFAULT_POOL_DAYS,
        metavar="D",
        help="a baseline read from the store counts only runs of "
        "the last D days (default %(default)s; 0: any age)",
    )
    common.add_argument(
        "--new-release",
        action="store_true",
        help="allow a different Triton/JetPack release (validating a new "
        "release against the old one's baseline); the rest must match",
    )
    return common


def _ab_plan_options(p: argparse.ArgumentParser) -> None:
    """`ab`'s options for each run (the windows) and for when the comparison stops."""
    plan = ab.Plan()
    p.add_argument("--concurrency", type=int, default=plan.concurrency)
    add_window_options(p, plan.windows)
    p.add_argument("--min-pairs", type=int, default=plan.min_pairs)
    p.add_argument("--max-pairs", type=int, default=plan.max_pairs)
    p.add_argument(
        "--budget-s",
        type=float,
        default=plan.budget_s,
        help="stop after this many seconds (default %(default)s)",
    )
    add_option(
        p,
        "--triton-memory",
        dest="memory",
        type=_memory,
        default=plan.memory,
        help="where request tensors go: system, gpu or none (default system)",
    )
    p.add_argument("--load-processes", type=int, default=plan.load_processes)
    p.add_argument(
        "--pairs-per-start",
        type=int,
        default=plan.pairs_per_start,
        help="pairs from one round of server starts: 2 x N servers start at "
        "once and each is measured (default %(default)s; 3 where a start "
        "costs far more than a measurement and memory holds 6 servers)",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=plan.retries,
        help="new runs of a side whose run others disturbed (default %(default)s)",
    )
    p.add_argument("--seed", type=int, help="seed of the order of each pair")


def _parser() -> argparse.ArgumentParser:
    common = common_options()
    runs = argparse.ArgumentParser(add_help=False)
    check_plan = gate.CheckPlan()
    runs.add_argument(
        "--min-runs",
        type=int,
        default=check_plan.min_runs,
        help="current runs before the first look (default %(default)s)",
    )
    runs.add_argument(
        "--max-runs",
        type=int,
        default=check_plan.max_runs,
        help="current runs at most (default %(default)s)",
    )
    parser = argparse.ArgumentParser(
        prog="peoplenet-gate",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n")[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("record", parents=[common], help="record a baseline's runs")
    p.add_argument("name")
    p.add_argument(
        "--runs",
        type=int,
        default=DEFAULT_RECORD_RUNS,
        help="undisturbed runs to record (default %(default)s)",
    )
    p.add_argument(
        "--until-usable",
        type=int,
        metavar="MAX",
        help="after --runs, keep recording (up to MAX runs) until the noise "
        "preflight says a default check against the baseline can detect "
        "the threshold",
    )
    p.add_argument("pytest_args", nargs="*", help="after --: arguments for pytest")
    p = sub.add_parser("check", parents=[common, runs], help="gate this build against a baseline")
    p.add_argument("baseline")
    p.add_argument("--label", help="name the current runs are saved under")
    p.add_argument(
        "--budget-s",
        type=float,
        default=check_plan.budget_s,
        help="stop taking runs after this many seconds; the first run's time "
        "says how many fit (default %(default)s)",
    )
    p.add_argument(
        "--ignore-noise",
        action="store_true",
        help="measure even when the preflight says the noise hides the threshold",
    )
    p.add_argument("--json", help="write the verdict, its reason and the rows here")
    p.add_argument("pytest_args", nargs="*", help="after --: arguments for pytest")
    p = sub.add_parser("compare", parents=[common], help="judge two recorded run sets")
    p.add_argument("baseline")
    p.add_argument("current")
    p.add_argument("--json", help="write the verdict, its reason and the rows here")
    p = sub.add_parser(
        "accept",
        parents=[common],
        help="a passing build's runs join the baseline in the results store",
    )
    p.add_argument("baseline")
    p.add_argument("current", help="the label the build's runs were saved under (check --label)")
    p = sub.add_parser("noise", parents=[common, runs], help="the baseline's run-to-run noise")
    p.add_argument("baseline")
    p = sub.add_parser("ab", parents=[common], help="A against B, in turns, until decided")
    for side in ("a", "b"):
        p.add_argument(f"--{side}", required=True, help=f"model repository of side {side.upper()}")
        p.add_argument(
            f"--{side}-launcher",
            default="auto",
            choices=CHOICES,
            help="how this side's servers are started (auto: release on a Jetson, "
            "embedded elsewhere)",
        )
        p.add_argument(
            f"--{side}-install",
            help=f"release launcher: the Triton install dir (default {RELEASE_INSTALL})",
        )
        p.add_argument(f"--{side}-image", help="docker launcher: the Triton image")
    _ab_plan_options(p)
    p.add_argument("--json", help="write the pairs and the verdict here")
    return parser


COMMAND_FUNCTIONS = {
    "record": cmd_record,
    "check": cmd_check,
    "compare": cmd_compare,
    "accept": cmd_accept,
    "noise": cmd_noise,
    "ab": cmd_ab,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the exit code says the verdict."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        argv.insert(0, "compare")  # peoplenet-gate BASELINE CURRENT
    # argparse's subcommands mishandle options after `--`: take pytest's share first
    pytest_args: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, pytest_args = argv[:at], argv[at + 1 :]
    args = _parser().parse_args(argv)
    if hasattr(args, "pytest_args"):
        args.pytest_args = [*args.pytest_args, *pytest_args]
    elif pytest_args:
        _parser().error(f"{args.command} takes no pytest arguments (after --)")
    try:
        return COMMAND_FUNCTIONS[args.command](args)
    except SuiteError as err:
        print(f"peoplenet-gate: {err}", file=sys.stderr)
        return REFUSED


if __name__ == "__main__":
    sys.exit(main())
