"""The regression gate end to end: real perf runs, saved by pytest-benchmark, compared.

Three runs of the same recorded benchmark (one request at a time on the instances repo):
a baseline, an unchanged rerun, and a rerun against a variant of the repo whose stand-in
does ~15% more work per image (the same answers, more HOG scanning). The gate must pass
the unchanged run and fail the slowed one with its table.
"""

import subprocess
import sys

import pytest

from fixtures import gate, model_config
from fixtures.server.embedded import PROJECT_ROOT

BENCHMARK = "tests/perf/test_benchmarks.py::test_throughput"
EXTRA_WORK = "0.17"  # a strip of 17% of the width scanned again: ~15% more HOG time


def _perf_run(repo, out, launcher: str):
    command = [sys.executable, "-m", "pytest", BENCHMARK, "-k", "c1", "-q", "-p",
               "no:cacheprovider", "--benchmark-save-data", f"--benchmark-json={out}",
               f"--triton-repos={repo}", f"--triton-launcher={launcher}"]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
    return out


def test_gate_passes_an_unchanged_build_and_fails_a_slowed_model(instances_repo, tmp_path,
                                                                  suite_settings, capsys):
    slowed = model_config.write_variant(instances_repo, tmp_path / "slowed" / instances_repo.name,
                                        parameters={"extra_work": EXTRA_WORK})
    launcher = suite_settings.launcher
    baseline = _perf_run(instances_repo, tmp_path / "baseline.json", launcher)
    unchanged = _perf_run(instances_repo, tmp_path / "unchanged.json", launcher)
    slow = _perf_run(slowed, tmp_path / "slowed.json", launcher)

    assert gate.main([str(baseline), str(unchanged)]) == 0, capsys.readouterr().out
    capsys.readouterr()
    assert gate.main([str(baseline), str(slow)]) == 1
    table = capsys.readouterr().out
    assert "REGRESSION" in table and "gate: FAILED" in table, table
    print(table)
