"""The regression gate end to end: real perf runs, saved by pytest-benchmark, compared.

Three runs of the same recorded benchmark (one request at a time on the instances repo):
a baseline, an unchanged rerun, and a rerun against a variant of the repo whose stand-in
scans every image twice (the same answers, about twice the HOG time). The gate must pass
the unchanged run and fail the slowed one with its table.

Separate runs of one unchanged build drift as a whole: on a 2-core x86_64 CI machine the
median round time of eleven such runs ranged from 688 to 942 ms, so a 10% threshold on
one run against another is red for nothing there. The gate is asked for what such a
machine can promise: a slowdown past 25% is caught, the unchanged build passes.
"""

from pnsuite.cli import gate
from pnsuite.repository import model_config

EXTRA_WORK = "1.0"  # the whole image scanned again: about twice the HOG time
THRESHOLD = "0.25"  # above the run-to-run drift of one build on a busy 2-core machine


def test_gate_passes_an_unchanged_build_and_fails_a_slowed_model(instances_repo, tmp_path,
                                                                  perf_run, capsys):
    slowed = model_config.write_variant(instances_repo, tmp_path / "slowed" / instances_repo.name,
                                        parameters={"extra_work": EXTRA_WORK})
    baseline = perf_run(instances_repo, tmp_path / "baseline.json")
    unchanged = perf_run(instances_repo, tmp_path / "unchanged.json")
    slow = perf_run(slowed, tmp_path / "slowed.json")

    assert gate.main([str(baseline), str(unchanged), "--threshold", THRESHOLD]) == 0, \
        capsys.readouterr().out
    capsys.readouterr()
    assert gate.main([str(baseline), str(slow), "--threshold", THRESHOLD]) == 1
    table = capsys.readouterr().out
    assert "REGRESSION" in table and "gate: FAILED" in table, table
    print(table)
