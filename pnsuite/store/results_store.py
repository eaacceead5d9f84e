"""The results store: pytest-benchmark runs in a SQLite file or a PostgreSQL database.

SQLAlchemy Core gives one schema and one set of queries for both backends, and Alembic
(SQLAlchemy's own migration tool) its revisions. A run goes in as one transaction (the
run row and all its benchmarks, or nothing), so a writer killed halfway leaves no
half-written run visible, and several runners finishing at once lose nothing: SQLite
serialises writers (WAL, `BEGIN IMMEDIATE`, a busy timeout), PostgreSQL runs them side
by side. What comes out is the pytest-benchmark document that went in, so the gate and
the history read the store exactly as they read pytest-benchmark's files.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Connection, CursorResult, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, SQLAlchemyError

from pnsuite.store import rows, schema
from pnsuite.store.errors import WRITE_HINT, StoreError

MIGRATIONS = Path(__file__).parent / "migrations"
#: how long a SQLite writer waits for another to finish (seconds)
SQLITE_BUSY_TIMEOUT_S = 120.0
#: PostgreSQL advisory lock that serialises migrations of one database
_MIGRATION_LOCK = 0x70E0_9E7E
#: execution option of the connections that write (SQLite: they begin IMMEDIATE)
_WRITE_OPTION = "pnsuite_write"


def normalize_url(url_or_path: str) -> str:
    """A SQLAlchemy URL: a path becomes a SQLite file, postgresql:// uses psycopg 3."""
    text = str(url_or_path).strip()
    if not text:
        raise StoreError("no results store given")
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


def redacted(url_or_path: str) -> str:
    """The store's URL as it may be printed: never with its password."""
    try:
        return make_url(normalize_url(url_or_path)).render_as_string(hide_password=True)
    except (ArgumentError, StoreError):
        return "<a results store URL that does not parse>"


def _inserted_id(result: CursorResult[Any]) -> Any:
    """The new row's id from a one-row INSERT's result."""
    key = result.inserted_primary_key
    assert key is not None  # an INSERT's result has it
    return key[0]


def _sqlite_engine(url: str) -> Engine:
    path = make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun below, as BEGIN IMMEDIATE: a writer takes the write lock
        # first and waits for it, instead of failing to upgrade a read lock later.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # Readers begin deferred (a snapshot, no lock): only writers queue for the lock.
        writing = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


def open_store(url_or_path: str, migrate: bool = True) -> ResultsStore:
    """Open (and by default bring up to the newest schema) the store at a path or URL."""
    url = normalize_url(url_or_path)
    try:
        engine = (
            _sqlite_engine(url)
            if url.startswith("sqlite")
            else create_engine(url, pool_pre_ping=True)
        )
    except (ArgumentError, SQLAlchemyError, ImportError) as err:
        raise StoreError(f"cannot open results store {redacted(url)}: {err}") from None
    store = ResultsStore(engine)
    if migrate:
        store.migrate()
    return store


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


class ResultsStore:
    """Runs in and out as pytest-benchmark documents, and the queries a fleet needs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A connection in a write transaction: committed on success, else rolled back."""
        with self.engine.connect() as conn:
            conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @property
    def url(self) -> str:
        """The store's URL without its password."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ schema

    def revision(self) -> str | None:
        """The schema revision the store is at (None: empty)."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to `revision`. A store at a revision this suite does not know
        (written by a newer suite) is left as it is: revisions only add, so an older suite
        still writes."""
        try:
            with self.engine.connect() as conn:
                sqlite = conn.dialect.name == "sqlite"
                driver = conn.connection.driver_connection
                assert driver is not None  # an open connection has its driver's
                if sqlite:
                    # A batch migration rebuilds a table by dropping it: with foreign keys
                    # on, that would cascade into the benchmarks. The pragma only takes
                    # effect outside a transaction, so it goes to the driver first.
                    driver.execute("PRAGMA foreign_keys=OFF")
                conn.execution_options(**{_WRITE_OPTION: True})
                try:
                    with conn.begin():
                        if not sqlite:
                            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
                        self._upgrade(conn, revision)
                finally:
                    if sqlite:
                        driver.execute("PRAGMA foreign_keys=ON")
        except (OperationalError, SQLAlchemyError) as err:
            raise StoreError(
                f"cannot migrate results store {self.url}: "
                f"{type(err).__name__}: {err.orig if hasattr(err, 'orig') else err}"
            ) from None

    @staticmethod
    def _upgrade(conn: Connection, revision: str) -> None:
        config = _alembic_config(conn)
        known = {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}
        current = MigrationContext.configure(conn).get_current_revision()
        if current is not None and current not in known:
            return
        command.upgrade(config, revision)

    def analyze(self) -> None:
        """Refresh PostgreSQL's planner statistics (after a bulk import: until autovacuum
        does, a series query is planned as a nested loop, ~4x slower at 10,000 runs)."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")

    # ------------------------------------------------------------------ writing

    def add_run(
        self,
        document: Mapping[str, Any],
        label: str = "",
        source: str = "",
        disturbed: bool | None = None,
        suite_version: str | None = None,
    ) -> int | None:
        """Store one pytest-benchmark document with its benchmarks in one transaction; the
        run's id, or None when this very document is stored already."""
        run, benchmarks = rows.run_rows(document, label, source, disturbed, suite_version)
        try:
            with self._writing() as conn:
                run_id = _inserted_id(conn.execute(schema.runs.insert().values(**run)))
                conn.execute(
                    schema.benchmarks.insert(), [{**b, "run_id": run_id} for b in benchmarks]
                )
        except IntegrityError as err:
            if self._stored(run["uid"]):
                return None  # the same document, stored by an earlier import or another writer
            raise StoreError(
                f"results store {self.url} refused the run: {getattr(err, 'orig', err)}"
            ) from None
        except SQLAlchemyError as err:
            raise self._write_error(err) from None
        return int(run_id)

    def relabel(self, label: str, new_label: str) -> int:
        """Put every run stored under `label` under `new_label`; how many moved."""
        runs = schema.runs
        try:
            with self._writing() as conn:
                return int(
                    conn.execute(
                        runs.update().where(runs.c.label == label).values(label=new_label)
                    ).rowcount
                )
        except SQLAlchemyError as err:
            raise self._write_error(err) from None

    def _write_error(self, err: SQLAlchemyError) -> StoreError:
        return StoreError(
            f"cannot write to results store {self.url}: {type(err).__name__}: "
            f"{getattr(err, 'orig', err)}",
            WRITE_HINT,
        )

    def add_golden_result(
        self,
        model_identity: str,
        engine: Mapping[str, Any],
        image: str,
        boxes: Sequence[Mapping[str, Any]],
        verdict: str,
        repository: str | None = None,
        when: datetime | None = None,
    ) -> int:
        """Store one golden comparison: what a model and engine found on one image, and
        whether it matched the goldens ("match" or "differs")."""
        row = {
            "model_identity": model_identity,
            "engine": dict(engine),
            "image": image,
            "boxes": [dict(b) for b in boxes],
            "verdict": verdict,
            "repository": repository,
            "recorded_at": rows.utc(when or datetime.now(timezone.utc)),
        }
        try:
            with self._writing() as conn:
                return int(_inserted_id(conn.execute(schema.golden_results.insert().values(**row))))
        except SQLAlchemyError as err:
            raise self._write_error(err) from None

    def golden_results(self, model_identity: str | None = None) -> list[dict[str, Any]]:
        """Stored golden comparisons, oldest first."""
        table = schema.golden_results
        query = select(table).order_by(table.c.recorded_at, table.c.id)
        if model_identity is not None:
            query = query.where(table.c.model_identity == model_identity)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def _stored(self, uid: str) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(select(schema.runs.c.id).where(schema.runs.c.uid == uid)).first()
                is not None
            )

    # ------------------------------------------------------------------ reading

    def documents(
        self,
        *,
        label: str | None = None,
        machine_key: str | None = None,
        board: str | None = None,
        benchmark: str | None = None,
        since: datetime | None = None,
        include_disturbed: bool = True,
        with_benchmarks: bool = True,
    ) -> list[dict[str, Any]]:
        """Stored runs as pytest-benchmark documents, oldest first (each names its store
        row under `history.SOURCE_KEY`). `benchmark` keeps only that benchmark's entries;
        without `with_benchmarks` the documents have none (their machine and commit only)."""
        runs, benches = schema.runs, schema.benchmarks
        query = select(runs).order_by(runs.c.recorded_at, runs.c.id)
        for column, value in (
            (runs.c.label, label),
            (runs.c.machine_key, machine_key),
            (runs.c.board, board),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(runs.c.recorded_at >= rows.utc(since))
        if not include_disturbed:
            query = query.where(runs.c.disturbed.is_(False))
        if benchmark is not None:
            query = query.where(
                runs.c.id.in_(select(benches.c.run_id).where(benches.c.fullname == benchmark))
            )
        with self.engine.connect() as conn:
            found = conn.execute(query).mappings().all()
            by_run: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in found}
            ids = list(by_run) if with_benchmarks else []
            for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                bench_query = (
                    select(benches)
                    .where(benches.c.run_id.in_(chunk))
                    .order_by(benches.c.run_id, benches.c.position)
                )
                if benchmark is not None:
                    bench_query = bench_query.where(benches.c.fullname == benchmark)
                for b in conn.execute(bench_query).mappings():
                    by_run[b["run_id"]].append(rows.benchmark_entry(b))
        return [rows.document(r, by_run[r["id"]], self.url) for r in found]

    def labels(self, machine_key: str) -> list[tuple[str, int, datetime]]:
        """The labels recorded on one machine identity: (label, undisturbed runs, last run),
        newest first."""
        runs = schema.runs
        found: dict[str, tuple[int, datetime]] = {}
        query = (
            select(runs.c.label, runs.c.recorded_at, runs.c.disturbed)
            .where(runs.c.machine_key == machine_key)
            .order_by(runs.c.recorded_at)
        )
        with self.engine.connect() as conn:
            for label, when, disturbed in conn.execute(query):
                when = rows.utc(when)
                count, _ = found.get(label, (0, when))
                found[label] = (count + (0 if disturbed else 1), when)
        return sorted(((k, n, t) for k, (n, t) in found.items()), key=lambda x: x[2], reverse=True)

    def count_runs(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(schema.runs)).scalar_one())
