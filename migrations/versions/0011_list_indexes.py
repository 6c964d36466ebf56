"""the import list shows one line per upload (batches looked up by the batch that continued them); organizations
are filtered by whether they are verified

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 15:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.create_index("ix_import_batch_next_batch_id", ["next_batch_id"], unique=False)
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.create_index("ix_organization_verified", ["verified"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.drop_index("ix_organization_verified")
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.drop_index("ix_import_batch_next_batch_id")
