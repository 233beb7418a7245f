"""Monitoring: decisions record their environment; window aggregates written with each sealed
batch, monitoring runs (their results sealed in the audit chain) and their alerts.

An aggregate row holds counts over a version's frozen reference bins and nothing that names a
person or a decision, so erasing a subject has nothing to reach in these tables.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from riskops.store.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("environment", sa.String(40), nullable=True))
    op.create_table(
        "monitoring_aggregates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("decision_batches.id"), nullable=False),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("environment", sa.String(40), nullable=False),
        sa.Column("hour", UTCDateTime(), nullable=False),
        sa.Column("segment", sa.String(100), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("profile_sha256", sa.String(71), nullable=True),
        sa.Column("counts", sa.LargeBinary(), nullable=True),
        sa.Column("counts_shape", sa.JSON(), nullable=True),
        sa.Column("moments", sa.LargeBinary(), nullable=True),
        sa.Column("outcomes", sa.JSON(), nullable=False),
        sa.Column("fallbacks", sa.Integer(), nullable=False),
        sa.Column("latency", sa.JSON(), nullable=False),
        sa.UniqueConstraint(
            "batch_id",
            "model_name",
            "version",
            "environment",
            "hour",
            "segment",
            name="uq_monitoring_aggregate",
        ),
    )
    op.create_index("ix_monitoring_aggregates_hour", "monitoring_aggregates", ["hour"])
    op.create_table(
        "monitoring_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("environment", sa.String(40), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("window_end", UTCDateTime(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("results_sha256", sa.String(71), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.Column("run_by", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_monitoring_runs_model_name", "monitoring_runs", ["model_name"])
    op.create_table(
        "monitoring_alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("alert", sa.String(60), nullable=False),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("environment", sa.String(40), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("runbook", sa.String(200), nullable=False),
        sa.Column(
            "opened_run_id", sa.Integer(), sa.ForeignKey("monitoring_runs.id"), nullable=False
        ),
        sa.Column("last_run_id", sa.Integer(), sa.ForeignKey("monitoring_runs.id"), nullable=False),
        sa.Column(
            "resolved_run_id", sa.Integer(), sa.ForeignKey("monitoring_runs.id"), nullable=True
        ),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_monitoring_alerts_fingerprint", "monitoring_alerts", ["fingerprint"])
    op.create_index("ix_monitoring_alerts_model_name", "monitoring_alerts", ["model_name"])


def downgrade() -> None:
    op.drop_index("ix_monitoring_alerts_model_name", table_name="monitoring_alerts")
    op.drop_index("ix_monitoring_alerts_fingerprint", table_name="monitoring_alerts")
    op.drop_table("monitoring_alerts")
    op.drop_index("ix_monitoring_runs_model_name", table_name="monitoring_runs")
    op.drop_table("monitoring_runs")
    op.drop_index("ix_monitoring_aggregates_hour", table_name="monitoring_aggregates")
    op.drop_table("monitoring_aggregates")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("environment")
