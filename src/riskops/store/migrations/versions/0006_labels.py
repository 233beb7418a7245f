"""Labels and performance cells: observed outcomes joined to decisions by id, sealed under the
subject's key, and the outcome counts per (model, version, environment, cohort month, months
since decision, outcome, score bin) that performance is computed from.

Self-contained: it creates its own two tables and touches no other, so it can follow any
revision that has ``decisions``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from riskops.store.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "labels",
        sa.Column("decision_id", sa.String(36), sa.ForeignKey("decisions.id"), primary_key=True),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("label_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("label_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("relabels", sa.Integer(), nullable=False),
        sa.Column("ingested_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_labels_model_name", "labels", ["model_name"])
    op.create_index("ix_labels_subject", "labels", ["subject"])
    op.create_table(
        "performance_cells",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("environment", sa.String(40), nullable=False),
        sa.Column("cohort", sa.String(7), nullable=False),
        sa.Column("months_since", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("score_bin", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("positives", sa.Integer(), nullable=False),
        sa.Column("sum_p", sa.Float(), nullable=False),
        sa.Column("sum_p2", sa.Float(), nullable=False),
        sa.UniqueConstraint(
            "model_name",
            "version",
            "environment",
            "cohort",
            "months_since",
            "outcome",
            "score_bin",
            name="uq_performance_cell",
        ),
    )
    op.create_index("ix_performance_cells_model_name", "performance_cells", ["model_name"])


def downgrade() -> None:
    op.drop_index("ix_performance_cells_model_name", table_name="performance_cells")
    op.drop_table("performance_cells")
    op.drop_index("ix_labels_subject", table_name="labels")
    op.drop_index("ix_labels_model_name", table_name="labels")
    op.drop_table("labels")
