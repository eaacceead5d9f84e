"""Sweep points, golden results, and the suite version that wrote a run.

Additive only (new tables, a nullable column): a runner still on revision 0001's suite
writes into a store at this revision unchanged.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("suite_version", sa.String(50)))
    op.create_table(
        "sweep_points",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id",
            sa.Integer,
            sa.ForeignKey("runs.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("repository", sa.Text, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("throughput", sa.Float),
        sa.Column("latency_p50_ms", sa.Float),
        sa.Column("latency_p99_ms", sa.Float),
        sa.Column("metrics", sa.JSON, nullable=False),
    )
    op.create_table(
        "golden_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), index=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_identity", sa.String(200), nullable=False, index=True),
        sa.Column("engine", sa.JSON, nullable=False),
        sa.Column("repository", sa.Text),
        sa.Column("image", sa.String(200), nullable=False),
        sa.Column("boxes", sa.JSON, nullable=False),
        sa.Column("verdict", sa.String(50), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("golden_results")
    op.drop_table("sweep_points")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("suite_version")
