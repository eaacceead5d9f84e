"""The rolling baseline on both backends: a passing build's runs join the baseline, only
the newest runs of the last days count, and a runner whose identity changed starts its
pool again."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timedelta, timezone

import pytest

from pnsuite.cli import gate as gate_cli
from pnsuite.store import StoreError, open_store, queries
from tests.store.documents import AGX_ORIN, RELEASES, commit_id, run_document

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
NODE = "orin-runner"  # machine_info's node of AGX_ORIN's documents


def _runs(count: int, first_day: int, release=RELEASES[-1], seed: int = 0,
          disturbed: bool = False) -> list[dict]:
    """`count` runs on AGX_ORIN, one a day from `first_day` days before NOW."""
    return [run_document(AGX_ORIN, release, commit_id(seed + i),
                         NOW - timedelta(days=first_day - i), seed=seed + i, disturbed=disturbed)
            for i in range(count)]


def _days(documents: list[dict]) -> list[int]:
    return [(NOW - datetime.fromisoformat(d["datetime"])).days for d in documents]


def test_a_passing_builds_runs_join_the_baseline_and_count_from_then_on(store_url):
    recorded, checked = _runs(3, 10), _runs(2, 5, seed=10)
    with open_store(store_url) as store:
        for doc in recorded:
            store.add_run(doc, label="baseline")
        for doc in checked:
            store.add_run(doc, label="current")
        assert len(queries.baseline_runs(store, "baseline", NODE)) == 3
        assert store.relabel("current", "baseline") == 2
        assert store.relabel("current", "baseline") == 0, "a run joins once"
        assert _days(queries.baseline_runs(store, "baseline", NODE)) == [10, 9, 8, 5, 4]
        assert store.documents(label="current") == []


def test_only_the_newest_runs_of_the_last_days_count(store_url):
    with open_store(store_url) as store:
        for doc in _runs(10, 20) + _runs(1, 3, seed=50, disturbed=True):
            store.add_run(doc, label="baseline")
        newest = queries.baseline_runs(store, "baseline", NODE, max_runs=4, now=NOW)
        assert _days(newest) == [14, 13, 12, 11]
        recent = queries.baseline_runs(store, "baseline", NODE, max_age=timedelta(days=15),
                                       now=NOW)
        assert _days(recent) == [15, 14, 13, 12, 11], "a disturbed run never counts"
        assert queries.baseline_runs(store, "baseline", NODE, max_age=timedelta(days=5),
                                     now=NOW) == []


def test_a_runner_whose_identity_changed_starts_its_pool_again(store_url):
    old, new = RELEASES[-2], RELEASES[-1]
    with open_store(store_url) as store:
        for doc in _runs(5, 30, release=old):
            store.add_run(doc, label="baseline")
        assert _days(queries.baseline_runs(store, "baseline", NODE)) == [30, 29, 28, 27, 26]
        # a new JetPack gated with --new-release against the old baseline, then accepted
        for doc in _runs(2, 3, release=new, seed=40):
            store.add_run(doc, label="jp-new")
        store.relabel("jp-new", "baseline")
        assert _days(queries.baseline_runs(store, "baseline", NODE)) == [3, 2]


def test_a_label_of_other_runners_only_is_refused_by_name(store_url):
    with open_store(store_url) as store:
        for doc in _runs(2, 5):
            store.add_run(doc, label="baseline")
        other = _runs(2, 5, release=RELEASES[0], seed=30)
        for doc in other:
            doc["machine_info"]["node"] = "nx-runner"
            store.add_run(doc, label="baseline")
        with pytest.raises(StoreError, match="none is this host's \\(xavier-runner\\)"):
            queries.baseline_runs(store, "baseline", "xavier-runner")
        assert len(queries.baseline_runs(store, "baseline", "nx-runner")) == 2


#: baseline runs of the check tests: enough that a dozen current runs can detect 10%
BASELINE = 20


class Recorder:
    """`recorder.record_run` without a pytest session: each call saves the next run of an
    AGX Orin build `slower` times as slow as the baseline's, and writes it to the store as
    the session would."""

    def __init__(self, storage, slower: float) -> None:
        self.storage, self.slower, self.calls = storage, slower, 0

    def __call__(self, label, storage, pytest_args=(), store=None):
        self.calls += 1
        doc = run_document(AGX_ORIN, RELEASES[-1], commit_id(99), datetime.now(timezone.utc),
                           seed=1000 + self.calls)
        for bench in doc["benchmarks"]:
            bench["stats"]["data"] = [x * self.slower for x in bench["stats"]["data"]]
            bench["extra_info"]["throughput_infer_per_s"] /= self.slower
        path = self.storage / "machine" / f"{self.calls:04d}_{label}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))
        with open_store(store) as results:
            results.add_run(doc, label=label)
        return path


@pytest.mark.parametrize("slower, verdict", [(1.0, gate_cli.PASSED), (1.5, gate_cli.REGRESSED)])
def test_the_baseline_rolls_on_with_the_checks_that_passed(store_url, tmp_path, monkeypatch,
                                                           capsys, slower, verdict):
    now = datetime.now(timezone.utc)
    with open_store(store_url) as store:
        for i in range(BASELINE):
            store.add_run(run_document(AGX_ORIN, RELEASES[-1], commit_id(i),
                                       now - timedelta(hours=BASELINE - i), seed=i),
                          label="baseline")
    recorder = Recorder(tmp_path, slower)
    monkeypatch.setattr(gate_cli.recorder, "record_run", recorder)
    monkeypatch.setattr(platform, "node", lambda: NODE)
    common = ["--store", store_url, "--storage", str(tmp_path)]
    assert gate_cli.main(["check", "baseline", "--label", "build-2", "--max-runs", "12",
                          *common]) == verdict, capsys.readouterr().out
    # what ci/jetson-perf.sh does on main when the check passed (exit 0)
    if verdict == gate_cli.PASSED:
        assert gate_cli.main(["accept", "baseline", "build-2", *common]) == gate_cli.PASSED
        assert f"accept: {recorder.calls} run(s) of 'build-2' joined baseline 'baseline'" \
            in capsys.readouterr().out
    with open_store(store_url) as store:
        pool = queries.baseline_runs(store, "baseline", NODE)
    assert len(pool) == BASELINE + (recorder.calls if verdict == gate_cli.PASSED else 0)


@pytest.mark.parametrize("args, problem", [
    (["baseline", "build-9"], "no runs saved under 'build-9'"),
    (["baseline", "baseline"], "'baseline' is the baseline itself"),
])
def test_accept_refuses_what_it_cannot_accept_by_name(store_url, tmp_path, capsys, args, problem):
    with open_store(store_url) as store:
        store.add_run(_runs(1, 1)[0], label="baseline")
    assert gate_cli.main(["accept", *args, "--store", store_url]) == gate_cli.REFUSED
    assert problem in capsys.readouterr().err


def test_accept_without_a_store_is_refused(capsys, monkeypatch):
    monkeypatch.delenv("TRITON_SUITE_RESULTS_STORE", raising=False)
    assert gate_cli.main(["accept", "baseline", "build-2"]) == gate_cli.REFUSED
    assert "accept: no results store holds the runs to accept" in capsys.readouterr().err
