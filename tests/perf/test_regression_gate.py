"""The regression gate end to end: real perf runs, saved by pytest-benchmark, compared.

Three runs of the same recorded benchmark (one request at a time on the instances repo):
a baseline, an unchanged rerun, and a rerun against a variant of the repo whose stand-in
does ~15% more work per image (the same answers, more HOG scanning). The gate must pass
the unchanged run and fail the slowed one with its table.
"""

from pnsuite.cli import gate
from pnsuite.repository import model_config

EXTRA_WORK = "0.17"  # a strip of 17% of the width scanned again: ~15% more HOG time


def test_gate_passes_an_unchanged_build_and_fails_a_slowed_model(instances_repo, tmp_path,
                                                                  perf_run, capsys):
    slowed = model_config.write_variant(instances_repo, tmp_path / "slowed" / instances_repo.name,
                                        parameters={"extra_work": EXTRA_WORK})
    baseline = perf_run(instances_repo, tmp_path / "baseline.json")
    unchanged = perf_run(instances_repo, tmp_path / "unchanged.json")
    slow = perf_run(slowed, tmp_path / "slowed.json")

    assert gate.main([str(baseline), str(unchanged)]) == 0, capsys.readouterr().out
    capsys.readouterr()
    assert gate.main([str(baseline), str(slow)]) == 1
    table = capsys.readouterr().out
    assert "REGRESSION" in table and "gate: FAILED" in table, table
    print(table)
