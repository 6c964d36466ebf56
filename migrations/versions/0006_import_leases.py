"""import batches: the worker that ran them, and when their upload was deleted

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("worker", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("file_deleted_at", core.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.drop_column("file_deleted_at")
        batch_op.drop_column("worker")
