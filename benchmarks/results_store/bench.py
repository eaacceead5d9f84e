"""Time the results store on each backend: 10,000 synthetic runs written by one writer into
a fresh store, then the fleet's queries on it, right after the writes and again after
ANALYZE (the planner statistics a store in use has).

The runs are the tests' synthetic Jetson documents (tests/store/documents.py): both boards,
three JetPack releases, a commit every 5 runs per board, 4 benchmarks of 5 rounds each,
every 10th run disturbed, spread over 100 days. SQLite is a file in a temporary directory;
PostgreSQL a private server from Debian's package (pnsuite.store.local_postgres, which runs
it with fsync=off), or the server PNSUITE_TEST_POSTGRES_URL names (a database is created
on it and dropped after).

    python benchmarks/results_store/bench.py --out results/results-store/bench-2core.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # the tests' document builders (tests/store/documents.py)

from pnsuite.store import open_store
from pnsuite.store.local_postgres import LocalPostgres
from pnsuite.store.results_store import normalize_url
from pnsuite.store.rows import machine_key
from tests.store import documents as synthetic

START = datetime(2026, 9, 1, tzinfo=timezone.utc)
SPAN = timedelta(days=100)
SERVER_ENV = "PNSUITE_TEST_POSTGRES_URL"


@contextmanager
def sqlite_store() -> Iterator[str]:
    """A path for a new SQLite store in a temporary directory (removed after)."""
    with tempfile.TemporaryDirectory(prefix="store-bench-") as folder:
        yield str(Path(folder) / "store.sqlite")


@contextmanager
def postgres_store() -> Iterator[str]:
    """The URL of a new database: on PNSUITE_TEST_POSTGRES_URL's server, else on a
    private server started for the benchmark."""
    given = os.environ.get(SERVER_ENV)
    if given:
        with _database_on(given) as url:
            yield url
        return
    with LocalPostgres() as server, _database_on(server.url) as url:
        yield url


@contextmanager
def _database_on(server_url: str) -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex}"
    admin = create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield sqlalchemy.make_url(server_url).set(database=name).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def timed(call: Callable[[], Any], repeat: int) -> dict[str, Any]:
    """Median and fastest of `repeat` calls, and the size of what the call returned."""
    seconds, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - began)
    size = result if isinstance(result, int) else len(result)
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "returned": size}


def store_size(store) -> int:
    """Bytes the store takes on disk (SQLite: the file and its WAL)."""
    with store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            return int(conn.execute(text("SELECT pg_database_size(current_database())"))
                       .scalar_one())
    path = Path(store.engine.url.database)
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal"))
               if p.exists())


def server_version(store) -> str:
    with store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            return str(conn.execute(text("SHOW server_version")).scalar_one())
    return sqlite3.sqlite_version


def measure(location: str, runs: int, repeat: int) -> dict[str, Any]:
    """Write `runs` runs into the empty store at `location`, then time the queries."""
    step = SPAN / runs
    latencies: list[float] = []
    document_bytes = 0
    began = time.perf_counter()
    store = open_store(location)
    opened_s = time.perf_counter() - began
    try:
        for run in synthetic.fleet_runs(runs, START, step, seed=7, runs_per_commit=5,
                                        disturbed_every=10):
            document_bytes += len(json.dumps(run.document))
            t0 = time.perf_counter()
            run_id = store.add_run(run.document, run.label)
            latencies.append(time.perf_counter() - t0)
            if run_id is None:
                raise SystemExit(f"run {run.label} at {run.when} was not stored")
        written_s = sum(latencies)
        last = START + (runs - 1) * step
        board = synthetic.AGX_ORIN
        key = machine_key(synthetic.machine_info(board, synthetic.RELEASES[0]))
        series = synthetic.BENCHMARK_FULLNAMES[0]
        ordered = sorted(latencies)

        def queries() -> dict[str, Any]:
            return {
                "documents(board, benchmark)": {
                    **timed(lambda: store.documents(board=board.model, benchmark=series),
                            repeat), "board": board.model, "benchmark": series},
                "labels(machine_key)": timed(lambda: store.labels(key), repeat),
                "documents(since=last day)": timed(
                    lambda: store.documents(since=last - timedelta(days=1)), repeat),
                "count_runs()": timed(store.count_runs, repeat),
            }

        fresh = queries()
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        return {
            "backend": store.engine.dialect.name,
            "server_version": server_version(store),
            "open_and_migrate_s": opened_s,
            "write": {
                "runs": runs, "total_s": written_s, "runs_per_s": runs / written_s,
                "add_run_p50_ms": 1000 * ordered[len(ordered) // 2],
                "add_run_p99_ms": 1000 * ordered[int(len(ordered) * 0.99)],
                "document_mean_bytes": document_bytes / runs,
            },
            "store_bytes": store_size(store),
            # right after the writes: PostgreSQL's planner may not have statistics yet
            # (autovacuum gathers them within a minute or so)
            "queries_fresh": fresh,
            # after ANALYZE: what a store that has been in use answers
            "queries": queries(),
        }
    finally:
        store.close()


def table(results: list[dict[str, Any]]) -> str:
    """The figures, one column per backend."""
    rows = [("runs written", lambda r: f"{r['write']['runs']}"),
            ("write total (s)", lambda r: f"{r['write']['total_s']:.1f}"),
            ("runs/s (one writer)", lambda r: f"{r['write']['runs_per_s']:.0f}"),
            ("add_run p50 / p99 (ms)",
             lambda r: f"{r['write']['add_run_p50_ms']:.1f} / {r['write']['add_run_p99_ms']:.1f}"),
            ("store size (MB)", lambda r: f"{r['store_bytes'] / 1e6:.0f}")]
    for when, part in (("right after the writes", "queries_fresh"),
                       ("after ANALYZE", "queries")):
        rows.append((f"queries {when} (ms, median):", lambda r: ""))
        for name in results[0][part]:
            rows.append((f"  {name}", lambda r, n=name, p=part:
                         f"{1000 * r[p][n]['median_s']:.1f} [{r[p][n]['returned']}]"))
    width = max(len(label) for label, _ in rows) + 2
    lines = ["".ljust(width) + "".join(f"{r['backend']:>22}" for r in results)]
    lines += [label.ljust(width) + "".join(f"{cell(r):>22}" for r in results)
              for label, cell in rows]
    lines.append("[n]: runs, labels or the count the query returned")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="times each query is timed")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()

    results = []
    for backend in args.backends:
        where = sqlite_store() if backend == "sqlite" else postgres_store()
        with where as location:
            print(f"{backend}: writing {args.runs} runs ...", flush=True)
            results.append(measure(location, args.runs, args.repeat))
    print(table(results))
    if args.out:
        report = {
            "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": {"cpu_count": os.cpu_count(), "processor": _cpu_model(),
                        "python": platform.python_version(),
                        "sqlalchemy": sqlalchemy.__version__},
            "runs": {"count": args.runs, "benchmarks": 4, "rounds": 5,
                     "boards": [b.model for b in synthetic.BOARDS],
                     "jetpack_releases": [r.jetpack for r in synthetic.RELEASES],
                     "span_days": SPAN.days, "runs_per_commit_per_board": 5,
                     "disturbed_every": 10},
            "query_repeats": args.repeat,
            "backends": results,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written to {args.out}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
