"""A pytest-benchmark document as the store's rows, and the rows back as the document.

The run's machine identity is spread into the columns queries filter on and kept whole,
each benchmark's raw rounds apart from its statistics; `document` puts back exactly what
pytest-benchmark wrote (NaN and infinities excepted: stored as null, as PostgreSQL's JSON
has no such numbers).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pnsuite.history.history import SOURCE_KEY, machine_identity
from pnsuite.measure.run import COMPUTE_INFER_MS, LATENCY_P99_MS, ROUND_S, MeasuredRun
from pnsuite.measure.runsets import benchmark_runs
from pnsuite.store.errors import StoreError

#: the run's columns taken from machine_info, by machine_info key
_MACHINE_COLUMNS = {
    "machine": "machine",
    "board": "jetson_model",
    "module_sku": "jetson_module_sku",
    "jetpack": "jetpack_release",
    "l4t": "l4t_release",
    "tensorrt": "tensorrt_version",
    "triton": "triton_version",
    "power_mode": "nvpmodel_mode",
    "clocks": "jetson_clocks",
    "transport": "transport",
    "launcher": "launcher",
}
_DOCUMENT_PARTS = ("machine_info", "commit_info", "benchmarks", SOURCE_KEY)


def utc(when: datetime) -> datetime:
    """The instant in UTC: SQLite keeps a time's clock reading and drops its offset, so
    every time is stored, compared and returned in UTC (naive ones are UTC already, as
    pytest-benchmark writes them)."""
    return when.astimezone(timezone.utc) if when.tzinfo else when.replace(tzinfo=timezone.utc)


def machine_key(machine_info: Mapping[str, Any]) -> str:
    """The digest of what tells machines apart for the gate and the history."""
    identity = json.dumps(machine_identity(machine_info), sort_keys=True, default=str)
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _recorded_at(text: Any) -> datetime:
    try:
        return utc(datetime.fromisoformat(str(text).replace("Z", "+00:00")))
    except ValueError:
        raise StoreError(
            f"a run's datetime {text!r} is not ISO 8601", "store pytest-benchmark's own documents"
        ) from None


def recorded_at(document: Mapping[str, Any]) -> datetime:
    """When a document's run was saved (UTC)."""
    return _recorded_at(document.get("datetime"))


def _checked(document: Any, source: str) -> dict[str, Any]:
    """The document as pytest-benchmark writes it to its files (paths and the like as
    strings, non-finite numbers as null), or StoreError naming what is missing."""
    document = _finite(json.loads(json.dumps(document, default=str)))
    problem = None
    if not isinstance(document, dict) or not isinstance(document.get("machine_info"), dict):
        problem = "'machine_info'"
    elif not isinstance(document.get("benchmarks"), list):
        problem = "'benchmarks'"
    else:
        bad = [
            i
            for i, e in enumerate(document["benchmarks"])
            if not isinstance(e, dict) or not e.get("fullname")
        ]
        problem = f"'benchmarks[{bad[0]}].fullname'" if bad else None
    if problem:
        raise StoreError(
            f"not a pytest-benchmark document ({source or 'given'}): missing {problem}",
            "store the JSON pytest-benchmark saves",
        )
    return document


def run_rows(
    document: Mapping[str, Any],
    label: str = "",
    source: str = "",
    disturbed: bool | None = None,
    suite_version: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's row and its benchmarks' rows (without run_id) for one document. The
    run is keyed by the sha256 of the document: one document is stored once."""
    doc = _checked(document, source)
    machine_info, commit_info = doc["machine_info"], dict(doc.get("commit_info") or {})
    measured = benchmark_runs(doc, Path(source or "store"))
    run = {
        "uid": hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest(),
        "label": label,
        "recorded_at": _recorded_at(doc.get("datetime")),
        "machine_key": machine_key(machine_info),
        **{column: _str(machine_info.get(key)) for column, key in _MACHINE_COLUMNS.items()},
        "commit_id": _str(commit_info.get("id")),
        "branch": _str(commit_info.get("branch")),
        "dirty": commit_info.get("dirty"),
        "disturbed": bool(disturbed)
        if disturbed is not None
        else any(m.disturbed for m in measured),
        "source": source or None,
        "machine_info": machine_info,
        "commit_info": commit_info,
        "document_header": {k: v for k, v in doc.items() if k not in _DOCUMENT_PARTS},
        "suite_version": suite_version,
    }
    return run, [
        _benchmark_row(i, entry, m) for i, (entry, m) in enumerate(zip(doc["benchmarks"], measured))
    ]


def _benchmark_row(
    position: int, entry: Mapping[str, Any], measured: MeasuredRun
) -> dict[str, Any]:
    stats = dict(entry.get("stats") or {})
    rounds = stats.pop("data", None)
    return {
        "position": position,
        "fullname": entry["fullname"],
        "name": entry.get("name", entry["fullname"]),
        "group": entry.get("group"),
        "entry": {k: v for k, v in entry.items() if k not in ("stats", "extra_info")},
        "stats": stats,
        "rounds": None if rounds is None else list(rounds),
        "extra_info": dict(entry.get("extra_info") or {}),
        # null where the record did not keep the figure (read back as 0.0)
        **{
            metric: measured.metric(metric) or None
            for metric in (ROUND_S, COMPUTE_INFER_MS, LATENCY_P99_MS)
        },
    }


def benchmark_entry(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A benchmarks row (its RowMapping) back as the document's benchmark entry."""
    stats = dict(row["stats"])
    if row["rounds"] is not None:
        stats["data"] = list(row["rounds"])
    return {**row["entry"], "stats": stats, "extra_info": dict(row["extra_info"])}


def document(run: Mapping[Any, Any], entries: list[dict[str, Any]], url: str) -> dict[str, Any]:
    """A runs row and its entries back as the document, naming the row it came from."""
    return {
        **run["document_header"],
        "machine_info": dict(run["machine_info"]),
        "commit_info": dict(run["commit_info"]),
        "benchmarks": entries,
        SOURCE_KEY: run["source"] or f"{url}#run-{run['id']}",
        "store_label": run["label"],
        "store_run_id": run["id"],
    }
