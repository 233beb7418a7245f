"""Effective challenge: the validator's opinion on approvals, structured conditions of approval
that deployment enforces, and the findings log with its append-only history.

==================  ======================================================================
table               what it holds
==================  ======================================================================
approvals           new column ``opinion`` (existing sign-offs: "")
approval_conditions one row per condition of a sign-off: kind, text, blocking, status
findings            a validator's findings: severity, owner, due date, status
finding_updates     each finding's history; append-only (UPDATE, DELETE, TRUNCATE refused)
==================  ======================================================================

Existing sign-offs keep their free-text conditions in ``approvals.conditions``; they were
never enforced, and are not turned into rows here.

On PostgreSQL the refusing trigger uses ``riskops_guard_refuse()`` of 0008; a superuser
running the migration also reinstalls the event trigger of :mod:`riskops.store.guards` so
that it guards ``finding_updates`` too (``riskops db grants`` prints it otherwise).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

from riskops.store.guards import (
    event_trigger_statements,
    is_superuser,
    quote_literal,
    schema_oid,
)
from riskops.store.tables import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

HISTORY = "finding_updates"
MESSAGE = f"{HISTORY} is append-only: UPDATE, DELETE and TRUNCATE are refused"


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("opinion", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "approval_conditions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("approval_id", sa.Integer(), sa.ForeignKey("approvals.id"), nullable=False),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("blocking", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("set_by", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("closed_by", sa.String(100), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_approval_conditions_model_name", "approval_conditions", ["model_name"])
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("gate", sa.String(200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("due", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("raised_by", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_findings_model_name", "findings", ["model_name"])
    op.create_table(
        HISTORY,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("finding_id", sa.Integer(), sa.ForeignKey("findings.id"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_finding_updates_finding_id", HISTORY, ["finding_id"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {HISTORY}_no_{verb.lower()} BEFORE {verb} ON {HISTORY} "
                f"BEGIN SELECT RAISE(ABORT, {quote_literal(MESSAGE)}); END"
            )
    elif dialect == "postgresql":
        op.execute(
            f"CREATE TRIGGER {HISTORY}_refuse BEFORE UPDATE OR DELETE ON {HISTORY} "
            f"FOR EACH ROW EXECUTE FUNCTION riskops_guard_refuse({quote_literal(MESSAGE)})"
        )
        op.execute(
            f"CREATE TRIGGER {HISTORY}_no_truncate BEFORE TRUNCATE ON {HISTORY} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION riskops_guard_refuse({quote_literal(MESSAGE)})"
        )
        connection = op.get_bind()
        if is_superuser(connection):
            schema, oid = schema_oid(connection)
            for statement in event_trigger_statements(schema, schema_oid=oid):
                connection.execute(text(statement))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {HISTORY}_no_{verb}")
    elif dialect == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {HISTORY}_refuse ON {HISTORY}")
        op.execute(f"DROP TRIGGER IF EXISTS {HISTORY}_no_truncate ON {HISTORY}")
    op.drop_index("ix_finding_updates_finding_id", table_name=HISTORY)
    op.drop_table(HISTORY)
    op.drop_index("ix_findings_model_name", table_name="findings")
    op.drop_table("findings")
    op.drop_index("ix_approval_conditions_model_name", table_name="approval_conditions")
    op.drop_table("approval_conditions")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("opinion")
