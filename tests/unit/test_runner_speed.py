"""The runner-speed probe: a check against a stored baseline refuses the verdicts that the
runner's own move since the baseline could have faked. Runs are made-up pytest-benchmark
documents, so no server is needed."""

from pathlib import Path

import numpy as np
import pytest

from pnsuite.perf import gate, runner_speed, runsets, verdicts
from pnsuite.perf.gate_text import report_closing, runner_line

POLICY = verdicts.Policy()


def _document(factor, probe, foreign=0.0):
    extra = {"foreign_cpu_cores_per_round": [0.0, foreign],
             "server_compute_infer_ms": 30.0 * factor, "latency_p99_ms": 40.0 * factor}
    if probe is not None:
        extra["runner_probe_ms"] = probe
    return {"machine_info": {"launcher": "embedded", "cpu_count": 2},
            "benchmarks": [{"fullname": "b", "stats": {"data": [0.1 * factor] * 3},
                            "extra_info": extra}]}


def _jitter(n, seed, spread=0.01):
    return np.exp(np.random.default_rng(seed).normal(0, spread, n))


def _runs(label, build, runner, n=10, seed=0, probed=True):
    """`n` runs of a build `build` times as slow as the reference, on a runner `runner`
    times as slow as the baseline's: the benchmark scales with both, the probe with the
    runner only."""
    jitter = _jitter(2 * n, seed)
    return [(Path(f"{label}-{i}.json"),
             _document(build * runner * jitter[i],
                       10.0 * runner * jitter[n + i] if probed else None))
            for i in range(n)]


def _set(label, build, runner, n=10, seed=0, probed=True):
    return runsets.set_of(label, _runs(label, build, runner, n, seed, probed))


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
    assert "runner's own speed moved" in report_closing(report)


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
    noisy = runner_speed.shift([10.0, 14.0, 8.0], [12.0, 9.0, 16.0], POLICY)
    assert noisy is not None and noisy.comparison.change > 0.05 and not noisy.moved
    report = gate.compare_sets(BASELINE, _set("current", 1.0, 1.0, seed=1), POLICY)
    report.runner = noisy
    assert "not told from the probe's noise" in runner_line(report)


def test_runs_without_the_probe_are_not_checked_and_say_so():
    old = _set("baseline", 1.0, 1.0, probed=False)
    report = gate.compare_sets(old, _set("current", 1.0, 1.15, seed=1), POLICY)
    assert report.runner is None and report.verdict == verdicts.REGRESSION
    assert "not probed on both sides" in runner_line(report)
    assert runner_speed.shift([10.0], [10.0, 11.0], POLICY) is None


def test_a_check_stops_when_the_runner_moved():
    # an unchanged build on a runner 20% slower: more runs cannot give a verdict back
    runs, taken = _runs("current", 1.0, 1.2, n=50, seed=1), []

    def measure():
        taken.append(runs[len(taken)])
        return runsets.set_of("current", taken)

    result = gate.sequential_check(BASELINE, measure, gate.CheckPlan(), POLICY,
                                   clock=lambda: float(len(taken)))
    assert result.verdict == verdicts.INCONCLUSIVE and len(taken) == 3
    assert result.stopped_because == "the runner's own speed moved (see runner:)"
