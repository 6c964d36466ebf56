"""an organization's prefixes are indexed in address order (holder, family, start, length), so that a holder's
page is a range of one index however few of the registry's prefixes it holds; the holder-only index it replaces
served nothing this one does not

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 00:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prefix", schema=None) as batch_op:
        batch_op.create_index(
            "ix_prefix_holder_id_family_start_prefix_len", ["holder_id", "family", "start", "prefix_len"], unique=False
        )
        batch_op.drop_index("ix_prefix_holder_id")


def downgrade() -> None:
    with op.batch_alter_table("prefix", schema=None) as batch_op:
        batch_op.create_index("ix_prefix_holder_id", ["holder_id"], unique=False)
        batch_op.drop_index("ix_prefix_holder_id_family_start_prefix_len")
