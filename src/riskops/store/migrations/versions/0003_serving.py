"""Serving: deployment modes (canary, shadow), the decision log, decision batches sealed in the
audit chain, per-subject keys, de-identified monitoring observations, API keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from riskops.store.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("mode", sa.String(10), nullable=False, server_default="full"))
        batch.add_column(sa.Column("share", sa.Float(), nullable=True))
    op.create_table(
        "decision_batches",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("merkle_root", sa.String(64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_decided_at", UTCDateTime(), nullable=False),
        sa.Column("last_decided_at", UTCDateTime(), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(71), nullable=False),
        sa.Column("route", sa.String(10), nullable=False),
        sa.Column("served", sa.Boolean(), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("features_nonce", sa.LargeBinary(), nullable=True),
        sa.Column("features_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("decision_batches.id"), nullable=True),
    )
    op.create_index("ix_decisions_decided_at", "decisions", ["decided_at"])
    op.create_index("ix_decisions_model_name", "decisions", ["model_name"])
    op.create_index("ix_decisions_subject", "decisions", ["subject"])
    op.create_table(
        "subject_keys",
        sa.Column("subject", sa.String(64), primary_key=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "monitoring_observations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("hour", UTCDateTime(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("bins", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_monitoring_observations_model_name", "monitoring_observations", ["model_name"]
    )
    op.create_index("ix_monitoring_observations_hour", "monitoring_observations", ["hour"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("key_sha256", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    for table in (
        "api_keys",
        "monitoring_observations",
        "subject_keys",
        "decisions",
        "decision_batches",
    ):
        op.drop_table(table)
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("share")
        batch.drop_column("mode")
