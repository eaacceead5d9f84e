"""Why a gate is inconclusive: every inconclusive outcome (a comparison, a check, an A/B)
carries one reason code and the next step that would decide it, built from its runs; the
closing line and the JSON show that one reason. Runs are made-up pytest-benchmark
documents and the clock is the test's, so no server is needed."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from pnsuite.cli import gate as gate_cli
from pnsuite.measure import runsets
from pnsuite.measure.run import MeasuredRun, Window
from pnsuite.verdict import ab, gate, verdicts
from pnsuite.verdict.gate_text import closing_line, report_closing

ROOT = Path(__file__).resolve().parents[2]
POLICY = verdicts.Policy()


def _document(factor, foreign=0.0, probe=None):
    extra = {"foreign_cpu_cores_per_round": [0.0, foreign],
             "throughput_infer_per_s": 30.0 / factor, "latency_p99_ms": 40.0 * factor}
    if probe is not None:
        extra["runner_probe_ms"] = probe
    return {"machine_info": {"launcher": "embedded", "machine": "x86_64", "cpu_count": 2},
            "benchmarks": [{"fullname": "b", "stats": {"data": [0.1 * factor] * 3},
                            "extra_info": extra}]}


def _factors(n, spread, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return [scale * float(np.exp(rng.normal(0, spread))) for _ in range(n)]


def _set(label, factors, foreign=(), probes=()):
    return runsets.set_of(label, [
        (Path(f"{label}-{i}.json"),
         _document(f, foreign[i] if i < len(foreign) else 0.0,
                   probes[i] if i < len(probes) else None))
        for i, f in enumerate(factors)])


class Runner:
    """The current build: each call is one more run, taking `run_s` on the test's clock."""

    def __init__(self, factors, run_s=5.0, foreign=()):
        self.factors, self.run_s, self.foreign = list(factors), run_s, foreign
        self.taken, self.now = 0, 0.0

    def measure(self):
        self.taken += 1
        self.now += self.run_s
        return _set("current", self.factors[:self.taken], self.foreign)


def _check(baseline, runner, plan=None, **kw):
    return gate.sequential_check(baseline, runner.measure, plan or gate.CheckPlan(), POLICY,
                                 clock=lambda: runner.now, **kw)


QUIET = _set("baseline", _factors(10, 0.01, seed=1))


# ------------------------------------------------------------------------ spans-threshold

def _spanning_rows():
    """5 baseline and 5 current runs, 10% slower at a 6% spread: neither ok nor red."""
    old, new = _factors(5, 0.06, seed=1), _factors(5, 0.06, seed=2, scale=1.1)
    rows = verdicts.decide([verdicts.compare("b", verdicts.GATED, old, new)], POLICY)
    assert rows[0].verdict == verdicts.INCONCLUSIVE and rows[0].runs_needed > 5
    return rows


def test_an_interval_across_the_threshold_says_how_many_runs_per_side_would_decide():
    rows = _spanning_rows()
    needed = rows[0].runs_needed
    reason = verdicts.spans_threshold(rows, verdicts.Rerun("check", "--max-runs",
                                                           baseline_runs=5))
    assert reason.code == verdicts.SPANS_THRESHOLD
    assert re.search(r"b inference_ms changed \+\d+\.\d%, its interval .* spans the 10% "
                     r"threshold after 5/5 runs$", reason.why), reason.why
    assert reason.next_step == (
        f"about {needed} runs per side would decide at the spread seen: record the baseline "
        f"with --runs {needed} (BASELINE_RUNS={needed} in ci/jetson-perf.sh), then rerun "
        f"check with --max-runs {needed}")


def test_more_runs_than_the_budget_fits_name_the_budget_too():
    rows = _spanning_rows()
    needed = rows[0].runs_needed
    rerun = verdicts.Rerun("ab", "--max-pairs", "pairs", run_s=60.0, budget_s=330.0)
    assert verdicts.spans_threshold(rows, rerun).next_step == (
        f"about {needed} pairs would decide at the spread seen: rerun ab with --max-pairs "
        f"{needed} --budget-s {int(np.ceil(needed * 60.0 * 1.1))}")


def test_a_comparison_of_recorded_sets_names_the_runs_to_record():
    old = _set("baseline", _factors(5, 0.06, seed=1))
    new = _set("current", _factors(5, 0.06, seed=2, scale=1.1))
    report = gate.compare_sets(old, new, POLICY)
    needed = report.rows[0].runs_needed
    assert report.reason().next_step == (
        f"about {needed} runs per side would decide at the spread seen: record the baseline "
        f"with --runs {needed} (BASELINE_RUNS={needed} in ci/jetson-perf.sh), then compare "
        f"{needed} current runs (peoplenet-gate record NAME --runs {needed})")


def test_a_check_that_ran_out_of_runs_names_them():
    # 10% slower: too close to the threshold for the 8 runs allowed
    result = _check(QUIET, Runner([1.09, 1.11] * 25), gate.CheckPlan(max_runs=8),
                    ignore_noise=True)
    assert result.verdict == verdicts.INCONCLUSIVE
    assert result.reason.code == verdicts.SPANS_THRESHOLD
    needed = max(r.runs_needed or 0 for r in result.report.rows)
    assert f"rerun check with --max-runs {needed}" in result.reason.next_step


# ------------------------------------------------------------------------------ too-noisy

def test_a_noisy_baseline_names_the_baseline_runs_that_would_detect_the_threshold():
    noisy = _set("baseline", _factors(10, 0.12, seed=1))
    result = _check(noisy, Runner(_factors(50, 0.12, seed=2)))
    reason = result.reason
    assert result.report is None and reason.code == verdicts.TOO_NOISY
    assert reason.why.startswith("with 50 current runs this runner's noise (")
    (item,) = result.preflight
    n = item.baseline_runs_needed
    assert reason.next_step.startswith(f"record the baseline with --runs {n} "
                                       f"(BASELINE_RUNS={n} in ci/jetson-perf.sh)")
    # that many baseline runs would pass the preflight for these 50 runs; one fewer would not
    alpha, rows = result.policy.alpha_per_look, len(verdicts.GATE_METRICS)
    assert verdicts.detectable_slowdown(item.sigma, n, 50, alpha, rows) <= 0.10
    assert verdicts.detectable_slowdown(item.sigma, n - 1, 50, alpha, rows) > 0.10


def _item(baseline_needed=None, current_needed=None, per_side=None):
    return gate.Preflight("b", verdicts.GATED, 0.3, 10, 6, 0.5, current_needed, per_side,
                          baseline_needed)


def test_noise_the_runs_that_fit_cannot_beat_names_the_runs_and_the_budget_they_need():
    # 50 runs would detect the threshold against this baseline; the 4 that fit would not
    baseline = _set("baseline", _factors(40, 0.06, seed=1))
    result = _check(baseline, Runner(_factors(50, 0.06, seed=2), run_s=80.0))
    assert result.planned == 4 and result.reason.code == verdicts.TOO_NOISY
    (item,) = result.preflight
    needed = item.runs_for_threshold
    assert item.baseline_runs_needed is None and 4 < needed <= 50
    assert result.reason.next_step.startswith(
        f"rerun check with --max-runs {needed} --budget-s {int(np.ceil(needed * 80 * 1.1))}, "
        "or gate on a quieter runner")


@pytest.mark.parametrize("item, step", [
    (_item(current_needed=30), "rerun check with --max-runs 30, or gate on a quieter runner"),
    (_item(per_side=40), ("record the baseline with --runs 40 (BASELINE_RUNS=40 in "
                          "ci/jetson-perf.sh), then rerun check with --max-runs 40, or gate "
                          "on a quieter runner")),
    (_item(), ("gate on a quieter runner (no other jobs, fixed clocks): even 200 runs per "
               "side would not detect the threshold")),
])
def test_noise_no_baseline_can_beat_asks_for_more_current_runs_or_a_quieter_runner(item, step):
    rerun = verdicts.Rerun("check", "--max-runs", baseline_runs=10)
    assert gate.noise_reason([item], POLICY, rerun).next_step.startswith(step)


# ----------------------------------------------------------------------- runner-disturbed

def test_runs_left_out_as_disturbed_name_how_many_and_a_quiet_runner():
    current = _set("current", _factors(3, 0.01, seed=2), foreign=[0.9, 0.9])
    report = gate.compare_sets(QUIET, current, POLICY)
    reason = report.reason()
    assert reason.code == verdicts.RUNNER_DISTURBED
    assert reason.why == "others took the CPU during 2 of 13 benchmark runs, which were left out"
    assert reason.next_step.startswith("run on a quiet runner")


def test_a_check_whose_runs_are_all_disturbed_says_so():
    runner = Runner(_factors(50, 0.01, seed=2), foreign=[1.5] * 50)
    result = _check(QUIET, runner, gate.CheckPlan(max_runs=5))
    assert result.reason.code == verdicts.RUNNER_DISTURBED
    assert "during 10 of 10 current runs" in result.reason.why


def _sample(scale, foreign=0.0):
    windows = [Window(requests=10, seconds=1.0 * scale, latency_p99_ms=40.0 * scale,
                      foreign_cores=foreign)] * 3
    return MeasuredRun(concurrency=1, windows=windows, counted=3, stable=True,
                       inference_ms=100.0 * scale, latency_p99_ms=40.0 * scale,
                       compute_infer_ms=30.0 * scale, cores=2)


def _pairs(ratio, spread=0.05, foreign=0.0):
    rng = np.random.default_rng(0)
    return lambda i: (_sample(float(np.exp(rng.normal(0, spread)))),
                      _sample(ratio * float(np.exp(rng.normal(0, spread))), foreign))


def test_an_ab_disturbed_throughout_names_its_retries():
    result = ab.sequential(ab.one_pair_a_round(_pairs(1.0, foreign=1.5)), ab.Plan(max_pairs=4), POLICY, "A", "B")
    assert result.reason.code == verdicts.RUNNER_DISTURBED
    assert result.reason.why == "others took the CPU during 8 of 8 pairs, which were left out"
    assert result.reason.next_step.endswith("or raise --retries (now 2)")


# --------------------------------------------------------------------------- budget-spent

def test_a_check_budget_that_fits_fewer_runs_than_the_first_look_names_the_budget_that_would():
    result = _check(QUIET, Runner(_factors(50, 0.01, seed=2), run_s=200.0))
    assert result.reason.code == verdicts.BUDGET_SPENT
    assert result.reason.why == ("the 330 s budget fits only 1 run(s) of 200 s, fewer than "
                                 "the 3 of the first look")
    assert result.reason.next_step.startswith("give --budget-s 600 or more")


@pytest.mark.parametrize("pair_s, pairs", [(200.0, 1), (120.0, 2)])
def test_an_ab_budget_spent_before_its_first_look_names_the_budget_that_would(pair_s, pairs):
    clock, measure = [0.0], _pairs(1.0)

    def timed(i):
        clock[0] += pair_s
        return measure(i)
    result = ab.sequential(ab.one_pair_a_round(timed), ab.Plan(budget_s=330), POLICY, "A", "B",
                           clock=lambda: clock[0])
    # two pairs are judged all the same (a look the schedule had left), undecided
    assert len(result.pairs) == pairs and bool(result.rows) == (pairs == 2)
    assert result.reason.code == verdicts.BUDGET_SPENT
    assert result.reason.why == (f"the 330 s budget fits only {pairs} pair(s) of "
                                 f"{pair_s:.0f} s, fewer than the 3 of the first look")
    assert result.reason.next_step == f"give --budget-s {3 * pair_s:.0f} or more"


# ------------------------------------------------------------- runner-changed, too-few-runs

def _probed(label, runner, n=10, seed=0, noise=0.01):
    """An unchanged build on a runner `runner` times as slow as the baseline's."""
    probes = [10.0 * runner * f for f in _factors(n, noise, seed + 100)]
    return _set(label, [runner * f for f in _factors(n, 0.01, seed)], probes=probes)


def test_a_runner_that_got_slower_names_the_ab_or_a_new_baseline():
    report = gate.compare_sets(_probed("baseline", 1.0), _probed("current", 1.2, seed=1), POLICY)
    reason = report.reason()
    assert reason.code == verdicts.RUNNER_CHANGED
    assert re.match(r"the runner's own speed moved: it is 19\.9% slower than when the "
                    r"baseline was recorded", reason.why), reason.why
    assert "could have faked the measured REGRESSION" in reason.why
    assert reason.next_step == ("compare the builds on one runner in turns (peoplenet-gate ab "
                                "--a REPO --b REPO), or record the baseline again "
                                "(ci/jetson-perf.sh record)")


def test_a_verdict_held_for_the_probe_names_the_current_runs_that_would_see_a_move():
    baseline = _probed("baseline", 1.0, noise=0.10)
    held = gate.compare_sets(baseline, _probed("current", 1.0, n=4, seed=1, noise=0.10), POLICY)
    assert held.runner_unseen
    needed = held.runner.runs_to_see_threshold()
    reason = held.reason(verdicts.CHECK_RERUN)
    assert reason.code == verdicts.TOO_FEW_RUNS and needed > 4
    assert reason.next_step == (f"about {needed} current runs would see it: rerun check with "
                                f"--max-runs {needed}")


def test_no_benchmark_on_both_sides_is_too_few_runs():
    report = gate.compare_sets(runsets.set_of("baseline", []), _set("current", [1.0, 1.0]),
                               POLICY)
    assert report.reason().code == verdicts.TOO_FEW_RUNS


# ------------------------------------------------------------------ the type, text and JSON

def test_a_decided_outcome_has_no_reason():
    report = gate.compare_sets(QUIET, _set("current", _factors(5, 0.01, seed=2)), POLICY)
    assert report.verdict == verdicts.OK and report.reason() is None


def test_an_unknown_code_is_refused():
    with pytest.raises(ValueError, match="one of spans-threshold"):
        verdicts.Undecided("slow-day", "why", "next")


def test_the_closing_line_shows_the_code_and_the_next_step():
    reason = verdicts.Undecided(verdicts.TOO_NOISY, "the runs are noisy", "gate elsewhere")
    assert closing_line(verdicts.INCONCLUSIVE, 2, POLICY, reason=reason) == \
        "gate: INCONCLUSIVE [too-noisy] the runs are noisy; next: gate elsewhere"
    with pytest.raises(ValueError):
        closing_line(verdicts.INCONCLUSIVE, 2, POLICY)


def _write(folder, factors):
    folder.mkdir()
    for i, factor in enumerate(factors):
        (folder / f"{i:04d}_r.json").write_text(json.dumps(_document(factor)))
    return str(folder)


def test_compare_prints_and_writes_the_one_reason(tmp_path, capsys):
    old = _write(tmp_path / "old", _factors(5, 0.06, seed=3))
    new = _write(tmp_path / "new", _factors(5, 0.06, seed=4, scale=1.09))
    out = tmp_path / "gate.json"
    assert gate_cli.main([old, new, "--json", str(out)]) == gate_cli.INCONCLUSIVE
    reason = gate.compare_sets(runsets.load_set([old], tmp_path),
                               runsets.load_set([new], tmp_path), POLICY).reason()
    assert reason.code == verdicts.SPANS_THRESHOLD
    assert capsys.readouterr().out.rstrip().endswith(f"gate: INCONCLUSIVE {reason.line()}")
    written = json.loads(out.read_text())
    assert written["verdict"] == verdicts.INCONCLUSIVE and written["exit_code"] == 3
    assert written["reason"] == {"code": reason.code, "why": reason.why,
                                 "next": reason.next_step}


def test_a_decided_gate_writes_no_reason(tmp_path, capsys):
    old, new = _write(tmp_path / "old", [1.0, 1.01, 0.99]), _write(tmp_path / "new", [1.0, 1.0])
    out = tmp_path / "gate.json"
    assert gate_cli.main([old, new, "--json", str(out)]) == gate_cli.PASSED
    assert json.loads(out.read_text())["reason"] is None
    assert "gate: passed" in capsys.readouterr().out


def test_the_ab_json_carries_the_reason():
    result = ab.sequential(ab.one_pair_a_round(_pairs(1.0, foreign=1.5)), ab.Plan(max_pairs=4), POLICY, "A", "B")
    side = ab.Side("A", Path("repo"), launcher=None)
    written = gate_cli._ab_json(result, side, side, ab.Plan(max_pairs=4))
    assert written["reason"] == result.reason.to_json()
    assert written["reason"]["code"] == verdicts.RUNNER_DISTURBED


def test_the_report_page_closing_is_the_reasons_line():
    report = gate.compare_sets(_probed("baseline", 1.0), _probed("current", 1.2, seed=1), POLICY)
    assert report_closing(report) == f"gate: INCONCLUSIVE {report.reason().line()}"


def test_every_code_is_in_the_docs_table():
    text = (ROOT / "docs" / "perf-and-gate.md").read_text()
    for code in verdicts.UNDECIDED_CODES:
        assert re.search(rf"^\| `{code}` \|", text, re.MULTILINE), code


class Recorder:
    """`recorder.record_run` without pytest: each call saves the next made-up run."""

    def __init__(self, tmp_path, factors, foreign=()):
        self.folder, self.factors, self.foreign = tmp_path / "machine", factors, foreign
        self.folder.mkdir(exist_ok=True)
        self.calls = 0

    def __call__(self, label, storage, pytest_args=(), store=None):
        i, self.calls = self.calls, self.calls + 1
        path = self.folder / f"{i + 1:04d}_{label}.json"
        foreign = self.foreign[i] if i < len(self.foreign) else 0.0
        path.write_text(json.dumps(_document(self.factors[i], foreign)))
        return path


def test_check_stopped_by_the_preflight_prints_and_writes_the_one_reason(
        tmp_path, capsys, monkeypatch):
    baseline = _write(tmp_path / "base", _factors(10, 0.12, seed=1))
    monkeypatch.setattr(gate_cli.recorder, "record_run", Recorder(tmp_path, [1.0] * 10))
    out = tmp_path / "gate.json"
    assert gate_cli.main(["check", baseline, "--storage", str(tmp_path), "--max-runs", "6",
                          "--json", str(out)]) == gate_cli.INCONCLUSIVE
    closing = capsys.readouterr().out.rstrip().splitlines()[-1]
    written = json.loads(out.read_text())
    reason = written["reason"]
    assert reason["code"] == verdicts.TOO_NOISY and written["exit_code"] == 3
    assert closing == f"gate: INCONCLUSIVE [too-noisy] {reason['why']}; next: {reason['next']}"
    assert reason["next"].startswith("record the baseline with --runs ")


def test_the_noise_command_names_the_reason(tmp_path, capsys):
    assert gate_cli.main(["noise", _write(tmp_path / "n", _factors(10, 0.3, seed=1))]) == 3
    assert "noise: too noisy to gate [too-noisy] with 50 current runs" in capsys.readouterr().out


def test_record_with_too_few_undisturbed_runs_names_the_reason(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(gate_cli.recorder, "record_run",
                        Recorder(tmp_path, [1.0] * 6, foreign=[0.0, 0.9, 0.9, 0.9, 0.9, 0.9]))
    assert gate_cli.main(["record", "base", "--runs", "3", "--storage", str(tmp_path)]) == 3
    assert ("record: the baseline is not complete [runner-disturbed] others took the CPU "
            "during 5 of 6 runs, which were left out; next: run on a quiet runner, with no "
            "other jobs beside it (the baseline needs 3 undisturbed)") in capsys.readouterr().err
