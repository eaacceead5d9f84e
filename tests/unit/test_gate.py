"""The gate over run sets: verdicts per benchmark and metric from several independent runs
per side, disturbed runs left out on either side, and the command line on runs it must
refuse: other machines, too few runs, broken or foreign files."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from pnsuite.cli import gate as gate_cli
from pnsuite.measure import runsets
from pnsuite.verdict import gate, verdicts

BASE = [0.100, 0.102, 0.098, 0.101, 0.099]


def _run(rounds_by_name, foreign=0.0, infer_ms=30.0, p99_ms=40.0, **machine):
    info = {"triton_version": "2.51.0", "launcher": "embedded", "machine": "x86_64",
            "cpu_model": "cpu", "cpu_count": 2, **machine}
    return {"machine_info": info, "benchmarks": [
        {"fullname": name, "stats": {"data": rounds},
         "extra_info": {"foreign_cpu_cores_per_round": [0.0, foreign, 0.0],
                        "throughput_infer_per_s": len(rounds) / sum(rounds),
                        "server_compute_infer_ms": infer_ms * rounds[0] / BASE[0],
                        "latency_p99_ms": p99_ms * rounds[0] / BASE[0]}}
        for name, rounds in rounds_by_name.items()]}


def _write_set(folder, n=5, scale=1.0, spread=0.01, seed=0, names=("b",), foreign=(),
               factors=None, **machine):
    """n run files in `folder`, each run's rounds scaled by its own run-level factor
    (drawn with the given spread, or given as `factors`)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    factors = factors or [float(np.exp(rng.normal(0, spread))) for _ in range(n)]
    for i, run_factor in enumerate(factors):
        factor = scale * run_factor
        run = _run({name: [x * factor for x in BASE] for name in names},
                   foreign=foreign[i] if i < len(foreign) else 0.0, **machine)
        (folder / f"{i:04d}_run.json").write_text(json.dumps(run))
    return folder


def _report(tmp_path, old_scale=1.0, new_scale=1.0, **kw):
    old = runsets.load_set([str(_write_set(tmp_path / "old", scale=old_scale, seed=1))], tmp_path)
    new = runsets.load_set([str(_write_set(tmp_path / "new", scale=new_scale, seed=2, **kw))],
                           tmp_path)
    return gate.compare_sets(old, new)


def test_the_same_build_passes_on_every_metric(tmp_path):
    report = _report(tmp_path)
    assert report.verdict == verdicts.OK
    assert {r.comparison.metric for r in report.rows} == {"inference_ms", "latency_p99_ms"}


def test_a_slowdown_beyond_the_noise_fails(tmp_path):
    report = _report(tmp_path, new_scale=1.3)
    assert report.verdict == verdicts.REGRESSION
    assert all(r.verdict == verdicts.REGRESSION for r in report.rows)


def test_the_runs_not_the_rounds_are_the_samples(tmp_path):
    # Two runs per side with tight rounds but runs 20% apart: the rounds alone would call
    # a 10% change certain; over runs it cannot be told from the runner's noise.
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    for i, factor in enumerate([1.0, 1.2]):
        (old / f"{i:04d}_r.json").write_text(json.dumps(_run({"b": [x * factor for x in BASE]})))
    for i, factor in enumerate([1.2, 1.3]):
        (new / f"{i:04d}_r.json").write_text(json.dumps(_run({"b": [x * factor for x in BASE]})))
    report = gate.compare_sets(runsets.load_set([str(old)], tmp_path),
                               runsets.load_set([str(new)], tmp_path))
    assert report.verdict == verdicts.INCONCLUSIVE


def test_a_disturbed_run_is_left_out_on_either_side(tmp_path):
    # the current side's only slow runs are the disturbed ones: left out, no regression
    old = runsets.load_set([str(_write_set(tmp_path / "old", seed=1, foreign=[0, 0, 0, 0, 0.9]))],
                           tmp_path)
    _write_set(tmp_path / "new", n=5, seed=2)
    slow = _run({"b": [x * 1.5 for x in BASE]}, foreign=1.2)
    (tmp_path / "new" / "0009_run.json").write_text(json.dumps(slow))
    new = runsets.load_set([str(tmp_path / "new")], tmp_path)
    report = gate.compare_sets(old, new)
    assert report.verdict == verdicts.OK
    assert len(report.left_out) == 2 and "1.20 of 2 cores" in " ".join(report.left_out)
    assert all(len(r.comparison.old) == 4 and len(r.comparison.new) == 5 for r in report.rows)


def test_too_few_undisturbed_runs_is_inconclusive_not_a_pass(tmp_path):
    old = runsets.load_set([str(_write_set(tmp_path / "old", seed=1))], tmp_path)
    new = runsets.load_set([str(_write_set(tmp_path / "new", n=2, foreign=[0.9]))], tmp_path)
    report = gate.compare_sets(old, new)
    assert report.verdict == verdicts.INCONCLUSIVE and report.undecided


def test_missing_and_new_benchmarks_are_named(tmp_path):
    old = runsets.load_set([str(_write_set(tmp_path / "old", names=("a", "gone")))], tmp_path)
    new = runsets.load_set([str(_write_set(tmp_path / "new", names=("a", "fresh")))], tmp_path)
    report = gate.compare_sets(old, new)
    assert report.missing == ["gone"] and report.new == ["fresh"]
    assert report.verdict == verdicts.REGRESSION


def test_the_preflight_reports_the_baselines_noise(tmp_path):
    quiet = runsets.load_set([str(_write_set(tmp_path / "q", spread=0.01))], tmp_path)
    noisy = runsets.load_set([str(_write_set(tmp_path / "n", spread=0.2))], tmp_path)
    policy = verdicts.Policy()
    assert all(p.detectable < 0.10 for p in gate.preflight(quiet, 6, policy))
    loud = gate.preflight(noisy, 6, policy)
    assert all(p.detectable > 0.10 and (p.runs_for_threshold or 999) > 6 for p in loud)


def _cli(tmp_path, *args, old_machine=None, new_machine=None, new_scale=1.0):
    old = _write_set(tmp_path / "old", seed=1, **(old_machine or {}))
    new = _write_set(tmp_path / "new", seed=2, scale=new_scale, **(new_machine or {}))
    return gate_cli.main([str(old), str(new), *args])


def test_the_cli_refuses_runs_of_another_machine(tmp_path, capsys):
    assert _cli(tmp_path, old_machine={"cpu_model": "Xeon A"},
                new_machine={"cpu_model": "Xeon B"}) == 2
    assert "cpu_model: baseline 'Xeon A', current 'Xeon B'" in capsys.readouterr().err


def test_runs_of_one_side_from_two_machines_are_refused(tmp_path, capsys):
    old = _write_set(tmp_path / "old", seed=1)
    (old / "0007_run.json").write_text(json.dumps(_run({"b": BASE}, cpu_model="Xeon B")))
    new = _write_set(tmp_path / "new", seed=2)
    assert gate_cli.main([str(old), str(new)]) == 2
    assert "baseline run 0007_run.json differs" in capsys.readouterr().err


def test_runs_over_another_transport_are_refused(tmp_path, capsys):
    # GPU shared memory takes the python backend's host copies away: not the same load.
    assert _cli(tmp_path, new_machine={"transport": "cuda_shm"}) == 2
    assert "transport: baseline 'system_shm', current 'cuda_shm'" in capsys.readouterr().err


JETSON = {"jetson": True, "jetson_model": "NVIDIA Jetson AGX Orin Developer Kit",
          "nvpmodel_mode": "MAXN", "nvpmodel_id": 0, "jetson_clocks": True,
          "jetson_release": "JetPack 6.0 (L4T R36.3.0)"}


def test_a_jetson_in_another_power_mode_is_refused(tmp_path, capsys):
    assert _cli(tmp_path, old_machine=JETSON,
                new_machine={**JETSON, "nvpmodel_mode": "15W", "nvpmodel_id": 1}) == 2
    assert "power mode differs" in capsys.readouterr().err


def test_a_jetson_with_another_emc_clock_is_refused_naming_both(tmp_path, capsys):
    pinned = {**JETSON, "jetson_gpu_clock": "1300.5 MHz", "jetson_emc_clock": "3199 MHz"}
    assert _cli(tmp_path, old_machine=pinned,
                new_machine={**pinned, "jetson_emc_clock": "2133 MHz"}) == 2
    err = capsys.readouterr().err
    assert "EMC clock differs: baseline 3199 MHz, this run 2133 MHz" in err
    assert "GPU clock" not in err


def test_a_new_jetpack_is_refused_unless_validating_a_new_release(tmp_path, capsys):
    newer = {**JETSON, "jetson_release": "JetPack 6.1 (L4T R36.4.0)"}
    assert _cli(tmp_path, old_machine=JETSON, new_machine=newer) == 2
    assert "--new-release" in capsys.readouterr().err
    assert _cli(tmp_path, "--new-release", old_machine=JETSON, new_machine=newer) == 0
    assert "note: jetson_release" in capsys.readouterr().out


def test_the_cli_fails_with_the_table_on_a_regression(tmp_path, capsys):
    assert _cli(tmp_path, new_scale=1.3) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "gate: FAILED" in out
    assert re.search(r"inference_ms +5/5 .* \+(29|30|31)\.\d%", out), out


def test_the_cli_says_inconclusive_with_exit_3(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    _write_set(old, factors=[1.0, 1.2, 0.9])
    _write_set(new, factors=[1.15, 1.3, 1.0])
    assert gate_cli.main([str(old), str(new)]) == 3
    assert "gate: INCONCLUSIVE" in capsys.readouterr().out


def test_a_single_run_per_side_is_refused_not_passed(tmp_path, capsys):
    old, new = _write_set(tmp_path / "old", n=1), _write_set(tmp_path / "new", n=1, seed=2)
    assert gate_cli.main([str(old), str(new)]) == 2
    assert "at least 2 independent runs on each side" in capsys.readouterr().err


def test_the_noise_command_says_whether_the_threshold_is_detectable(tmp_path, capsys):
    assert gate_cli.main(["noise", str(_write_set(tmp_path / "q", spread=0.01))]) == 0
    assert gate_cli.main(["noise", str(_write_set(tmp_path / "n", spread=0.3))]) == 3
    assert "ABOVE the 10% threshold" in capsys.readouterr().out


def test_saved_names_match_exactly(tmp_path):
    machine = tmp_path / "Linux-CPython-3.11-64bit"
    machine.mkdir()
    for name in ("0001_base", "0002_baseline", "0003_base", "0004_base-disturbed"):
        (machine / f"{name}.json").write_text(json.dumps(_run({"b": BASE})))
    assert [p.name for p in runsets.saved_runs("base", tmp_path)] == ["0001_base.json",
                                                                      "0003_base.json"]


# ---------------------------------------------------------------- files that are not runs

def _gate_on(tmp_path, capsys, broken_text, broken_side):
    """Gate good runs against a file holding `broken_text`; (exit code, stdout, stderr)."""
    good, broken = _write_set(tmp_path / "good"), tmp_path / "broken.json"
    broken.write_text(broken_text)
    pair = [good, broken] if broken_side == "current" else [broken, good]
    code = gate_cli.main([str(p) for p in pair])
    out, err = capsys.readouterr()
    return code, out, err, broken


@pytest.mark.parametrize("side", ["baseline", "current"])
def test_a_truncated_run_is_refused_with_where_the_json_breaks(tmp_path, capsys, side):
    whole = json.dumps(_run({"b": BASE}), indent=4)
    code, out, err, broken = _gate_on(tmp_path, capsys, whole[:len(whole) // 2], side)
    assert code == 2
    assert f"peoplenet-gate: {broken}: not valid JSON (line " in err
    assert "truncated?" in err and "re-record it" in err
    assert "Traceback" not in err + out and "JSONDecodeError" not in err
    assert "gate:" not in out  # no verdict is printed for a run that was not read


def test_an_empty_run_file_is_refused(tmp_path, capsys):
    code, _, err, broken = _gate_on(tmp_path, capsys, "", "current")
    assert code == 2 and f"{broken}: empty" in err


@pytest.mark.parametrize("text, problem", [
    ('{"results": [1, 2, 3]}', 'no "benchmarks" list'),
    ('{"benchmarks": {"b": []}}', 'no "benchmarks" list'),
    ("[1, 2, 3]", "the top level is a list, not an object"),
    ('{"benchmarks": [{"stats": {"data": [0.1]}}]}', 'benchmark 0 has no "fullname"'),
    ('{"benchmarks": [], "machine_info": "x86"}', '"machine_info" is not an object')])
def test_json_that_is_not_a_pytest_benchmark_run_is_refused(tmp_path, capsys, text, problem):
    code, _, err, broken = _gate_on(tmp_path, capsys, text, "baseline")
    assert code == 2
    assert f"{broken}: JSON, but not a pytest-benchmark run ({problem})" in err
    assert "--benchmark-json" in err and "Traceback" not in err


def test_a_broken_run_in_a_saved_set_is_named_not_skipped(tmp_path, capsys):
    """Every run saved under the name is read: a broken one is named, never left out."""
    storage = tmp_path / "storage"
    machine = storage / "Linux-CPython-3.11-64bit"
    machine.mkdir(parents=True)
    for i in range(3):
        (machine / f"000{i}_base.json").write_text(json.dumps(_run({"b": BASE})))
    (machine / "0003_base.json").write_text('{"benchmarks": [')
    current = _write_set(tmp_path / "current")
    code = gate_cli.main(["compare", "base", str(current), "--storage", str(storage)])
    assert code == 2 and "0003_base.json: not valid JSON" in capsys.readouterr().err
    (machine / "0003_base.json").unlink()
    assert gate_cli.main(["base", str(current), "--storage", str(storage)]) == 0
    assert "baseline: base (3 runs)" in capsys.readouterr().out


def test_a_missing_run_is_refused_with_how_to_record_one(tmp_path, capsys):
    good = _write_set(tmp_path / "good")
    assert gate_cli.main([str(good), str(tmp_path / "nope.json")]) == 2
    assert f"no such file: {tmp_path / 'nope.json'}" in capsys.readouterr().err
    assert gate_cli.main(["nosuchname", str(good), "--storage", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "no benchmark run 'nosuchname'" in err and "peoplenet-gate record nosuchname" in err


def test_the_installed_command_prints_one_error_for_a_truncated_file(tmp_path):
    """The real entry point as a process: one message, exit 2, no traceback."""
    broken = tmp_path / "current.json"
    broken.write_text('{"machine_info": {}, "benchmarks": [\n{"fullname": "b",\n')
    out = subprocess.run([sys.executable, "-m", "pnsuite.cli.gate", str(broken), str(broken)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"peoplenet-gate: {broken}: not valid JSON (line 3, column 1")
    assert "Traceback" not in out.stderr
