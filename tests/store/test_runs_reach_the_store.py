"""pytest writes each benchmark run into the results store, and the gate and the history
work from the store alone: no baseline file."""

from __future__ import annotations

import copy
import json
import shutil

import pytest

from sqlalchemy.engine import make_url

from pnsuite.cli import gate as gate_cli
from pnsuite.cli import history as history_cli
from pnsuite.cli import results as results_cli
from pnsuite.paths import EMBEDDED_REPOS, PROJECT_ROOT
from pnsuite.store import open_store

SECRET = "s3cret-never-printed"
BENCHMARK_TEST = """
def test_sleepless(benchmark):
    benchmark.extra_info["latency_p99_ms"] = 1.5
    benchmark.pedantic(sum, args=(range(1000),), rounds=5, iterations=1)
"""


@pytest.fixture
def child_env(monkeypatch):
    """The child session's environment: the pytest layer on its path (not installed), and
    not marked as an xdist worker when this run uses -n (pytest-benchmark would switch
    itself off there)."""
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


def _session(pytester, store: str, *options: str):
    return pytester.runpytest_subprocess(
        "-p", "fixtures.plugin", "-p", "no:cacheprovider", f"--results-store={store}",
        f"--triton-repos={EMBEDDED_REPOS / 'sample_1_instances'}",
        f"--benchmark-storage={pytester.path / 'bench'}", *options, timeout=120)


def test_a_benchmark_run_is_written_to_the_store(pytester, child_env, store_url):
    pytester.makepyfile(test_tiny=BENCHMARK_TEST)
    if "://" in store_url:  # the test server trusts loopback: any password is let in
        store_url = make_url(store_url).set(password=SECRET).render_as_string(
            hide_password=False)
    for label in ("first", "second"):
        result = _session(pytester, store_url, f"--benchmark-save={label}")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"results store: run * ('{label}') written to *"])
        assert "password" not in result.stdout.str()
        assert SECRET not in result.stdout.str() + result.stderr.str(), "a password was printed"
    with open_store(store_url) as store:
        runs = store.documents()
    assert [r["store_label"] for r in runs] == ["first", "second"]
    saved = sorted((pytester.path / "bench").rglob("*_first.json"))
    assert len(saved) == 1
    stored = {k: v for k, v in runs[0].items()
              if k not in ("source_file", "store_label", "store_run_id")}
    assert stored == json.loads(saved[0].read_text()), "the store's run is not the saved one"


def test_a_run_the_store_refuses_fails_the_session_and_says_how_to_import_it(pytester,
                                                                            child_env):
    pytester.makepyfile(test_tiny=BENCHMARK_TEST)
    path = pytester.path / "refusing.db"
    with open_store(str(path)) as store, store.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON runs "
                             "BEGIN SELECT RAISE(ABORT, 'the disk is full'); END")
    result = _session(pytester, str(path), "--benchmark-save=lost")
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["results store: NOT written: *the disk is full*",
                                 "*peoplenet-results import*"])
    assert list((pytester.path / "bench").rglob("*_lost.json")), "the file copy is kept"


def _runs(template: dict, factor: float, count: int) -> list[dict]:
    out = []
    for i in range(count):
        doc = copy.deepcopy(template)
        doc["datetime"] = f"2026-11-{10 + i:02d}T12:00:00"
        for j, bench in enumerate(doc["benchmarks"]):
            wobble = 1 + 0.01 * ((i * 7 + j * 3) % 5 - 2)
            bench["stats"]["data"] = [v * factor * wobble for v in bench["stats"]["data"]]
            bench["stats"]["median"] *= factor * wobble
            for key in ("server_compute_infer_ms", "latency_p99_ms"):
                if key in bench.get("extra_info", {}):
                    bench["extra_info"][key] *= factor * wobble
            bench["extra_info"]["foreign_cpu_cores_per_round"] = [0.0] * len(
                bench["stats"]["data"])
        out.append(doc)
    return out


def test_the_gate_and_the_history_work_from_the_store_alone(store_url, tmp_path, capsys):
    source = next((PROJECT_ROOT / "results").rglob("pytest-benchmark.json"))
    template = json.loads(source.read_text())
    with open_store(store_url) as store:
        for doc in _runs(template, 1.0, 6):
            store.add_run(doc, label="base")
        for doc in _runs(template, 1.0, 6):
            doc["datetime"] = doc["datetime"].replace("-11-", "-12-")
            store.add_run(doc, label="same")
        for doc in _runs(template, 1.4, 6):
            doc["datetime"] = doc["datetime"].replace("2026-11-", "2027-01-")
            store.add_run(doc, label="slower")
    empty = tmp_path / "no-files"
    empty.mkdir()
    common = ["--storage", str(empty), "--store", store_url]
    assert gate_cli.main(["compare", "base", "same", *common]) == gate_cli.PASSED
    assert gate_cli.main(["compare", "base", "slower", *common]) == gate_cli.REGRESSED
    assert "REGRESSION" in capsys.readouterr().out
    shutil.rmtree(empty)
    code = history_cli.main(["--store", store_url, "--fail-on-regression", "-k", "c1"])
    out = capsys.readouterr().out
    assert code == 1 and "regression" in out, out


def _fleet(store_url: str) -> None:
    """Two boards, 20 days each; the Orin NX 30% slower from day 13 on."""
    template = json.loads(next((PROJECT_ROOT / "results").rglob("pytest-benchmark.json"))
                          .read_text())
    template["benchmarks"] = template["benchmarks"][:1]
    with open_store(store_url) as store:
        for board in ("NVIDIA Jetson AGX Orin", "NVIDIA Jetson Orin NX"):
            for day, doc in enumerate(_runs(template, 1.0, 20)):
                doc["datetime"] = f"2026-11-{day + 1:02d}T10:00:00"
                doc["machine_info"].update(jetson_model=board, node="runner-1")
                doc["commit_info"]["id"] = f"{day:040x}"
                if board.endswith("NX") and day >= 12:
                    for bench in doc["benchmarks"]:
                        bench["stats"]["data"] = [v * 1.3 for v in bench["stats"]["data"]]
                store.add_run(doc, label="baseline" if day < 5 else f"check-{day}")


def test_results_commands_answer_the_fleets_questions(store_url, capsys):
    _fleet(store_url)
    store = ["--store", store_url]
    assert results_cli.main([*store, "regressions", "--since", "2026-11-10"]) == results_cli.FOUND
    out = capsys.readouterr().out
    assert "1 runner identity regressed since 2026-11-10" in out, out
    assert "jetson_model=NVIDIA Jetson Orin NX" in out and "AGX" not in out, out
    assert results_cli.main([*store, "regressions", "--since", "2026-11-15"]) == results_cli.OK
    capsys.readouterr()
    assert results_cli.main([*store, "baseline", "--node", "runner-1"]) == results_cli.OK
    out = capsys.readouterr().out
    assert out.count("  baseline  ") == 2 and out.count("<- last good baseline") == 2, out
    assert "check-" not in out, "a check's runs are no baseline"
    benchmark = json.loads(next((PROJECT_ROOT / "results").rglob("pytest-benchmark.json"))
                           .read_text())["benchmarks"][0]["fullname"]
    assert results_cli.main([*store, "series", benchmark, "--board",
                             "NVIDIA Jetson Orin NX"]) == results_cli.OK
    out = capsys.readouterr().out
    assert "REGRESSION between #11 and #12" in out and out.count("2026-11-") == 20, out
