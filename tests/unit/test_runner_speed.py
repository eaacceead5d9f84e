"""The runner-speed probe: a check against a stored baseline refuses the verdicts that the
runner's own move since the baseline could have faked. Runs are made-up pytest-benchmark
documents, so no server is needed."""

from pathlib import Path

import numpy as np
import pytest

from pnsuite.measure import runner_speed, runsets
from pnsuite.verdict import gate, runner_shift, verdicts
from pnsuite.verdict.gate_text import format_preflight, report_closing, runner_line

POLICY = verdicts.Policy()


def _document(factor, probe, foreign=0.0):
    extra = {"foreign_cpu_cores_per_round": [0.0, foreign],
             "throughput_infer_per_s": 10.0 / factor,
             "server_compute_infer_ms": 30.0 * factor, "latency_p99_ms": 40.0 * factor}
    if probe is not None:
        extra["runner_probe_ms"] = probe
    return {"machine_info": {"launcher": "embedded", "cpu_count": 2},
            "benchmarks": [{"fullname": "b", "stats": {"data": [0.1 * factor] * 3},
                            "extra_info": extra}]}


def _jitter(n, seed, spread=0.01):
    return np.exp(np.random.default_rng(seed).normal(0, spread, n))


def _runs(label, build, runner, n=10, seed=0, probed=True, probe_noise=0.01):
    """`n` runs of a build `build` times as slow as the reference, on a runner `runner`
    times as slow as the baseline's: the benchmark scales with both, the probe with the
    runner only."""
    jitter, probe_jitter = _jitter(n, seed), _jitter(n, seed + 100, probe_noise)
    return [(Path(f"{label}-{i}.json"),
             _document(build * runner * jitter[i],
                       10.0 * runner * probe_jitter[i] if probed else None))
            for i in range(n)]


def _set(label, build, runner, n=10, seed=0, probed=True, probe_noise=0.01):
    return runsets.set_of(label, _runs(label, build, runner, n, seed, probed, probe_noise))


def _check(baseline, runs, ignore_noise=False):
    """A sequential check of `runs` against `baseline`, one run a second; the runs it took."""
    taken = []

    def measure():
        taken.append(runs[len(taken)])
        return runsets.set_of("current", taken)

    return gate.sequential_check(baseline, measure, gate.CheckPlan(), POLICY,
                                 clock=lambda: float(len(taken)),
                                 ignore_noise=ignore_noise), taken


BASELINE = _set("baseline", 1.0, 1.0)


def test_the_probe_times_a_fixed_workload():
    assert runner_speed.probe_ms(repeats=3) > 0
    with pytest.raises(ValueError, match="at least 1"):
        runner_speed.probe_ms(repeats=0)


def test_probes_are_one_per_run_from_its_undisturbed_benchmarks():
    doc = _document(1.0, 9.0)
    doc["benchmarks"].append({"fullname": "c", "stats": {"data": [0.1]},
                              "extra_info": {"runner_probe_ms": 11.0}})
    disturbed = _document(1.0, 50.0, foreign=1.5)
    unprobed = _document(1.0, None)
    runs = runsets.set_of("s", [(Path("a.json"), doc), (Path("b.json"), disturbed),
                                (Path("c.json"), unprobed)])
    assert runs.probes() == [10.0]


@pytest.mark.parametrize("runner, build, measured", [
    (1.15, 1.0, verdicts.REGRESSION),  # an unchanged build on a runner that got slower
    (1 / 1.15, 1.15, verdicts.OK),     # a slower build hidden by a runner that got faster
])
def test_a_verdict_the_runners_move_could_fake_is_refused(runner, build, measured):
    report = gate.compare_sets(BASELINE, _set("current", build, runner, seed=1), POLICY)
    assert report.measured_verdict == measured
    assert report.runner_moved and report.verdict == verdicts.INCONCLUSIVE
    assert "may be the runner's, not the build's: refused" in runner_line(report)
    assert "gate: INCONCLUSIVE [runner-changed] the runner's own speed moved" in \
        report_closing(report)
    assert "peoplenet-gate ab" in report.reason().next_step


@pytest.mark.parametrize("runner, build, verdict", [
    (1.15, 1 / 1.15, verdicts.OK),          # a faster build on a slower runner is still ok
    (1 / 1.15, 1.15 * 1.3, verdicts.REGRESSION),  # a regression on a faster runner stands
])
def test_a_verdict_the_move_cannot_have_faked_stands(runner, build, verdict):
    report = gate.compare_sets(BASELINE, _set("current", build, runner, seed=1), POLICY)
    assert report.runner.moved and not report.runner_moved
    assert report.verdict == verdict
    assert "cannot have faked this verdict" in runner_line(report)


def test_a_runner_within_the_tolerance_changes_nothing():
    # 3% slower: significant at this little noise, but within half the 10% threshold
    report = gate.compare_sets(BASELINE, _set("current", 1.15 / 1.03, 1.03, seed=1), POLICY)
    assert not report.runner.moved and report.verdict == verdicts.REGRESSION
    assert "within the 5% tolerated" in runner_line(report)


def test_a_move_the_noise_cannot_show_is_not_flagged():
    # 12 probed runs a side, enough to see a move of the threshold; a 5.2% move in their noise
    rng = np.random.default_rng(12)
    noisy = runner_shift.shift(10 * np.exp(rng.normal(0, 0.08, 12)),
                               10.6 * np.exp(rng.normal(0, 0.08, 12)), POLICY)
    assert noisy is not None and noisy.comparison.change > 0.05 and noisy.sees_threshold
    assert not noisy.moved
    report = gate.compare_sets(BASELINE, _set("current", 1.0, 1.0, seed=1), POLICY)
    report.runner = noisy
    assert report.verdict == verdicts.OK
    assert "not told from the probe's noise" in runner_line(report)


def test_each_verdict_is_refused_on_a_one_sided_test_of_its_own_direction():
    # the probe 6.2% faster at p = 0.028 over 12 runs a side: a two-sided test at alpha
    # would not see it, yet an ok next to it may be a regression the faster runner hid
    rng = np.random.default_rng(24)
    old, new = 10 * np.exp(rng.normal(0, 0.08, 12)), 9.4 * np.exp(rng.normal(0, 0.08, 12))
    faster = runner_shift.shift(old, new, POLICY)
    assert faster.sees_threshold and 0.025 < faster.comparison.p_faster < POLICY.alpha
    assert faster.refuses(verdicts.OK) and faster.refuses(verdicts.IMPROVED)
    assert not faster.refuses(verdicts.REGRESSION) and not faster.refuses(verdicts.INCONCLUSIVE)
    slower = runner_shift.shift(new, old, POLICY)
    assert slower.refuses(verdicts.REGRESSION) and not slower.refuses(verdicts.OK)


def test_a_verdict_waits_until_the_probe_could_have_seen_a_move_of_the_threshold():
    # the probe as noisy as on the project's CI VM (10% per run): a few runs would miss a
    # runner 10% faster, so an unchanged build's ok waits for enough of them
    baseline = _set("baseline", 1.0, 1.0, probe_noise=0.10)
    result, taken = _check(baseline, _runs("current", 1.0, 1.0, n=50, seed=1, probe_noise=0.10))
    assert result.verdict == verdicts.OK and result.report.runner.sees_threshold
    assert len(taken) > 12 and result.stopped_because == f"decided after {len(taken)} runs"
    held = gate.compare_sets(baseline, runsets.set_of("current", taken[:5]), POLICY)
    assert held.measured_verdict == verdicts.OK and held.verdict == verdicts.INCONCLUSIVE
    assert held.runner_unseen and runner_line(held).endswith("is held")
    assert "[too-few-runs] the measured ok waits for the runner-speed probe" in \
        report_closing(held, verdicts.CHECK_RERUN)
    needed = held.runner.runs_to_see_threshold()
    assert held.reason(verdicts.CHECK_RERUN).next_step == \
        f"about {needed} current runs would see it: rerun check with --max-runs {needed}"


def test_a_move_too_large_to_miss_stops_a_check_before_the_probe_sees_the_threshold():
    # a 15% slower build on a runner 30% faster measures ok; 3 noisy probe runs cannot see
    # every 10% move, but this one is significant even at alpha split over the looks
    baseline = _set("baseline", 1.0, 1.0, probe_noise=0.10)
    result, taken = _check(baseline, _runs("current", 1.15, 1 / 1.3, n=50, seed=1,
                                           probe_noise=0.10))
    assert result.report.measured_verdict == verdicts.OK and len(taken) == 3
    assert not result.report.runner.sees_threshold and result.report.runner_moved
    assert result.stopped_because == "the runner's own speed moved (see runner:)"


def test_a_baseline_the_probe_could_never_vouch_for_is_refused_by_the_preflight():
    # three baseline runs of a probe this noisy: no number of current runs sees 10%
    baseline = _set("baseline", 1.0, 1.0, n=3, probe_noise=0.15)
    runs = _runs("current", 1.0, 1.0, n=50, seed=1, probe_noise=0.15)
    result, taken = _check(baseline, runs)
    assert result.verdict == verdicts.INCONCLUSIVE and not taken
    probe = next(p for p in result.preflight if p.benchmark == gate.PROBE_BENCHMARK)
    assert probe.runs_for_threshold is None and result.reason.code == verdicts.TOO_NOISY
    assert "in runner-speed probe probe_ms" in result.reason.why
    assert any(line.startswith("noise: runner-speed probe probe_ms: ") and "ABOVE" in line
               for line in format_preflight(result.preflight, POLICY))
    # measured all the same (--ignore-noise), it stops at its first look
    result, taken = _check(baseline, runs, ignore_noise=True)
    assert result.verdict == verdicts.INCONCLUSIVE and len(taken) == 3
    assert gate.probe_preflight(baseline.probes(), 50, POLICY).runs_for_threshold is None
    assert "cannot see a move of the threshold" in result.stopped_because
    assert result.reason.code == verdicts.TOO_NOISY
    assert result.reason.next_step.startswith("record the baseline with --runs ")


def test_runs_without_the_probe_are_not_checked_and_say_so():
    old = _set("baseline", 1.0, 1.0, probed=False)
    report = gate.compare_sets(old, _set("current", 1.0, 1.15, seed=1), POLICY)
    assert report.runner is None and report.verdict == verdicts.REGRESSION
    assert "not probed on both sides" in runner_line(report)
    assert runner_shift.shift([10.0], [10.0, 11.0], POLICY) is None


def test_a_check_stops_when_the_runner_moved():
    # an unchanged build on a runner 20% slower: more runs cannot give a verdict back
    result, taken = _check(BASELINE, _runs("current", 1.0, 1.2, n=50, seed=1))
    assert result.verdict == verdicts.INCONCLUSIVE and len(taken) == 3
    assert result.stopped_because == "the runner's own speed moved (see runner:)"
