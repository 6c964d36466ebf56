"""strict pools, import warnings, and the link from a batch to the one that continues it

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prefix", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pool_strict", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("import_problem", schema=None) as batch_op:
        batch_op.add_column(sa.Column("severity", sa.String(length=8), nullable=False, server_default="error"))
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warnings", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_batch_id", sa.Integer(), nullable=True))
    # A check confirmed before this link existed was found by its file: the first later batch loading it.
    op.execute(
        """
        UPDATE import_batch SET next_batch_id = (
            SELECT min(later.id) FROM import_batch AS later
            WHERE later.stored_path = import_batch.stored_path AND later.id > import_batch.id
              AND later.dry_run = false
        )
        WHERE status IN ('previewed', 'failed') AND stored_path IS NOT NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.drop_column("next_batch_id")
        batch_op.drop_column("warnings")
    with op.batch_alter_table("import_problem", schema=None) as batch_op:
        batch_op.drop_column("severity")
    with op.batch_alter_table("prefix", schema=None) as batch_op:
        batch_op.drop_column("pool_strict")
