"""The results store on SQLite and on PostgreSQL: what goes in comes out exactly, writers
at once lose nothing, a writer killed mid-run leaves nothing, older schemas migrate and
older suites still write, a newer schema still opens, and the fleet's queries select what
they say. No Triton server: only the store (and, for PostgreSQL, the session's server)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    inspect,
    select,
    text,
)

from pnsuite.store import results_store
from pnsuite.store.importer import benchmark_files, import_files, label_of
from pnsuite.store.results_store import MIGRATIONS, open_store
from pnsuite.store.rows import machine_key
from tests.store import documents as synthetic

REPO = Path(__file__).resolve().parents[2]
#: what documents() adds to the document that went in
STORE_KEYS = ("source_file", "store_label", "store_run_id")
T0 = datetime(2026, 12, 1, 6, 0, tzinfo=timezone.utc)  # after the committed runs


def as_stored(document: Mapping[str, Any]) -> dict[str, Any]:
    """A document from documents() without the keys the store adds."""
    return {k: v for k, v in document.items() if k not in STORE_KEYS}


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def child_environment() -> dict[str, str]:
    """The environment of a writer process: this checkout importable (tests.store too)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}


# --------------------------------------------------------------------------- import

def test_committed_result_files_round_trip_and_import_once(store_url: str) -> None:
    files = benchmark_files([REPO / "results"])
    assert len(files) >= 3, f"expected the committed pytest-benchmark files, found {files}"
    with open_store(store_url) as store:
        first = dict(import_files(store, files))
        assert all(isinstance(run_id, int) for run_id in first.values()), first
        assert len(set(first.values())) == len(files)

        again = dict(import_files(store, files))
        assert again == {path: None for path in files}
        assert store.count_runs() == len(files)

        stored = {Path(d["source_file"]): d for d in store.documents()}
    assert set(stored) == set(files)
    for path in files:
        assert as_stored(stored[path]) == json.loads(path.read_text()), path
        assert stored[path]["store_run_id"] == first[path]
        # the save name of NNNN_NAME.json, as the importer reads it (label_of)
        assert stored[path]["store_label"] == label_of(path.name)[0]


# --------------------------------------------------------------------------- writers at once

WRITERS, RUNS_PER_WRITER = 8, 50

_WRITER_CODE = textwrap.dedent("""
    import json, sys
    from pnsuite.store import open_store
    from tests.store.documents import writer_documents

    url, writer, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    runs = writer_documents(writer, count)
    store = open_store(url, migrate=False)
    store.revision()  # connected, driver loaded: what follows "go" starts at once
    print("ready", flush=True)
    sys.stdin.readline()
    store.migrate()  # what open_store does
    ids = [store.add_run(document, label=f"writer-{writer}") for document in runs]
    print(json.dumps({"ids": ids}), flush=True)
    """)


@pytest.mark.slow  # 8 writer processes per backend
def test_writers_at_once_lose_and_tear_nothing(store_url: str) -> None:
    # The writers build their runs and connect, wait until all are ready, then migrate the
    # new store at once (one migrates, the others find it migrated) and write.
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER_CODE, store_url, str(w),
                                 str(RUNS_PER_WRITER)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=REPO,
                                env=child_environment())
               for w in range(WRITERS)]
    try:
        for w, writer in enumerate(writers):
            line = writer.stdout.readline()
            assert line.strip() == "ready", f"writer {w}: {line!r} {writer.stderr.read()}"
        for writer in writers:
            writer.stdin.write("go\n")
            writer.stdin.flush()
        outcomes = [writer.communicate(timeout=120) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
    reports = []
    for w, (writer, (out, err)) in enumerate(zip(writers, outcomes)):
        assert writer.returncode == 0 and not err.strip(), f"writer {w} failed:\n{err}"
        reports.append(json.loads(out))
    ids = [run_id for r in reports for run_id in r["ids"]]
    assert all(isinstance(run_id, int) for run_id in ids)
    assert len(set(ids)) == WRITERS * RUNS_PER_WRITER
    # the writes did overlap: in the order the store numbered the runs, the writers take
    # turns (one after another would change writer WRITERS - 1 times)
    writer_of = {run_id: w for w, r in enumerate(reports) for run_id in r["ids"]}
    in_order = [writer_of[run_id] for run_id in sorted(ids)]
    turns = sum(a != b for a, b in pairwise(in_order))
    assert turns >= 4 * WRITERS, f"the writers hardly overlapped ({turns} turns)"

    with open_store(store_url) as store:
        assert store.count_runs() == WRITERS * RUNS_PER_WRITER
        for w in range(WRITERS):
            stored = store.documents(label=f"writer-{w}")
            assert [as_stored(d) for d in stored] == synthetic.writer_documents(
                w, RUNS_PER_WRITER), f"writer {w}"
            assert [d["store_run_id"] for d in stored] == reports[w]["ids"]


# --------------------------------------------------------------------------- killed writer

_KILLED_WRITER_CODE = textwrap.dedent("""
    import os, re, signal, sys
    from sqlalchemy import event
    from pnsuite.store import open_store
    from tests.store.documents import many_benchmarks_document

    url, table, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = open_store(url)
    statement_of_table = re.compile(rf'\\s*INSERT INTO "?{table}"?\\s', re.IGNORECASE)

    @event.listens_for(store.engine, "after_cursor_execute")
    def die_midway(conn, cursor, statement, parameters, context, executemany):
        if statement_of_table.match(statement):
            os.kill(os.getpid(), signal.SIGKILL)

    store.add_run(many_benchmarks_document(count), label="killed")
    """)
KILLED_BENCHMARKS = 300


@pytest.mark.parametrize("killed_after", ["runs", "benchmarks"])
def test_a_writer_killed_midway_leaves_no_trace(store_url: str, killed_after: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # A lock the dead writer kept would make the writes below wait: wait 5 s, not 120.
    monkeypatch.setattr(results_store, "SQLITE_BUSY_TIMEOUT_S", 5.0)
    before = synthetic.run_document(synthetic.ORIN_NX, synthetic.RELEASES[0],
                                    synthetic.commit_id(1), T0, seed=1)
    with open_store(store_url) as store:
        kept = store.add_run(before, label="before")
    killed = subprocess.run([sys.executable, "-c", _KILLED_WRITER_CODE, store_url,
                             killed_after, str(KILLED_BENCHMARKS)],
                            check=False, capture_output=True, text=True, cwd=REPO,
                            env=child_environment(), timeout=120)
    assert killed.returncode == -signal.SIGKILL, \
        f"the writer was not killed in its write (exit {killed.returncode}):\n{killed.stderr}"

    with open_store(store_url) as store:
        with store.engine.connect() as conn:
            runs = conn.execute(select(results_store.schema.runs.c.label)).scalars().all()
            benchmarks = conn.execute(select(func.count()).select_from(
                results_store.schema.benchmarks)).scalar_one()
        assert runs == ["before"]
        assert benchmarks == len(before["benchmarks"])
        # the killed run can be written again (its uid is not taken), and more besides
        document = synthetic.many_benchmarks_document(KILLED_BENCHMARKS)
        again = store.add_run(document, label="again")
        after = synthetic.run_document(synthetic.ORIN_NX, synthetic.RELEASES[0],
                                       synthetic.commit_id(2), T0 + timedelta(days=60), seed=2)
        assert isinstance(again, int) and isinstance(store.add_run(after, label="after"), int)
        stored = store.documents()
    assert [as_stored(d) for d in stored] == [before, document, after]
    assert [d["store_run_id"] for d in stored[:2]] == [kept, again]


# --------------------------------------------------------------------------- migrations

# Revision 0001's tables as a suite of that revision wrote them (frozen: a later schema
# change must not change what an older suite writes).
_OLD = MetaData()
RUNS_0001 = Table(
    "runs", _OLD,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(64), nullable=False, unique=True),
    Column("label", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("machine_key", String(64), nullable=False),
    Column("machine", String(200)), Column("board", String(200)),
    Column("module_sku", String(200)), Column("jetpack", String(100)),
    Column("l4t", String(100)), Column("tensorrt", String(100)),
    Column("triton", String(100)), Column("power_mode", String(100)),
    Column("clocks", String(20)), Column("transport", String(50)),
    Column("launcher", String(50)), Column("commit_id", String(64)),
    Column("branch", String(200)), Column("dirty", Boolean),
    Column("disturbed", Boolean, nullable=False), Column("source", Text),
    Column("machine_info", JSON, nullable=False), Column("commit_info", JSON, nullable=False),
    Column("document_header", JSON, nullable=False),
)
BENCHMARKS_0001 = Table(
    "benchmarks", _OLD,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False), Column("fullname", Text, nullable=False),
    Column("name", Text, nullable=False), Column("group", String(200)),
    Column("entry", JSON, nullable=False), Column("stats", JSON, nullable=False),
    Column("rounds", JSON, nullable=False), Column("extra_info", JSON, nullable=False),
    Column("round_s", Float), Column("compute_infer_ms", Float),
    Column("latency_p99_ms", Float),
)


def write_as_revision_0001(store, document: dict[str, Any], label: str, uid: str) -> int:
    """Store a run with only revision 0001's columns, as a suite of that revision did."""
    info, commit = document["machine_info"], document["commit_info"]
    header = {k: v for k, v in document.items()
              if k not in ("machine_info", "commit_info", "benchmarks")}
    with store.engine.begin() as conn:
        run_id = conn.execute(RUNS_0001.insert().values(
            uid=uid, label=label,
            recorded_at=datetime.fromisoformat(document["datetime"]),
            machine_key=machine_key(info), machine=info["machine"],
            board=info["jetson_model"], jetpack=info["jetpack_release"],
            l4t=info["l4t_release"], triton=info["triton_version"],
            power_mode=info["nvpmodel_mode"], clocks=str(info["jetson_clocks"]),
            transport=info["transport"], launcher=info["launcher"],
            commit_id=commit["id"], branch=commit["branch"], dirty=commit["dirty"],
            disturbed=False, source=None, machine_info=info, commit_info=commit,
            document_header=header)).inserted_primary_key[0]
        conn.execute(BENCHMARKS_0001.insert(), [{
            "run_id": run_id, "position": i, "fullname": entry["fullname"],
            "name": entry["name"], "group": entry["group"],
            "entry": {k: v for k, v in entry.items() if k not in ("stats", "extra_info")},
            "stats": {k: v for k, v in entry["stats"].items() if k != "data"},
            "rounds": entry["stats"]["data"], "extra_info": entry["extra_info"],
            "round_s": sorted(entry["stats"]["data"])[len(entry["stats"]["data"]) // 2],
            "compute_infer_ms": entry["extra_info"]["server_compute_infer_ms"],
            "latency_p99_ms": entry["extra_info"]["latency_p99_ms"],
        } for i, entry in enumerate(document["benchmarks"])])
    return int(run_id)


def test_a_revision_0001_store_migrates_and_older_suites_still_write(store_url: str) -> None:
    old, older, new = (synthetic.run_document(synthetic.AGX_ORIN, synthetic.RELEASES[i],
                                              synthetic.commit_id(i), T0 + timedelta(days=i),
                                              seed=100 + i) for i in range(3))
    with open_store(store_url, migrate=False) as store:
        assert store.revision() is None
        store.migrate("0001")
        assert store.revision() == "0001"
        columns = {c["name"] for c in inspect(store.engine).get_columns("runs")}
        assert columns == {c.name for c in RUNS_0001.columns}
        old_id = write_as_revision_0001(store, old, "old", uid="0" * 64)

    with open_store(store_url) as store:
        assert store.revision() == head_revision() != "0001"
        stored = store.documents()
        assert [as_stored(d) for d in stored] == [old]
        assert (stored[0]["store_label"], stored[0]["store_run_id"]) == ("old", old_id)
        # a runner still on the older suite writes into the migrated store
        write_as_revision_0001(store, older, "older", uid="1" * 64)
        new_id = store.add_run(new, label="new", suite_version="9.9.9")
        assert isinstance(new_id, int)
        assert [as_stored(d) for d in store.documents()] == [old, older, new]
        with store.engine.connect() as conn:
            versions = dict(conn.execute(select(results_store.schema.runs.c.label,
                                                results_store.schema.runs.c.suite_version)).all())
        assert versions == {"old": None, "older": None, "new": "9.9.9"}


def test_a_store_of_a_newer_suite_opens_and_takes_runs(store_url: str) -> None:
    first, second = (synthetic.run_document(synthetic.ORIN_NX, synthetic.RELEASES[2],
                                            synthetic.commit_id(i), T0 + timedelta(hours=i),
                                            seed=200 + i) for i in range(2))
    with open_store(store_url) as store:
        store.add_run(first, label="first")
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    with open_store(store_url) as store:
        assert store.revision() == "0999"  # left as the newer suite made it
        store.migrate()
        assert store.revision() == "0999"
        assert isinstance(store.add_run(second, label="second"), int)
        assert [as_stored(d) for d in store.documents()] == [first, second]


# --------------------------------------------------------------------------- queries

FLEET_SIZE = 72


@pytest.fixture
def fleet(store_url: str):
    """A store holding runs of both boards over three JetPack releases and several commits
    (written in shuffled order, so that time order is the store's doing), plus one run
    of a machine that is no Jetson; (store, the runs)."""
    runs = list(synthetic.fleet_runs(FLEET_SIZE, T0, timedelta(hours=5), seed=3,
                                     runs_per_commit=3, disturbed_every=5))
    # the newest release's runs also measure a benchmark the older ones do not
    extra = synthetic.BENCHMARK_POINTS[5]
    runs = [r if r.release != synthetic.RELEASES[2] else synthetic.FleetRun(
        synthetic.run_document(r.board, r.release, r.commit, r.when, seed=i,
                               points=(*synthetic.BENCHMARK_POINTS[:4], extra),
                               disturbed=r.disturbed), r.board, r.release, r.commit,
        r.label, r.when, r.disturbed) for i, r in enumerate(runs)]
    other = json.loads((REPO / "results/gpu/nvidia-h100-x1/suite/pytest-benchmark.json")
                       .read_text())
    with open_store(store_url) as store:
        order = list(range(len(runs)))
        random.Random(4).shuffle(order)
        for i in order:
            # half the disturbed runs are told so, half are found so from their rounds
            flag = True if runs[i].disturbed and i % 2 else None
            assert isinstance(store.add_run(runs[i].document, runs[i].label, disturbed=flag),
                              int)
        store.add_run(other, "h100")
        yield store, runs


@pytest.mark.parametrize("board", [b.model for b in synthetic.BOARDS])
@pytest.mark.parametrize("fullname", [synthetic.BENCHMARK_FULLNAMES[1],
                                      synthetic.BENCHMARK_FULLNAMES[5]],
                         ids=["in-every-run", "in-the-newest-release"])
def test_one_boards_series_of_one_benchmark(fleet, board: str, fullname: str) -> None:
    store, runs = fleet
    expected = []
    for run in sorted(runs, key=lambda r: r.when):
        entries = [e for e in run.document["benchmarks"] if e["fullname"] == fullname]
        if run.board.model == board and entries:
            expected.append({**run.document, "benchmarks": entries})
    assert 0 < len(expected) <= len(runs) // 2
    got = store.documents(board=board, benchmark=fullname)
    assert [as_stored(d) for d in got] == expected


def test_labels_newest_first_with_undisturbed_counts(fleet) -> None:
    store, runs = fleet
    for board in synthetic.BOARDS:
        mine = [r for r in runs if r.board == board]
        key = machine_key(mine[0].document["machine_info"])
        expected: dict[str, tuple[int, datetime]] = {}
        for run in mine:
            count, last = expected.get(run.label, (0, run.when))
            expected[run.label] = (count + (not run.disturbed), max(last, run.when))
        got = store.labels(key)
        assert [(label, count) for label, count, _ in got] == sorted(
            ((label, count) for label, (count, _) in expected.items()),
            key=lambda item: expected[item[0]][1], reverse=True)
        assert len({count for _, count, _ in got}) > 1  # disturbed runs are not counted
        assert [when for _, _, when in got] == sorted(
            (last for _, last in expected.values()), reverse=True)


@pytest.mark.parametrize("offset_h", [0, 2], ids=["utc", "utc+2"])
def test_since_keeps_the_runs_from_that_time_on(fleet, offset_h: int) -> None:
    store, runs = fleet
    cutoff = runs[FLEET_SIZE * 2 // 3].when  # a run's own time: it is kept
    since = cutoff.astimezone(timezone(timedelta(hours=offset_h)))
    expected = [r.document for r in runs if r.when >= cutoff]
    assert [as_stored(d) for d in store.documents(since=since)] == expected
    undisturbed = store.documents(since=since, include_disturbed=False)
    assert [as_stored(d) for d in undisturbed] == [
        r.document for r in runs if r.when >= cutoff and not r.disturbed]


def test_time_order_is_by_the_instant_whatever_its_offset(store_url: str) -> None:
    # the same three instants, saved by machines whose clocks print different offsets
    written = {"10:00Z": "2026-12-01T10:00:00+00:00", "10:30Z": "2026-12-01T12:30:00+02:00",
               "11:45Z": "2026-12-01T09:45:00-02:00"}
    with open_store(store_url) as store:
        for n, (label, when) in enumerate(written.items()):
            document = synthetic.run_document(synthetic.AGX_ORIN, synthetic.RELEASES[0],
                                              synthetic.commit_id(n), T0, seed=300 + n)
            store.add_run({**document, "datetime": when}, label=label)
        assert [d["store_label"] for d in store.documents()] == ["10:00Z", "10:30Z", "11:45Z"]
        since = datetime(2026, 12, 1, 10, 15, tzinfo=timezone.utc)
        assert [d["store_label"] for d in store.documents(since=since)] == ["10:30Z", "11:45Z"]


def test_label_and_machine_select_exactly_their_runs(fleet) -> None:
    store, runs = fleet
    run = runs[len(runs) // 2]
    key = machine_key(run.document["machine_info"])
    expected = [r.document for r in runs if r.label == run.label and r.board == run.board]
    got = store.documents(label=run.label, machine_key=key)
    assert [as_stored(d) for d in got] == expected
    assert {d["store_label"] for d in got} == {run.label}
