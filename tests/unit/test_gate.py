"""The gate's decision rule on known samples (large AND significant, both required), and
its command line on runs it must refuse: other machines, broken or foreign files."""

import json
import subprocess
import sys

import pytest

from pnsuite.cli import gate as gate_cli
from pnsuite.perf import gate


def _run(rounds_by_name, foreign=0.0, **machine):
    info = {"triton_version": "2.51.0", "launcher": "embedded", "machine": "x86_64",
            "cpu_model": "cpu", **machine}
    return {"machine_info": info, "benchmarks": [
        {"fullname": name, "stats": {"data": rounds},
         "extra_info": {"foreign_cpu_cores": foreign}}
        for name, rounds in rounds_by_name.items()]}


BASE = [0.100, 0.102, 0.098, 0.101, 0.099, 0.103]


def _verdict(new_rounds, threshold=0.10, alpha=0.05, old=BASE):
    rows = gate.compare_runs(_run({"b": old}), _run({"b": new_rounds}), threshold, alpha)
    return rows[0]


def test_the_same_distribution_passes():
    assert _verdict([0.101, 0.099, 0.100, 0.102, 0.098, 0.103]).verdict == "ok"


def test_a_large_significant_slowdown_is_a_regression():
    row = _verdict([x * 1.2 for x in BASE])
    assert row.verdict == "REGRESSION"
    assert row.change == pytest.approx(0.2, abs=0.01) and row.p_value < 0.05


def test_a_significant_but_small_slowdown_passes():
    assert _verdict([x * 1.05 for x in BASE]).verdict == "ok"


def test_a_large_slowdown_in_noise_is_not_significant():
    # Medians 20% apart, but the rounds overlap wholly: one noisy run decides nothing.
    old = [0.05, 0.30, 0.10, 0.25, 0.08, 0.12]
    new = [0.06, 0.28, 0.12, 0.26, 0.09, 0.15]
    row = _verdict(new, old=old)
    assert row.change > 0.1 and row.verdict == "ok"


def test_a_large_significant_speedup_is_reported_as_improved():
    assert _verdict([x * 0.7 for x in BASE]).verdict == "improved"


def test_missing_and_new_benchmarks_are_named():
    rows = gate.compare_runs(_run({"a": BASE, "gone": BASE}), _run({"a": BASE, "fresh": BASE}))
    assert {r.name: r.verdict for r in rows} == {"a": "ok", "gone": "MISSING", "fresh": "new"}


def test_rounds_are_required():
    old = {"benchmarks": [{"fullname": "b", "stats": {}}]}
    with pytest.raises(gate.GateError, match="--benchmark-save-data"):
        gate.compare_runs(old, _run({"b": BASE}))


def test_the_cli_refuses_runs_of_another_machine(tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_run({"b": BASE}, cpu_model="Xeon A")))
    new.write_text(json.dumps(_run({"b": BASE}, cpu_model="Xeon B")))
    assert gate_cli.main([str(old), str(new)]) == 2
    assert "cpu_model: baseline 'Xeon A', current 'Xeon B'" in capsys.readouterr().err


def test_runs_over_another_transport_are_refused(tmp_path, capsys):
    # GPU shared memory takes the python backend's host copies away: not the same load.
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_run({"b": BASE})))  # saved before transport was recorded
    new.write_text(json.dumps(_run({"b": BASE}, transport="cuda_shm")))
    assert gate_cli.main([str(old), str(new)]) == 2
    assert "transport: baseline 'system_shm', current 'cuda_shm'" in capsys.readouterr().err
    new.write_text(json.dumps(_run({"b": BASE}, transport="system_shm")))
    assert gate_cli.main([str(old), str(new)]) == 0


JETSON = {"jetson": True, "jetson_model": "NVIDIA Jetson AGX Orin Developer Kit",
          "nvpmodel_mode": "MAXN", "nvpmodel_id": 0, "jetson_clocks": True,
          "jetson_release": "JetPack 6.0 (L4T R36.3.0)"}


def test_a_jetson_in_another_power_mode_is_refused(tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_run({"b": BASE}, **JETSON)))
    new.write_text(json.dumps(_run({"b": BASE}, **{**JETSON, "nvpmodel_mode": "15W",
                                                   "nvpmodel_id": 1})))
    assert gate_cli.main([str(old), str(new)]) == 2
    assert "power mode differs" in capsys.readouterr().err


def test_a_new_jetpack_is_refused_unless_validating_a_new_release(tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_run({"b": BASE}, **JETSON)))
    new.write_text(json.dumps(_run({"b": BASE}, **{**JETSON,
                                                   "jetson_release": "JetPack 6.1 (L4T R36.4.0)"})))
    assert gate_cli.main([str(old), str(new)]) == 2
    assert "--new-release" in capsys.readouterr().err
    assert gate_cli.main([str(old), str(new), "--new-release"]) == 0
    assert "note: jetson_release" in capsys.readouterr().out


def test_the_cli_fails_with_the_table_on_a_regression(tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_run({"test_throughput[x]": BASE})))
    new.write_text(json.dumps(_run({"test_throughput[x]": [x * 1.3 for x in BASE]})))
    assert gate_cli.main([str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "test_throughput[x]" in out and "REGRESSION" in out and "+30.0%" in out


def test_a_slowdown_while_neighbours_took_the_cpu_is_inconclusive_not_a_regression(
        tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_run({"b": BASE})))
    new.write_text(json.dumps(_run({"b": [x * 1.3 for x in BASE]}, foreign=0.9)))
    assert gate_cli.main([str(old), str(new)]) == 3
    out = capsys.readouterr().out
    assert "DISTURBED" in out and "INCONCLUSIVE" in out


# ---------------------------------------------------------------- files that are not runs

def _gate_on(tmp_path, capsys, broken_text, broken_side):
    """Gate a good run against a file holding `broken_text`; (exit code, stdout, stderr)."""
    good, broken = tmp_path / "good.json", tmp_path / "broken.json"
    good.write_text(json.dumps(_run({"b": BASE})))
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


def test_the_newest_saved_run_is_read_even_when_it_is_broken(tmp_path, capsys):
    """A broken newest run in the storage is named, not skipped for an older one."""
    machine = tmp_path / "storage" / "Linux-CPython-3.11-64bit"
    machine.mkdir(parents=True)
    (machine / "0001_base.json").write_text(json.dumps(_run({"b": BASE})))
    (machine / "0002_base.json").write_text('{"benchmarks": [')
    current = tmp_path / "current.json"
    current.write_text(json.dumps(_run({"b": BASE})))
    code = gate_cli.main(["base", str(current), "--storage", str(tmp_path / "storage")])
    err = capsys.readouterr().err
    assert code == 2 and "0002_base.json: not valid JSON" in err
    (machine / "0002_base.json").unlink()
    assert gate_cli.main(["base", str(current), "--storage", str(tmp_path / "storage")]) == 0
    assert "0001_base.json" in capsys.readouterr().out


def test_a_missing_run_is_refused_with_how_to_record_one(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_run({"b": BASE})))
    assert gate_cli.main([str(good), str(tmp_path / "nope.json")]) == 2
    assert f"no such file: {tmp_path / 'nope.json'}" in capsys.readouterr().err
    assert gate_cli.main(["nosuchname", str(good), "--storage", str(tmp_path / "s")]) == 2
    assert "no benchmark run 'nosuchname'" in capsys.readouterr().err


def test_the_installed_command_prints_one_error_for_a_truncated_file(tmp_path):
    """The real entry point as a process: one message, exit 2, no traceback."""
    broken = tmp_path / "current.json"
    broken.write_text('{"machine_info": {}, "benchmarks": [\n{"fullname": "b",\n')
    out = subprocess.run([sys.executable, "-m", "pnsuite.cli.gate", str(broken), str(broken)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"peoplenet-gate: {broken}: not valid JSON (line 3, column 1")
    assert "Traceback" not in out.stderr
