"""prefix registry and free-space index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:58:41.355737
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db
import ipam.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "prefix",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family", sa.SmallInteger(), nullable=False),
        sa.Column("start", sa.LargeBinary(length=16), nullable=False),
        sa.Column("last", sa.LargeBinary(length=16), nullable=False),
        sa.Column("prefix_len", sa.SmallInteger(), nullable=False),
        sa.Column("network", ipam.models.CidrType(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("usage", sa.String(length=24), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("import_batch_id", sa.Integer(), nullable=True),
        sa.Column("child_min_len", sa.SmallInteger(), nullable=True),
        sa.Column("child_max_len", sa.SmallInteger(), nullable=True),
        sa.Column("child_default_len", sa.SmallInteger(), nullable=True),
        sa.Column("default_strategy", sa.String(length=16), nullable=True),
        sa.Column("nibble_aligned", sa.Boolean(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "default_strategy IS NULL OR default_strategy IN ('first-fit', 'best-fit', 'sparse')",
            name=op.f("ck_prefix_default_strategy"),
        ),
        sa.CheckConstraint(
            "kind IN ('aggregate', 'allocation', 'assignment', 'subnet', 'reserved')", name=op.f("ck_prefix_kind")
        ),
        sa.CheckConstraint("source IN ('manual', 'api', 'import')", name=op.f("ck_prefix_source")),
        sa.CheckConstraint("status IN ('active', 'reserved', 'deprecated')", name=op.f("ck_prefix_status")),
        sa.CheckConstraint(
            "usage IS NULL OR usage IN ('static', 'dynamic', 'leased-line', 'idc', 'enterprise-network', 'industrial-network', 'nat-pool', 'other')",
            name=op.f("ck_prefix_usage"),
        ),
        sa.CheckConstraint("family IN (4, 6)", name=op.f("ck_prefix_family")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_prefix_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["organization.id"], name=op.f("fk_prefix_holder_id_organization"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["prefix.id"], name=op.f("fk_prefix_parent_id_prefix"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["user_account.id"],
            name=op.f("fk_prefix_updated_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prefix")),
        sa.UniqueConstraint("family", "start", "prefix_len", name="uq_prefix_network"),
    )
    with op.batch_alter_table("prefix", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prefix_holder_id"), ["holder_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_prefix_import_batch_id"), ["import_batch_id"], unique=False)
        batch_op.create_index("ix_prefix_parent_id_prefix_len", ["parent_id", "prefix_len"], unique=False)
        batch_op.create_index("ix_prefix_parent_id_start", ["parent_id", "start"], unique=False)

    op.create_table(
        "free_block",
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("prefix_len", sa.SmallInteger(), nullable=False),
        sa.Column("start", sa.LargeBinary(length=16), nullable=False),
        sa.Column("sparse_key", sa.LargeBinary(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["prefix.id"], name=op.f("fk_free_block_parent_id_prefix"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("parent_id", "prefix_len", "start", name=op.f("pk_free_block")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("free_block", schema=None) as batch_op:
        batch_op.create_index(
            "ix_free_block_parent_id_prefix_len_sparse_key", ["parent_id", "prefix_len", "sparse_key"], unique=False
        )

    if op.get_bind().dialect.name == "postgresql":
        # Siblings never overlap, enforced by the database itself. NULL never equals NULL, so top-level
        # prefixes are compared under parent 0. SQLite has no such constraint; the service checks there.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE prefix ADD CONSTRAINT ex_prefix_siblings_overlap "
            "EXCLUDE USING gist ((COALESCE(parent_id, 0)) WITH =, network inet_ops WITH &&) "
            "DEFERRABLE INITIALLY IMMEDIATE"
        )


def downgrade() -> None:
    with op.batch_alter_table("free_block", schema=None) as batch_op:
        batch_op.drop_index("ix_free_block_parent_id_prefix_len_sparse_key")

    op.drop_table("free_block")
    with op.batch_alter_table("prefix", schema=None) as batch_op:
        batch_op.drop_index("ix_prefix_parent_id_start")
        batch_op.drop_index("ix_prefix_parent_id_prefix_len")
        batch_op.drop_index(batch_op.f("ix_prefix_import_batch_id"))
        batch_op.drop_index(batch_op.f("ix_prefix_holder_id"))

    op.drop_table("prefix")
