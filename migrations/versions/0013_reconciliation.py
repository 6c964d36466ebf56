"""reconciliation runs, their findings (matched pairs counted, not stored) and the cases reviewers keep on
findings across runs

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 17:37:38.087425
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "finding_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("carrier_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('open', 'acknowledged', 'assigned')", name=op.f("ck_finding_case_state")),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["user_account.id"],
            name=op.f("fk_finding_case_assignee_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["carrier_id"],
            ["organization.id"],
            name=op.f("fk_finding_case_carrier_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["user_account.id"],
            name=op.f("fk_finding_case_updated_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finding_case")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_finding_case_fingerprint")),
    )
    with op.batch_alter_table("finding_case", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_finding_case_carrier_id"), ["carrier_id"], unique=False)

    op.create_table(
        "reconciliation_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("carrier_id", sa.Integer(), nullable=True),
        sa.Column("block_id", sa.Integer(), nullable=True),
        sa.Column("block", sa.String(length=43), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("started_by_id", sa.Integer(), nullable=True),
        sa.Column("started_by_name", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("filings", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("carrier_counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("scope IN ('all', 'carrier', 'block')", name=op.f("ck_reconciliation_run_scope")),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_reconciliation_run_state")
        ),
        sa.ForeignKeyConstraint(
            ["block_id"], ["prefix.id"], name=op.f("fk_reconciliation_run_block_id_prefix"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["carrier_id"],
            ["organization.id"],
            name=op.f("fk_reconciliation_run_carrier_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["started_by_id"],
            ["user_account.id"],
            name=op.f("fk_reconciliation_run_started_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_run")),
    )
    with op.batch_alter_table("reconciliation_run", schema=None) as batch_op:
        batch_op.create_index("ix_reconciliation_run_carrier_id_created_at", ["carrier_id", "created_at"], unique=False)
        batch_op.create_index("ix_reconciliation_run_created_at", ["created_at"], unique=False)

    op.create_table(
        "reconciliation_finding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("family", sa.SmallInteger(), nullable=False),
        sa.Column("start", sa.LargeBinary(length=16), nullable=False),
        sa.Column("last", sa.LargeBinary(length=16), nullable=False),
        sa.Column("block", sa.String(length=90), nullable=False),
        sa.Column("carrier_id", sa.Integer(), nullable=True),
        sa.Column("holder_id", sa.Integer(), nullable=True),
        sa.Column("district", sa.String(length=6), nullable=True),
        sa.Column("prefix_id", sa.Integer(), nullable=True),
        sa.Column("filing_id", sa.Integer(), nullable=True),
        sa.Column("other_filing_id", sa.Integer(), nullable=True),
        sa.Column("allocated_on", sa.Date(), nullable=True),
        sa.Column("working_days", sa.Integer(), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "type IN ('matched', 'unfiled', 'filed-not-assigned', 'holder-mismatch', 'size-mismatch', 'overlapping-filings', 'outside-aggregate')",
            name=op.f("ck_reconciliation_finding_type"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_run.id"],
            name=op.f("fk_reconciliation_finding_run_id_reconciliation_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_finding")),
    )
    with op.batch_alter_table("reconciliation_finding", schema=None) as batch_op:
        batch_op.create_index("ix_reconciliation_finding_fingerprint", ["fingerprint"], unique=False)
        batch_op.create_index("ix_reconciliation_finding_run_id_carrier_id", ["run_id", "carrier_id"], unique=False)
        batch_op.create_index("ix_reconciliation_finding_run_id_fingerprint", ["run_id", "fingerprint"], unique=False)
        batch_op.create_index("ix_reconciliation_finding_run_id_type", ["run_id", "type"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reconciliation_finding", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciliation_finding_run_id_type")
        batch_op.drop_index("ix_reconciliation_finding_run_id_fingerprint")
        batch_op.drop_index("ix_reconciliation_finding_run_id_carrier_id")
        batch_op.drop_index("ix_reconciliation_finding_fingerprint")

    op.drop_table("reconciliation_finding")
    with op.batch_alter_table("reconciliation_run", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciliation_run_created_at")
        batch_op.drop_index("ix_reconciliation_run_carrier_id_created_at")

    op.drop_table("reconciliation_run")
    with op.batch_alter_table("finding_case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finding_case_carrier_id"))

    op.drop_table("finding_case")
