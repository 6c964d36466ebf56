"""prefix requests (an enterprise asks an allocator for space; approving allocates it), the blocks allocated for
them, saved subnet plans, and notifications about requests

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 16:59:04.996753
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "prefix_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("site_count", sa.SmallInteger(), nullable=False),
        sa.Column("prefix_len", sa.SmallInteger(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("usage", sa.String(length=24), nullable=True),
        sa.Column("locations", sa.JSON(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("plan_text", sa.Text(), nullable=True),
        sa.Column("pool_id", sa.Integer(), nullable=True),
        sa.Column("strategy", sa.String(length=16), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "state IN ('draft', 'submitted', 'returned', 'approved', 'rejected', 'withdrawn')",
            name=op.f("ck_prefix_request_state"),
        ),
        sa.CheckConstraint(
            "strategy IS NULL OR strategy IN ('first-fit', 'best-fit', 'sparse')",
            name=op.f("ck_prefix_request_strategy"),
        ),
        sa.CheckConstraint(
            "usage IS NULL OR usage IN ('static', 'dynamic', 'leased-line', 'idc', 'enterprise-network', 'industrial-network', 'nat-pool', 'other')",
            name=op.f("ck_prefix_request_usage"),
        ),
        sa.CheckConstraint("site_count >= 1", name=op.f("ck_prefix_request_site_count")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_prefix_request_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["user_account.id"],
            name=op.f("fk_prefix_request_decided_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["prefix.id"], name=op.f("fk_prefix_request_pool_id_prefix"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["organization.id"],
            name=op.f("fk_prefix_request_provider_id_organization"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["organization.id"],
            name=op.f("fk_prefix_request_requester_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prefix_request")),
    )
    with op.batch_alter_table("prefix_request", schema=None) as batch_op:
        batch_op.create_index("ix_prefix_request_provider_id_state", ["provider_id", "state"], unique=False)
        batch_op.create_index("ix_prefix_request_requester_id_state", ["requester_id", "state"], unique=False)
        batch_op.create_index("ix_prefix_request_state_submitted_at", ["state", "submitted_at"], unique=False)
        batch_op.create_index("ix_prefix_request_state_decided_at", ["state", "decided_at"], unique=False)
        batch_op.create_index("ix_prefix_request_updated_at", ["updated_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_prefix_request_pool_id"), ["pool_id"], unique=False)

    op.create_table(
        "prefix_request_block",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("prefix_id", sa.Integer(), nullable=True),
        sa.Column("network", sa.String(length=43), nullable=False),
        sa.ForeignKeyConstraint(
            ["prefix_id"], ["prefix.id"], name=op.f("fk_prefix_request_block_prefix_id_prefix"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["prefix_request.id"],
            name=op.f("fk_prefix_request_block_request_id_prefix_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prefix_request_block")),
    )
    with op.batch_alter_table("prefix_request_block", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prefix_request_block_prefix_id"), ["prefix_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_prefix_request_block_request_id"), ["request_id"], unique=False)

    op.create_table(
        "subnet_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("parent_network", sa.String(length=43), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("placements", sa.JSON(), nullable=True),
        sa.Column("applied", sa.JSON(), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_by_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["applied_by_id"],
            ["user_account.id"],
            name=op.f("fk_subnet_plan_applied_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_subnet_plan_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_subnet_plan_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["prefix.id"], name=op.f("fk_subnet_plan_parent_id_prefix"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["prefix_request.id"],
            name=op.f("fk_subnet_plan_request_id_prefix_request"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subnet_plan")),
    )
    with op.batch_alter_table("subnet_plan", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subnet_plan_organization_id_updated_at", ["organization_id", "updated_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_subnet_plan_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_subnet_plan_request_id"), ["request_id"], unique=False)

    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_notification_request_id"), ["request_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_notification_request_id_prefix_request"),
            "prefix_request",
            ["request_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_notification_request_id_prefix_request"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_notification_request_id"))
        batch_op.drop_column("request_id")

    with op.batch_alter_table("subnet_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subnet_plan_parent_id"))
        batch_op.drop_index("ix_subnet_plan_organization_id_updated_at")

    op.drop_table("subnet_plan")
    with op.batch_alter_table("prefix_request_block", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prefix_request_block_request_id"))
        batch_op.drop_index(batch_op.f("ix_prefix_request_block_prefix_id"))

    op.drop_table("prefix_request_block")
    with op.batch_alter_table("prefix_request", schema=None) as batch_op:
        batch_op.drop_index("ix_prefix_request_state_submitted_at")
        batch_op.drop_index("ix_prefix_request_requester_id_state")
        batch_op.drop_index("ix_prefix_request_provider_id_state")

    op.drop_table("prefix_request")
