"""claims to top-level blocks

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "prefix_claim",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(length=43), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("claimant_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("prefix_id", sa.Integer(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'rejected', 'withdrawn')", name=op.f("ck_prefix_claim_status")
        ),
        sa.ForeignKeyConstraint(["claimant_id"], ["organization.id"],
                                name=op.f("fk_prefix_claim_claimant_id_organization"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by_id"], ["user_account.id"],
                                name=op.f("fk_prefix_claim_decided_by_id_user_account"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["prefix_id"], ["prefix.id"], name=op.f("fk_prefix_claim_prefix_id_prefix"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["requested_by_id"], ["user_account.id"],
                                name=op.f("fk_prefix_claim_requested_by_id_user_account"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prefix_claim")),
    )  # fmt: skip
    op.create_index(op.f("ix_prefix_claim_claimant_id"), "prefix_claim", ["claimant_id"], unique=False)
    op.create_index("ix_prefix_claim_status_created_at", "prefix_claim", ["status", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_prefix_claim_status_created_at", table_name="prefix_claim")
    op.drop_index(op.f("ix_prefix_claim_claimant_id"), table_name="prefix_claim")
    op.drop_table("prefix_claim")
