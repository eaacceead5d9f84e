"""A small sweep on real servers: every point measured with its batch statistics, the
best configuration chosen within a constraint and confirmed in independent runs, its
config.pbtxt served as written, the tritonserver options given reaching every server, and
a sweep killed with SIGKILL resumed from its journal with nothing left behind.

Nothing here depends on the stand-in: the figures checked (batch sizes, counts,
rankings) are what Triton reports for any model.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pnsuite import ownership
from pnsuite.measure.answer_check import check_answers
from pnsuite.measure.windows import WindowPlan
from pnsuite.repository import model_config
from pnsuite.sweep.measure import PointPlan
from pnsuite.sweep.objectives import cheapness, parse_constraint, parse_objective
from pnsuite.sweep.outputs import write_outputs
from pnsuite.sweep.points import Batching, Variant
from pnsuite.sweep.space import SweepSpace

pytestmark = pytest.mark.perf

SPACE = SweepSpace(instances=(1, 2), batching=(Batching(False), Batching(True, 0)),
                   concurrency=(1, 2))
PLAN = PointPlan(windows=WindowPlan(seconds=0.5, stable=2, max_windows=4, warmup_s=0.5))
#: excludes the c2 points, which on any model serve at least as much: the best must obey it
CONSTRAINT = "concurrency<=1"


@pytest.fixture(scope="module")
def small_sweep(sweep, instances_repo, tmp_path_factory):
    out = tmp_path_factory.mktemp("small-sweep")
    before = ownership.take()
    doc = sweep(instances_repo, SPACE, PLAN, out=out,
                objective=parse_objective("max:throughput"),
                constraints=[parse_constraint(CONSTRAINT)], confirm_top=2, confirm_runs=2,
                seed=3)
    left = ownership.take() - before
    assert not left, f"the sweep left behind:\n{left.describe()}"
    return doc, out


# slow, as every test of the small sweep (about 80 s): the fast tier starts a sweep's server
# with the options given, and tests/unit/test_sweep_*.py check the search on built points
@pytest.mark.slow
def test_every_point_is_measured_with_batch_statistics_that_cover_it(small_sweep):
    doc, _ = small_sweep
    assert [p.key for p in doc.points] == list(SPACE.keys())
    for p in doc.points:
        assert p.ok, f"{p.key.label}: {p.error}"
        assert sum(size * n for size, n in p.batch_sizes.items()) == p.inferences, p.key.label
        windows = PLAN.windows
        assert windows.stable <= len(p.windows_throughput) <= windows.max_windows
        assert p.windows_counted == windows.stable and isinstance(p.stable, bool)
        # Triton's statistics cover exactly the counted windows: each sent the same
        # requests, one image each, at least one per client
        assert p.inferences % p.windows_counted == 0, p.key.label
        assert p.inferences // p.windows_counted >= p.key.concurrency
        counted = p.windows_throughput[-p.windows_counted:]
        assert p.throughput == pytest.approx(len(counted) / sum(1 / t for t in counted),
                                             rel=1e-3)
        assert 0 < p.latency_p50_ms <= p.latency_p99_ms
        assert p.per_inference_ms["compute_infer"] > 0
        if not p.key.variant.batching.enabled:
            assert set(p.batch_sizes) == {1}, f"{p.key.label} batched without batching"


@pytest.mark.slow  # the same small sweep, with confirmation runs
def test_the_best_meets_the_constraint_and_is_confirmed_in_independent_runs(small_sweep):
    doc, _ = small_sweep
    best = doc.point(doc.best)
    assert best.key.concurrency <= 1
    assert set(doc.ranking) == {p.key.label for p in doc.points if p.key.concurrency <= 1}
    ranked = [doc.point(label).throughput for label in doc.ranking]
    assert ranked == sorted(ranked, reverse=True)
    confirmation = doc.confirmation
    assert confirmation is not None and confirmation.runs == 2
    assert {c.label for c in confirmation.candidates} == set(doc.ranking[:2])
    assert all(len(c.runs_throughput) == 2 for c in confirmation.candidates)
    # The leaders' independent runs decide: the confirmed leader when told apart, else
    # the cheaper of the two.
    verdict = confirmation.best_vs_runner_up
    assert verdict is not None and verdict.best == confirmation.candidates[0].label
    pair = sorted((doc.point(verdict.best), doc.point(verdict.runner_up)), key=cheapness)
    assert doc.best == (verdict.best if verdict.distinct else pair[0].key.label)


@pytest.mark.slow  # the small sweep
def test_the_winning_config_is_served_as_written(small_sweep, instances_repo, make_server,
                                                 tmp_path):
    doc, out = small_sweep
    written = write_outputs(doc, out / "outputs", report=False)
    repo = tmp_path / "deployed"
    (repo / "peoplenet").mkdir(parents=True)
    (repo / "peoplenet" / "config.pbtxt").write_text(written["config"].read_text())
    for entry in (instances_repo / "peoplenet").iterdir():
        if entry.is_dir():
            os.symlink(entry.resolve(), repo / "peoplenet" / entry.name)
    server = make_server(repo)
    with server.grpc_client() as client:
        loaded = model_config.loaded_config(client)
    best = doc.point(doc.best).key.variant
    assert model_config.instance_count(loaded) == best.instances
    assert model_config.batches_dynamically(loaded) == best.batching.enabled
    check_answers(server.grpc_url, model_config.model_identity(loaded))
    assert written["points"].read_text().count("\n") == len(doc.points) + 1


def _journal_points(journal: Path) -> int:
    return max(0, len(journal.read_text().splitlines()) - 1) if journal.exists() else 0


def _servers(tag: str) -> list[str]:
    """The tritonserver processes that carry `tag` (not its stubs or load workers)."""
    return [line for line in ownership.take(tag).processes
            if Path(line.split()[1]).name == "tritonserver"]


def test_every_server_a_sweep_starts_has_the_tritonserver_options_given(sweep_runner,
                                                                         instances_repo):
    # An option whose effect the server reports back: the log settings (logging extension).
    runner = sweep_runner(instances_repo, server_args=("--log-warning=false",))
    server = runner.server_for(Variant(1, Batching(False)))
    with server.grpc_client() as client:
        settings = client.get_log_settings(as_json=True)["settings"]
    assert settings["log_warning"] == {"bool_param": False}
    assert settings["log_info"] == {"bool_param": True}  # the others as Triton's defaults


@pytest.mark.slow  # a sweep killed and resumed
def test_a_sweep_killed_with_sigkill_resumes_and_leaves_nothing_behind(instances_repo,
                                                                       tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "pnsuite.cli.sweep", str(instances_repo), "-o", str(out),
               "--instances", "1", "--batching", "off,on:0", "--concurrency", "1,2",
               "--window-s", "0.5", "--stable-windows", "1", "--warmup-s", "0.5",
               "--confirm-top", "0",
               "--no-report", "--no-progress", "--monitor", "none"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Killed after the first point, while its server measures the second: after the
        # second, the sweep stops that server itself to start the next variant's.
        deadline = time.monotonic() + 180
        while _journal_points(out / "journal.jsonl") < 1 and time.monotonic() < deadline:
            assert first.poll() is None, first.stderr.read().decode()
            time.sleep(0.05)
        assert _journal_points(out / "journal.jsonl") >= 1, "no point measured in 180 s"
        tag = ownership.tag_of(first.pid)
        assert _servers(tag), "the sweep's server should be running"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    kept = (out / "journal.jsonl").read_text().splitlines()[1:2]
    assert _servers(tag), "SIGKILL runs no teardown: the server is orphaned"

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "removed what dead runs left behind" in resumed.stdout
    assert not ownership.tagged_pids(tag)
    lines = (out / "journal.jsonl").read_text().splitlines()
    assert lines[1:2] == kept, "points measured before the kill are kept, not re-measured"
    assert len(lines) - 1 == 4 and (out / "sweep.json").is_file()
