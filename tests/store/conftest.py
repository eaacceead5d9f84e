"""Each results-store test runs on both backends: a SQLite file of its own, and a database
of its own on a PostgreSQL server (PNSUITE_TEST_POSTGRES_URL, or a private server started
for the session from Debian's package)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from pnsuite.store.local_postgres import (
    INSTALL_HINT,
    LocalPostgres,
    PostgresUnavailable,
)
from pnsuite.store.results_store import normalize_url, redacted

#: a PostgreSQL server URL where the tests may create and drop databases
SERVER_ENV = "PNSUITE_TEST_POSTGRES_URL"


def _unavailable(reason: str) -> None:
    """Skip the PostgreSQL half of the tests, or fail it on CI, where a skip would hide
    that the store was never tested against PostgreSQL."""
    message = (f"no PostgreSQL server for the results-store tests: {reason}\n"
               f"  how to start one: {INSTALL_HINT}")
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _admin_engine(server_url: str):
    # CREATE/DROP DATABASE cannot run inside a transaction
    return create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server on which the tests may create databases."""
    given = os.environ.get(SERVER_ENV)
    if given:
        engine = _admin_engine(given)
        problem = None
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as err:
            problem = (f"{SERVER_ENV}={redacted(given)} (a server where the tests may "
                       f"create databases) does not answer: {getattr(err, 'orig', err)}")
        finally:
            engine.dispose()
        if problem:
            _unavailable(problem)
        yield given
        return
    server, problem = None, None
    try:
        server = LocalPostgres()
        server.start()
    except PostgresUnavailable as err:
        if server is not None:
            server.stop()  # removes its data dir, if initdb got that far
        problem = f"{err.message} (and {SERVER_ENV} is not set)"
    if problem:
        _unavailable(problem)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """The URL of a fresh database on the session's server, dropped after the test."""
    name = f"t_{uuid.uuid4().hex}"
    engine = _admin_engine(postgres_server)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        server = make_url(postgres_server)
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            # a writer a test killed, or a store a failing test left open, still holds it
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :name AND pid <> pg_backend_pid()"),
                         {"name": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the test's own empty store lives: a SQLite file path or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite")
    return request.getfixturevalue("postgres_database")
