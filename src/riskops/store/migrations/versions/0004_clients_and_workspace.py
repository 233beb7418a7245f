"""Clients and the workspace: API keys and decisions belong to a client; the store keeps the
fingerprint of the workspace secret; per-decision monitoring observations are dropped.

The observation rows held rounded feature values (and, under ``--unknown-category missing``,
a category's free text) outside the per-subject encryption, and could be joined back to their
decision by model, version, hour and score. Erasure could not reach them, so they are deleted
with their table; monitoring reads aggregates that name no one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from riskops.store.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("client", sa.String(100), nullable=True))
    # A key made before clients existed is its own client.
    op.execute("UPDATE api_keys SET client = name WHERE client IS NULL")
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("client", existing_type=sa.String(100), nullable=False)
        batch.create_index("ix_api_keys_client", ["client"])
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("client", sa.String(100), nullable=True))
        batch.create_index("ix_decisions_client", ["client"])
    op.create_table(
        "workspace",
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
    )
    op.drop_index("ix_monitoring_observations_hour", table_name="monitoring_observations")
    op.drop_index("ix_monitoring_observations_model_name", table_name="monitoring_observations")
    op.drop_table("monitoring_observations")


def downgrade() -> None:
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
    op.drop_table("workspace")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_index("ix_decisions_client")
        batch.drop_column("client")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_client")
        batch.drop_column("client")
