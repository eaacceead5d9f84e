"""Benchmark histories from synthetic pytest-benchmark files: a slowdown flagged between the
right commits, a release change annotated and not flagged, one series per machine, and the
command line's output and exit codes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from pnsuite.cli import history as history_cli
from pnsuite.history import history
from pnsuite.measure.records import IDENTITY_KEYS

BENCH = "tests/perf/test_benchmarks.py::test_throughput[embedded-sample_1_instances-c1]"
START = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _commit(i: int) -> str:
    return hashlib.sha1(f"commit {i}".encode()).hexdigest()


def _run(i: int, level: float, *, triton: str = "2.51.0", foreign: float = 0.0,
         rounds: bool = True, **machine) -> dict:
    """Run number i (one hour after run i - 1) of commit i, whose rounds lie around `level`."""
    rng = np.random.default_rng(i)
    run_level = level * np.exp(rng.normal(0.0, 0.02))  # every server start is a bit different
    data = list(run_level * np.exp(rng.normal(0.0, 0.01, 10)))
    info = {"launcher": "embedded", "machine": "x86_64", "cpu_model": "Xeon",
            "transport": "system_shm", "triton_version": triton, "cpu": {"count": 2}, **machine}
    stats = {"median": float(np.median(data)) * 2, **({"data": data} if rounds else {})}
    return {"machine_info": info,
            "commit_info": {"id": _commit(i), "dirty": False, "branch": "main"},
            "datetime": (START + timedelta(hours=i)).isoformat(),
            "benchmarks": [{"fullname": BENCH, "stats": stats,
                            "extra_info": {"server_compute_infer_ms": run_level * 50,
                                           "latency_p99_ms": run_level * 300,
                                           "foreign_cpu_cores": foreign}}]}


def _save(folder: Path, runs: list[dict]) -> Path:
    """The runs as pytest-benchmark storage, numbered against time so that file order is not
    time order."""
    storage = folder / "Linux-CPython-3.11-64bit"
    storage.mkdir(parents=True, exist_ok=True)
    for n, run in enumerate(runs):
        (storage / f"{len(runs) - n:04d}_run.json").write_text(json.dumps(run))
    return folder


def _histories(folder: Path, metric: str = "round_s") -> list[history.History]:
    return [history.analyse(s) for s in history.series(history.load_runs(folder), metric)]


def _slowdown(after: int = 7, total: int = 14) -> list[dict]:
    return [_run(i, 0.100 if i < after else 0.125) for i in range(total)]


def test_a_slowdown_midway_is_a_regression_between_its_commits(tmp_path):
    [h] = _histories(_save(tmp_path, _slowdown()))
    assert [p.commit for p in h.series.points] == [_commit(i)[:8] for i in range(14)]
    [change] = h.changes
    assert change.kind == "regression" and change.index == 7
    assert (change.commit_before, change.commit_after) == (_commit(6)[:8], _commit(7)[:8])
    assert change.relative_change == pytest.approx(0.25, abs=0.05)
    assert change.p_value < 0.05 and h.regressions_in_last_segment() == [change]


def test_a_speedup_is_an_improvement(tmp_path):
    [h] = _histories(_save(tmp_path, [_run(i, 0.1 if i < 7 else 0.08) for i in range(14)]))
    assert [(c.kind, c.index) for c in h.changes] == [("improvement", 7)]
    assert h.regressions_in_last_segment() == []


def test_a_triton_release_change_is_a_known_step_not_a_regression(tmp_path):
    runs = [_run(i, 0.100) for i in range(8)] + [_run(i, 0.120, triton="2.52.0")
                                                 for i in range(8, 16)]
    [h] = _histories(_save(tmp_path, runs))
    [step] = h.known_steps
    assert step.index == 8 and step.changes == ("triton_version 2.51.0 -> 2.52.0",)
    assert step.relative_change == pytest.approx(0.20, abs=0.04)
    assert h.changes == ()
    assert history_cli.main([str(tmp_path), "--fail-on-regression"]) == 0


def test_only_a_regression_since_the_last_known_step_fails(tmp_path, capsys):
    old_release = _slowdown(after=7, total=14)
    new_release = [_run(i, 0.125, triton="2.52.0") for i in range(14, 21)]
    _save(tmp_path, old_release + new_release)
    [h] = _histories(tmp_path)
    assert [(c.kind, c.index) for c in h.changes] == [("regression", 7)]
    assert h.last_segment_start == 14 and h.regressions_in_last_segment() == []
    # The release itself changed nothing: the step compares the runs next to it.
    assert h.known_steps[0].relative_change == pytest.approx(0.0, abs=0.04)
    assert history_cli.main([str(tmp_path), "--fail-on-regression"]) == 0
    out = capsys.readouterr().out
    assert "REGRESSION between #6 and #7" in out and "known step between #13 and #14" in out


def test_the_cli_fails_on_a_new_regression_only_when_asked(tmp_path, capsys):
    _save(tmp_path, _slowdown())
    assert history_cli.main([str(tmp_path)]) == 0
    assert history_cli.main([str(tmp_path), "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    assert f"({_commit(6)[:8]}..{_commit(7)[:8]})" in out and "history: FAILED" in out


def test_the_json_output_holds_points_steps_and_changes(tmp_path):
    runs = _save(tmp_path / "runs", _slowdown() + [_run(14, 0.125, triton="2.52.0")])
    out = tmp_path / "history.json"
    assert history_cli.main([str(runs), "--json", str(out), "--metric", "compute_infer_ms"]) == 0
    doc = json.loads(out.read_text())
    assert doc["metric"] == "compute_infer_ms" and doc["runs"] == 15
    [entry] = doc["series"]
    assert entry["benchmark"] == BENCH and entry["machine"]["cpu_model"] == "Xeon"
    assert len(entry["points"]) == 15
    assert entry["points"][0]["value"] == pytest.approx(5.0, rel=0.1)  # ms, from extra_info
    assert [(s["index"], s["changes"]) for s in entry["known_steps"]] == [
        (14, ["triton_version 2.51.0 -> 2.52.0"])]
    [change] = entry["changes"]
    assert (change["kind"], change["index"], change["in_last_segment"]) == ("regression", 7, False)
    assert (change["commit_before"], change["commit_after"]) == (_commit(6)[:8], _commit(7)[:8])


def test_other_machines_and_power_modes_are_separate_series(tmp_path):
    jetson = {"jetson": True, "jetson_model": "NVIDIA Jetson AGX Orin", "nvpmodel_id": 0,
              "jetson_clocks": True, "machine": "aarch64"}
    runs = ([_run(i, 0.1, cpu_model="Xeon A") for i in range(4)]
            + [_run(i, 0.2, cpu_model="Xeon B") for i in range(4, 7)]
            + [_run(i, 0.3, nvpmodel_mode="MAXN", **jetson) for i in range(7, 9)]
            + [_run(9, 0.6, nvpmodel_mode="30W", **jetson)])
    found = history.series(history.load_runs(_save(tmp_path, runs)))
    by_machine = {dict(s.identity)["cpu_model"] if "nvpmodel_mode" not in dict(s.identity)
                  else dict(s.identity)["nvpmodel_mode"]: len(s.points) for s in found}
    assert by_machine == {"Xeon A": 4, "Xeon B": 3, "MAXN": 2, "30W": 1}


def test_a_changed_board_state_starts_a_new_series_and_other_machines_keep_theirs(tmp_path):
    """The GPU and EMC clock settings are part of a Jetson's identity; a run saved before
    they were recorded, or a machine that is no Jetson, has the identity it had."""
    jetson = {"jetson": True, "jetson_model": "NVIDIA Jetson AGX Orin", "nvpmodel_mode": "MAXN",
              "nvpmodel_id": 0, "jetson_clocks": True, "jetson_gpu_clock": "1300.5 MHz"}
    runs = ([_run(i, 0.3, jetson_emc_clock="3199 MHz", **jetson) for i in range(3)]
            + [_run(i, 0.4, jetson_emc_clock="2133 MHz", **jetson) for i in range(3, 5)])
    found = history.series(history.load_runs(_save(tmp_path, runs)))
    assert sorted((dict(s.identity)["jetson_emc_clock"], len(s.points)) for s in found) == \
        [("2133 MHz", 2), ("3199 MHz", 3)]
    host = {"cpu_model": "Xeon", "machine": "x86_64"}
    assert [k for k, _ in history.machine_identity(host)] == list(IDENTITY_KEYS)
    older = {k: v for k, v in jetson.items() if k != "jetson_gpu_clock"}
    assert "jetson_gpu_clock" not in dict(history.machine_identity(older))


def test_round_s_falls_back_to_the_saved_median_without_rounds(tmp_path):
    [s] = history.series(history.load_runs(_save(tmp_path, [_run(0, 0.1, rounds=False)])))
    assert s.points[0].value == pytest.approx(0.2, rel=0.1)  # _run saves twice the rounds' median


def test_disturbed_runs_are_left_out_and_listed(tmp_path, capsys):
    runs = [_run(i, 0.1, foreign=1.5 if i == 3 else 0.0) for i in range(8)]
    [s] = history.series(history.load_runs(_save(tmp_path, runs)))
    assert len(s.points) == 7 and [p.commit for p in s.disturbed] == [_commit(3)[:8]]
    [kept] = history.series(history.load_runs(tmp_path), include_disturbed=True)
    assert len(kept.points) == 8
    assert history_cli.main([str(tmp_path)]) == 0
    assert "left out 1 disturbed run(s)" in capsys.readouterr().out


def test_a_broken_file_stops_the_cli_with_exit_2_naming_it(tmp_path, capsys):
    _save(tmp_path, _slowdown())
    broken = tmp_path / "Linux-CPython-3.11-64bit" / "0099_broken.json"
    broken.write_text(json.dumps(_run(99, 0.1))[:120])
    assert history_cli.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(broken) in err and "not valid JSON" in err


def test_other_tools_json_in_a_folder_is_skipped_but_not_when_named(tmp_path, capsys):
    _save(tmp_path, _slowdown())
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"verdict": "ok"}))
    assert len(history.load_runs(tmp_path)) == 14
    assert history_cli.main([str(summary)]) == 2
    assert f"{summary}: JSON, but not a pytest-benchmark run" in capsys.readouterr().err


def test_no_runs_or_no_match_is_exit_2(tmp_path, capsys):
    assert history_cli.main([str(tmp_path)]) == 2
    assert "no pytest-benchmark runs" in capsys.readouterr().err
    assert history_cli.main([str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    _save(tmp_path, _slowdown())
    assert history_cli.main([str(tmp_path), "-k", "not-a-benchmark"]) == 2
    assert "no benchmark matching 'not-a-benchmark'" in capsys.readouterr().err
    assert history_cli.main([str(tmp_path), "-k", "sample_1_instances"]) == 0


def test_it_runs_as_a_module(tmp_path):
    _save(tmp_path, _slowdown())
    out = subprocess.run([sys.executable, "-m", "pnsuite.cli.history", str(tmp_path),
                          "--fail-on-regression"], capture_output=True, text=True, check=False)
    assert out.returncode == 1, out.stderr
    assert BENCH in out.stdout and "REGRESSION" in out.stdout
