"""Sign-off workflow: findings, conditions and decision on approvals; gate overrides; the spec's
path on model versions.

Existing approvals migrate as approvals with no findings and no conditions (server defaults).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from riskops.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("findings", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("conditions", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(
            sa.Column("decision", sa.String(10), nullable=False, server_default="approve")
        )
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("spec_path", sa.Text(), nullable=True))
    # Gate names carry feature names (monotonicity.<feature>), longer than 60 characters.
    with op.batch_alter_table("gate_results") as batch:
        batch.alter_column("gate", type_=sa.String(200), existing_type=sa.String(60))
    op.create_table(
        "gate_overrides",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("gate", sa.String(200), nullable=False),
        sa.Column(
            "validation_run_id", sa.Integer(), sa.ForeignKey("validation_runs.id"), nullable=False
        ),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("validation_run_id", "gate", name="uq_gate_override_run_gate"),
    )


def downgrade() -> None:
    op.drop_table("gate_overrides")
    with op.batch_alter_table("gate_results") as batch:
        batch.alter_column("gate", type_=sa.String(60), existing_type=sa.String(200))
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("spec_path")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("decision")
        batch.drop_column("conditions")
        batch.drop_column("findings")
