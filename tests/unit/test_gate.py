"""The gate's decision rule on known samples: large AND significant, both required."""

import json

import pytest

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
    assert gate.main([str(old), str(new)]) == 2
    assert "cpu_model: baseline 'Xeon A', current 'Xeon B'" in capsys.readouterr().err


def test_runs_over_another_transport_are_refused(tmp_path, capsys):
    # GPU shared memory takes the python backend's host copies away: not the same load.
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_run({"b": BASE})))  # saved before transport was recorded
    new.write_text(json.dumps(_run({"b": BASE}, transport="cuda_shm")))
    assert gate.main([str(old), str(new)]) == 2
    assert "transport: baseline 'system_shm', current 'cuda_shm'" in capsys.readouterr().err
    new.write_text(json.dumps(_run({"b": BASE}, transport="system_shm")))
    assert gate.main([str(old), str(new)]) == 0


JETSON = {"jetson": True, "jetson_model": "NVIDIA Jetson AGX Orin Developer Kit",
          "nvpmodel_mode": "MAXN", "nvpmodel_id": 0, "jetson_clocks": True,
          "jetson_release": "JetPack 6.0 (L4T R36.3.0)"}


def test_a_jetson_in_another_power_mode_is_refused(tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_run({"b": BASE}, **JETSON)))
    new.write_text(json.dumps(_run({"b": BASE}, **{**JETSON, "nvpmodel_mode": "15W",
                                                   "nvpmodel_id": 1})))
    assert gate.main([str(old), str(new)]) == 2
    assert "power mode differs" in capsys.readouterr().err


def test_a_new_jetpack_is_refused_unless_validating_a_new_release(tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_run({"b": BASE}, **JETSON)))
    new.write_text(json.dumps(_run({"b": BASE}, **{**JETSON,
                                                   "jetson_release": "JetPack 6.1 (L4T R36.4.0)"})))
    assert gate.main([str(old), str(new)]) == 2
    assert "--new-release" in capsys.readouterr().err
    assert gate.main([str(old), str(new), "--new-release"]) == 0
    assert "note: jetson_release" in capsys.readouterr().out


def test_the_cli_fails_with_the_table_on_a_regression(tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_run({"test_throughput[x]": BASE})))
    new.write_text(json.dumps(_run({"test_throughput[x]": [x * 1.3 for x in BASE]})))
    assert gate.main([str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "test_throughput[x]" in out and "REGRESSION" in out and "+30.0%" in out


def test_a_slowdown_while_neighbours_took_the_cpu_is_inconclusive_not_a_regression(
        tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_run({"b": BASE})))
    new.write_text(json.dumps(_run({"b": [x * 1.3 for x in BASE]}, foreign=0.9)))
    assert gate.main([str(old), str(new)]) == 3
    out = capsys.readouterr().out
    assert "DISTURBED" in out and "INCONCLUSIVE" in out
