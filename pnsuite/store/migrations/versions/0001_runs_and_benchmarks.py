"""Runs and their benchmarks.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(64), nullable=False, unique=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("machine_key", sa.String(64), nullable=False, index=True),
        sa.Column("machine", sa.String(200)),
        sa.Column("board", sa.String(200), index=True),
        sa.Column("module_sku", sa.String(200)),
        sa.Column("jetpack", sa.String(100)),
        sa.Column("l4t", sa.String(100)),
        sa.Column("tensorrt", sa.String(100)),
        sa.Column("triton", sa.String(100)),
        sa.Column("power_mode", sa.String(100)),
        sa.Column("clocks", sa.String(20)),
        sa.Column("transport", sa.String(50)),
        sa.Column("launcher", sa.String(50)),
        sa.Column("commit_id", sa.String(64)),
        sa.Column("branch", sa.String(200)),
        sa.Column("dirty", sa.Boolean),
        sa.Column("disturbed", sa.Boolean, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("machine_info", sa.JSON, nullable=False),
        sa.Column("commit_info", sa.JSON, nullable=False),
        sa.Column("document_header", sa.JSON, nullable=False),
    )
    op.create_table(
        "benchmarks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id",
            sa.Integer,
            sa.ForeignKey("runs.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("fullname", sa.Text, nullable=False, index=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("group", sa.String(200)),
        sa.Column("entry", sa.JSON, nullable=False),
        sa.Column("stats", sa.JSON, nullable=False),
        sa.Column("rounds", sa.JSON),
        sa.Column("extra_info", sa.JSON, nullable=False),
        sa.Column("round_s", sa.Float),
        sa.Column("compute_infer_ms", sa.Float),
        sa.Column("latency_p99_ms", sa.Float),
    )


def downgrade() -> None:
    op.drop_table("benchmarks")
    op.drop_table("runs")
