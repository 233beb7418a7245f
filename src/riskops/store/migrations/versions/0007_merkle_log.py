"""The Merkle log over the audit events: the perfect subtrees the checkpointer completes
(``audit_tree``) and the signed checkpoints it made (``audit_checkpoints``).

Self-contained: two new tables, no change to an existing one. Existing events need no rewrite:
their log leaves are derived from the stored fields, and the first checkpoint covers them all.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from riskops.store.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_tree",
        sa.Column("level", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("origin", sa.String(200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("frontier", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("anchored", sa.JSON(), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_audit_checkpoints_size", "audit_checkpoints", ["size"])


def downgrade() -> None:
    op.drop_index("ix_audit_checkpoints_size", table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_tree")
