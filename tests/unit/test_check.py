"""The sequential check (`peoplenet-gate check`): current runs one at a time against a stored
baseline, the noise preflight first, as many runs as the time budget fits, stopped at the
first decided look. Runs are made-up pytest-benchmark documents and the clock is the test's,
so no server is needed."""

import json
import time
from pathlib import Path

import numpy as np
import pytest

from pnsuite.cli import gate as gate_cli
from pnsuite.measure import runsets
from pnsuite.verdict import gate, verdicts

ROUNDS = [0.100, 0.102, 0.098]


def _document(factor, foreign=0.0):
    return {"machine_info": {"launcher": "embedded", "machine": "x86_64", "cpu_count": 2},
            "benchmarks": [{"fullname": "b", "stats": {"data": [x * factor for x in ROUNDS]},
                            "extra_info": {"foreign_cpu_cores_per_round": [0.0, foreign],
                                           "throughput_infer_per_s": 30.0 / factor,
                                           "server_compute_infer_ms": 30.0 * factor,
                                           "latency_p99_ms": 40.0 * factor}}]}


def _set(label, factors, foreign=()):
    return runsets.set_of(label, [(Path(f"{label}-{i}.json"),
                                   _document(f, foreign[i] if i < len(foreign) else 0.0))
                                  for i, f in enumerate(factors)])


def _factors(n, spread, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return [scale * float(np.exp(rng.normal(0, spread))) for _ in range(n)]


class Runner:
    """The current build: each call is one more run, taking `run_s` on the test's clock."""

    def __init__(self, factors, run_s=5.0, foreign=()):
        self.factors, self.run_s, self.foreign = list(factors), run_s, foreign
        self.taken = 0
        self.now = 0.0

    def clock(self):
        return self.now

    def measure(self):
        self.taken += 1
        self.now += self.run_s(self.taken) if callable(self.run_s) else self.run_s
        return _set("current", self.factors[:self.taken], self.foreign)


def _check(baseline, runner, plan=gate.CheckPlan(), **kw):
    return gate.sequential_check(baseline, runner.measure, plan, verdicts.Policy(),
                                 clock=runner.clock, **kw)


QUIET = _set("baseline", _factors(10, 0.01, seed=1))
NOISY = _set("baseline", _factors(10, 0.15, seed=1))


def test_an_unchanged_build_passes_at_the_first_decided_look():
    runner = Runner(_factors(50, 0.01, seed=2))
    result = _check(QUIET, runner)
    assert result.verdict == verdicts.OK
    assert runner.taken == 3 and result.stopped_because == "decided after 3 runs"


def test_a_slower_build_is_red():
    result = _check(QUIET, Runner(_factors(50, 0.01, seed=2, scale=1.3)))
    assert result.verdict == verdicts.REGRESSION


def test_a_baseline_too_noisy_for_the_planned_runs_stops_before_measuring():
    runner = Runner(_factors(50, 0.15, seed=2))
    result = _check(NOISY, runner, gate.CheckPlan(max_runs=6))
    assert runner.taken == 0 and result.verdict == verdicts.INCONCLUSIVE
    assert result.reason.code == verdicts.TOO_NOISY and "with 6 current runs" in result.reason.why
    assert all(p.current_runs == 6 for p in result.preflight)


def test_ignore_noise_measures_anyway():
    runner = Runner(_factors(50, 0.15, seed=2))
    result = _check(NOISY, runner, gate.CheckPlan(max_runs=6), ignore_noise=True)
    assert runner.taken >= 3 and result.report is not None


def test_the_first_runs_time_plans_the_runs_and_the_looks():
    # 100 s a run: 3 fit 330 s, so the looks are at 3 runs only and alpha is not split
    runner = Runner(_factors(50, 0.03, seed=2), run_s=100.0)
    result = _check(QUIET, runner, ignore_noise=True)
    assert result.planned == 3 and result.policy.looks == 1
    assert runner.taken == 3 and result.report is not None
    assert all(p.current_runs == 3 for p in result.preflight)


def test_when_the_runs_that_fit_are_too_few_for_the_noise_it_stops_after_one():
    # 50 runs would detect the threshold against this baseline; the 4 that fit would not
    baseline = _set("baseline", _factors(40, 0.06, seed=1))
    runner = Runner(_factors(50, 0.06, seed=2), run_s=80.0)
    result = _check(baseline, runner)
    assert runner.taken == 1 and result.planned == 4
    assert result.verdict == verdicts.INCONCLUSIVE and "with 4 current runs" in result.reason.why


def test_a_budget_that_fits_fewer_runs_than_the_first_look_says_so():
    runner = Runner(_factors(50, 0.01, seed=2), run_s=200.0)
    result = _check(QUIET, runner)
    assert runner.taken == 1 and result.verdict == verdicts.INCONCLUSIVE
    assert result.reason.code == verdicts.BUDGET_SPENT
    assert "fits only 1 run(s) of 200 s, fewer than the 3" in result.reason.why


def test_runs_that_grow_slower_stop_at_the_time_budget():
    # 9% slower: too close to the threshold to decide against a 10-run baseline
    runner = Runner([1.07, 1.11] * 25, run_s=lambda n: 5.0 * n)
    result = _check(QUIET, runner, ignore_noise=True)
    assert "time budget of 330 s spent" in result.stopped_because
    assert runner.now <= 330.0 + 5.0 * runner.taken


def test_disturbed_runs_do_not_count_and_too_many_stop_the_check():
    runner = Runner(_factors(50, 0.01, seed=2), foreign=[1.5] * 50)
    result = _check(QUIET, runner, gate.CheckPlan(max_runs=5))
    assert runner.taken == 10 and "too many disturbed" in result.stopped_because
    assert result.verdict == verdicts.INCONCLUSIVE


@pytest.mark.parametrize("plan, problem", [
    (dict(min_runs=1), "need 2 <= first <= last"),
    (dict(min_runs=8, max_runs=5), "need 2 <= first <= last"),
    (dict(budget_s=0), "budget must be > 0"),
])
def test_a_bad_plan_is_refused(plan, problem):
    with pytest.raises(verdicts.VerdictError if "first" in problem else gate.GateError,
                       match=problem):
        gate.CheckPlan(**plan)


def test_record_says_how_many_runs_a_default_check_fits_and_that_a_quiet_baseline_is_usable():
    lines = gate_cli.baseline_advice(QUIET, run_s=6.6, policy=verdicts.Policy())
    assert lines[0] == "record: a default check fits 50 runs like these in 330 s"
    assert not any("too noisy" in line for line in lines)


def test_record_says_a_noisy_baseline_cannot_gate_and_how_many_runs_would():
    lines = gate_cli.baseline_advice(NOISY, run_s=6.6, policy=verdicts.Policy())
    advice = lines[-1]
    assert advice.startswith("record: too noisy to gate")
    needed = int(advice.split("--runs ")[1].split(" ")[0])
    # a baseline that large would pass the preflight for the 50 runs of a default check
    sigma = max(p.sigma for p in gate.preflight(NOISY, 50, verdicts.Policy()))
    looks = len(verdicts.look_schedule(3, 50))
    rows = len(verdicts.GATE_METRICS)  # Holm's worst case: every row of the one benchmark
    assert verdicts.detectable_slowdown(sigma, needed, 50, 0.05 / looks, rows) <= 0.10
    assert verdicts.detectable_slowdown(sigma, needed - 1, 50, 0.05 / looks, rows) > 0.10


def test_record_says_when_the_budget_fits_too_few_runs():
    (line,) = gate_cli.baseline_advice(QUIET, run_s=200.0, policy=verdicts.Policy())
    assert "fits only 1 run(s) of 200 s" in line and "--budget-s 600" in line


def _saved(tmp_path, factors):
    """Run files of made-up documents, as `record` saves them."""
    folder = tmp_path / "machine"
    folder.mkdir(exist_ok=True)
    paths = []
    for i, factor in enumerate(factors):
        path = folder / f"{i + 1:04d}_base.json"
        path.write_text(json.dumps(_document(factor)))
        paths.append(path)
    return paths


def _record_args(tmp_path, runs, until_usable):
    return gate_cli._parser().parse_args(
        ["record", "base", "--runs", str(runs), "--storage", str(tmp_path),
         *(["--until-usable", str(until_usable)] if until_usable else [])])


def test_until_usable_records_past_runs_while_a_check_could_not_detect_the_threshold(tmp_path):
    noisy = _saved(tmp_path, _factors(12, 0.15, seed=3))
    args = _record_args(tmp_path, runs=10, until_usable=40)
    began = time.monotonic() - 10 * 6.6  # runs of 6.6 s, as in record
    assert gate_cli.too_noisy_to_gate(runsets.load_set([str(p) for p in noisy], tmp_path),
                                      6.6, verdicts.Policy())
    assert not gate_cli._recorded_enough(args, noisy[:10], began, 10)
    assert gate_cli._recorded_enough(_record_args(tmp_path, 10, 11), noisy[:11], began, 11)


def test_until_usable_stops_at_runs_when_the_baseline_is_quiet(tmp_path):
    quiet = _saved(tmp_path, _factors(10, 0.01, seed=3))
    began = time.monotonic() - 10 * 6.6
    assert gate_cli._recorded_enough(_record_args(tmp_path, 10, 40), quiet, began, 10)
    assert not gate_cli._recorded_enough(_record_args(tmp_path, 10, 40), quiet[:9], began, 9)
