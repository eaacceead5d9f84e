"""A rehearsal of the Jetson workflow's perf step: ci/jetson-perf.sh, which jetson.yml's
"Perf suite and gate" runs (record on a record_baseline run, gate on any other:
tests/unit/test_jetson_workflow_steps.py checks that dispatch), on a model that ignores
every stand-in parameter, as TensorRT PeopleNet does: record the runner's baseline, then
run the perf tests and gate this build against it, and what an inconclusive gate does to
the job.

Reduced to what a rehearsal needs: one repository, the concurrency-1 benchmark, two
baseline runs and two current runs (so the gate measures even though two runs cannot
detect 10% here: --ignore-noise). The gate is made inconclusive for certain (--alpha
1e-6: no two runs against two are significant, and no interval clears the threshold),
since how the script treats exit 3 is what the job's colour hangs on: with the default
GATE_INCONCLUSIVE (fail) the step fails and says why; with warn it passes with a warning.
The caller's own GATE_INCONCLUSIVE and GATE_ACCEPT never reach the script. The usage errors
are checked without a server in tests/unit/test_jetson_perf_script.py.

The model is the suite's own CPU stand-in (model_repos/embedded), made deaf here, in a real
version directory, and served by the release launcher from an install dir shaped like
JetPack's Triton tarball (made of the embedded server's files), whatever repositories and
launcher the session is configured with: on a board those are TensorRT plans (a
tensorrt_plan config cannot serve a model.py) on the release install or an NGC image (which
may not load the stand-in), and the board's real perf step measures them anyway. Where the
embedded server cannot be had, the rehearsal skips and says why.
tests/unit/test_rehearsal_on_board_repos.py sets it up on a board's layout, and
tests/functional/test_jetson_functional_step.py runs the workflow's functional step.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from pnsuite.paths import EMBEDDED_REPOS, PROJECT_ROOT
from pnsuite.repository import model_config
from pnsuite.store import open_store

# slow: two records and two gates of ci/jetson-perf.sh (minutes)
pytestmark = pytest.mark.slow

#: what the rehearsal's model is made from: a python-backend repo committed with the suite,
#: never one of the configured repositories
STANDIN = EMBEDDED_REPOS / "sample_1_instances"

IGNORING_MODEL = '''"""The stand-in, deaf to every config parameter (as TensorRT PeopleNet is)."""
import json

from pnsuite.models.standin import TritonPythonModel as _StandIn


class TritonPythonModel(_StandIn):
    def initialize(self, args):
        config = json.loads(args["model_config"])
        config["parameters"] = {}
        super().initialize({**args, "model_config": json.dumps(config)})
'''


@pytest.fixture
def ignoring_repo(tmp_path: Path) -> Path:
    """A one-instance copy of the CPU stand-in whose model ignores its config's parameters."""
    repo = model_config.write_variant(
        STANDIN, tmp_path / "ignoring", instances=1,
        parameters={"model_identity": "peoplenet-ignores-parameters", "extra_work": "1.0"})
    version = repo / "peoplenet" / "1"
    version.unlink()  # a symlink to the stand-in's version dir
    version.mkdir()
    (version / "model.py").write_text(IGNORING_MODEL)
    return repo


#: no verdict can be reached: every gate of this rehearsal is inconclusive (exit 3)
UNDECIDABLE = "--min-runs 2 --max-runs 2 --alpha 1e-6"
INCONCLUSIVE_ERROR = "::error::perf gate inconclusive (exit 3)"
INCONCLUSIVE_WARNING = "::warning::perf gate inconclusive (exit 3)"


def _step(mode, env, expect=0):
    done = subprocess.run(["ci/jetson-perf.sh", mode], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == expect, f"ci/jetson-perf.sh {mode}: exit {done.returncode}, " \
                                      f"expected {expect}\n{done.stdout[-4000:]}\n" \
                                      f"{done.stderr[-3000:]}"
    return done.stdout


def test_the_jetson_workflow_records_a_baseline_then_gates(ignoring_repo, release_install_dir,
                                                          tmp_path):
    reports = tmp_path / "reports"
    # The workflow always names a store (the fleet's database, else a SQLite file here).
    store = tmp_path / "runner" / "results.db"
    # The script's defaults are what is rehearsed, whatever the caller's environment says
    # (on main the workflow sets GATE_ACCEPT=1); and the stand-in is served by the launcher
    # that loads it, whatever the board's (release or docker) is.
    env = {key: value for key, value in os.environ.items()
           if key not in ("GATE_INCONCLUSIVE", "GATE_ACCEPT")}
    env.update({"TRITON_SUITE_LAUNCHER": "release",
                "TRITON_SUITE_INSTALL": str(release_install_dir),
                "BENCHMARK_DIR": str(tmp_path / "runner"), "REPORTS": str(reports),
                "TRITON_SUITE_RESULTS_STORE": str(store),
                "BASELINE_RUNS": "2", "BASELINE_MAX_RUNS": "0", "GATE_LABEL": "jp-rehearsal",
                "PERF_TESTS": "tests/perf/test_regression_gate.py",
                "PERF_ARGS": f"--triton-repos={ignoring_repo}", "BENCHMARK_ARGS": "-k c1",
                "GATE_ARGS": f"{UNDECIDABLE} --ignore-noise"})
    recorded = _step("record", env)
    assert "record: baseline 'baseline': 2 runs" in recorded, recorded
    # A reimaged runner: its baseline files are gone, the store still has the baseline.
    storage = tmp_path / "runner" / "storage"
    baseline_files = list(storage.glob("*/*_baseline.json"))
    assert len(baseline_files) == 2, baseline_files
    for path in baseline_files:
        path.rename(tmp_path / path.name)
    # The default: an inconclusive gate fails the step (exit 3), and says why, in the log
    # and in gate.txt (the job summary).
    gated = _step("gate", env, expect=3)
    assert "<- last good baseline" in (reports / "baseline.txt").read_text()
    text = (reports / "gate.txt").read_text()
    assert "gate: INCONCLUSIVE" in text, text
    assert INCONCLUSIVE_ERROR in gated and INCONCLUSIVE_ERROR in text, gated
    assert "GATE_INCONCLUSIVE=warn" in gated and INCONCLUSIVE_WARNING not in gated, gated
    # the pages the workflow uploads: this build against the baseline, and the history
    for page in ("compare", "history"):
        assert (reports / page / "report.html").is_file(), (reports / f"{page}.txt").read_text()
    # the self-test skipped (the model ignores its knob) instead of failing the step
    junit = (reports / "perf.xml").read_text()
    assert 'skipped="2"' in junit and 'failures="0"' in junit, junit
    # every run is in the store and the runner's storage (its history), under its side's name
    for path in baseline_files:
        (tmp_path / path.name).rename(path)
    names = sorted(p.name.split("_", 1)[1] for p in storage.glob("*/*.json"))
    assert names.count("baseline.json") == 2, names
    assert names.count("jp-rehearsal.json") == 2, names
    with open_store(str(store)) as results:
        labels = [d["store_label"] for d in results.documents(include_disturbed=False)]
    assert labels.count("baseline") == 2 and labels.count("jp-rehearsal") == 2, labels
    current = json.loads(next(storage.glob("*/*_jp-rehearsal.json")).read_text())
    assert current["benchmarks"][0]["extra_info"]["foreign_cpu_cores_per_round"], gated
    # and the runner's speed beside it, which the gate compares with the baseline's
    assert current["benchmarks"][0]["extra_info"]["runner_probe_ms"] > 0, gated
    assert "runner: " in text, text

    # The owner's opt-in: the same inconclusive gate is a warning and the step passes. The
    # same baseline, gated again; without --ignore-noise the preflight says at once that two
    # runs cannot decide, so this gate records no runs.
    warned = _step("gate", {**env, "GATE_INCONCLUSIVE": "warn", "GATE_ARGS": UNDECIDABLE})
    text = (reports / "gate.txt").read_text()
    assert "gate: INCONCLUSIVE" in text, text
    assert INCONCLUSIVE_WARNING in warned and INCONCLUSIVE_WARNING in text, warned
    assert INCONCLUSIVE_ERROR not in warned, warned
    assert len(list(storage.glob("*/*_jp-rehearsal.json"))) == 2
