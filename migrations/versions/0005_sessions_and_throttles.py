"""server-side sessions, sign-in throttles, organization codes in lower case

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("blocked_until", core.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("account", "client", name=op.f("pk_login_throttle")),
    )
    op.create_index(op.f("ix_login_throttle_blocked_until"), "login_throttle", ["blocked_until"], unique=False)
    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("directory_verified_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("directory_checked_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("remote_addr", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_user_session_user_id_user_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_user_session_secret_hash")),
    )
    op.create_index(op.f("ix_user_session_user_id"), "user_session", ["user_id"], unique=False)
    # Codes compare without case: they are kept in lower case (holders created by imports had upper-case USCCs).
    op.execute("UPDATE organization SET code = lower(code) WHERE code <> lower(code)")


def downgrade() -> None:
    op.drop_index(op.f("ix_user_session_user_id"), table_name="user_session")
    op.drop_table("user_session")
    op.drop_index(op.f("ix_login_throttle_blocked_until"), table_name="login_throttle")
    op.drop_table("login_throttle")
