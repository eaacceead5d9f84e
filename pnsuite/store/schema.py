"""The results store's tables at the newest schema revision (the migrations in
`migrations/versions/` build exactly these; `tests/store` holds them to it).

A run is one pytest session's pytest-benchmark document: its machine identity is spread
into columns that queries filter on, and kept whole (`machine_info`, `commit_info`) so
that the document can be given back as pytest-benchmark wrote it.
"""

from __future__ import annotations

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
)

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # sha256 of the document: importing one file twice stores it once
    Column("uid", String(64), nullable=False, unique=True),
    Column("label", String(200), nullable=False, default=""),
    Column("recorded_at", DateTime(timezone=True), nullable=False, index=True),
    # digest of the machine identity the history and the gate group runs by
    Column("machine_key", String(64), nullable=False, index=True),
    Column("machine", String(200)),
    Column("board", String(200), index=True),
    Column("module_sku", String(200)),
    Column("jetpack", String(100)),
    Column("l4t", String(100)),
    Column("tensorrt", String(100)),
    Column("triton", String(100)),
    Column("power_mode", String(100)),
    Column("clocks", String(20)),
    Column("transport", String(50)),
    Column("launcher", String(50)),
    Column("commit_id", String(64)),
    Column("branch", String(200)),
    Column("dirty", Boolean),
    Column("disturbed", Boolean, nullable=False, default=False),
    Column("source", Text),
    Column("machine_info", JSON, nullable=False),
    Column("commit_info", JSON, nullable=False),
    Column("document_header", JSON, nullable=False),
    # added in revision 0002; older suites leave it empty
    Column("suite_version", String(50)),
)

benchmarks = Table(
    "benchmarks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("position", Integer, nullable=False),
    Column("fullname", Text, nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("group", String(200)),
    # the entry's other keys (name, group, params, options...), as pytest-benchmark wrote them
    Column("entry", JSON, nullable=False),
    Column("stats", JSON, nullable=False),
    # the raw rounds, seconds each (stats.data in pytest-benchmark's document)
    Column("rounds", JSON),  # null: saved without --benchmark-save-data
    Column("extra_info", JSON, nullable=False),
    Column("round_s", Float),
    Column("compute_infer_ms", Float),
    Column("latency_p99_ms", Float),
)

# Revision 0002: sweep points and golden results have a home next to the runs.
sweep_points = Table(
    "sweep_points",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("repository", Text, nullable=False),
    Column("config", JSON, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("throughput", Float),
    Column("latency_p50_ms", Float),
    Column("latency_p99_ms", Float),
    Column("metrics", JSON, nullable=False),
)

golden_results = Table(
    "golden_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), index=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("model_identity", String(200), nullable=False, index=True),
    Column("engine", JSON, nullable=False),
    Column("repository", Text),
    Column("image", String(200), nullable=False),
    Column("boxes", JSON, nullable=False),
    Column("verdict", String(50), nullable=False),
)
