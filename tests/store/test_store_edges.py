"""Edges of the store found in review: readers do not hold writers up, NaN has a home on
both backends, and a malformed document is a StoreError, not a traceback."""

from __future__ import annotations

import copy
import json

import pytest

from pnsuite.paths import PROJECT_ROOT
from pnsuite.store import StoreError, open_store, results_store

TEMPLATE = json.loads(next((PROJECT_ROOT / "results").rglob("pytest-benchmark.json"))
                      .read_text())


def test_an_open_read_does_not_hold_a_writer_up(tmp_path, monkeypatch):
    # Only writers take SQLite's write lock; with every transaction IMMEDIATE a reader in
    # the middle of a long query made every writer wait, then fail.
    monkeypatch.setattr(results_store, "SQLITE_BUSY_TIMEOUT_S", 2.0)
    path = str(tmp_path / "store.sqlite")
    with open_store(path) as reader, open_store(path) as writer:
        reader.add_run(TEMPLATE, label="first")
        with reader.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("SELECT count(*) FROM runs").scalar_one()
            later = copy.deepcopy(TEMPLATE)
            later["datetime"] = "2030-01-01T00:00:00"
            assert writer.add_run(later, label="second") is not None
        assert len(writer.documents()) == 2


def test_non_finite_numbers_are_stored_as_null_on_both_backends(store_url):
    doc = copy.deepcopy(TEMPLATE)
    doc["benchmarks"][0]["extra_info"]["latency_p99_ms"] = float("nan")
    doc["benchmarks"][0]["extra_info"]["server_queue_ms"] = float("inf")
    with open_store(store_url) as store:
        assert store.add_run(doc) is not None
        (back,) = store.documents()
    extra = back["benchmarks"][0]["extra_info"]
    assert extra["latency_p99_ms"] is None and extra["server_queue_ms"] is None


def test_a_benchmark_without_a_fullname_is_refused_clearly(store_url):
    doc = copy.deepcopy(TEMPLATE)
    del doc["benchmarks"][1]["fullname"]
    with open_store(store_url) as store:
        with pytest.raises(StoreError, match=r"missing 'benchmarks\[1\]\.fullname'"):
            store.add_run(doc)
        assert store.count_runs() == 0
