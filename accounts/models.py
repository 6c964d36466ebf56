"""Organizations, users and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.choices import AuthSource, OrgKind, Role
from core.db import Base, UTCDateTime, one_of, utcnow


class Organization(Base):
    __tablename__ = "organization"
    __table_args__ = (CheckConstraint(one_of("kind", OrgKind), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    division_code: Mapped[str | None] = mapped_column(String(6))
    address: Mapped[str | None] = mapped_column(String(300))
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    # The user organization's facts the filings and the policy's statistics need: 单位性质, the GB/T 4754 section
    # of its industry (行业分类), and whether it is above designated size (规模以上, set by the regulator).
    nature: Mapped[str | None] = mapped_column(String(32))
    industry: Mapped[str | None] = mapped_column(String(32))
    above_designated_size: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # False for holders a carrier's import named and nobody has checked yet.
    verified: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organization")

    AUDITED = (
        "kind", "code", "name", "name_en", "uscc", "division_code", "address",
        "contact_name", "contact_phone", "contact_email", "nature", "industry", "above_designated_size", "verified",
    )  # fmt: skip

    @property
    def kind_enum(self) -> OrgKind:
        return OrgKind(self.kind)

    def __repr__(self) -> str:
        return f"<Organization {self.code}>"


class User(Base):
    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint(one_of("role", Role), name="role"),
        CheckConstraint(one_of("auth_source", AuthSource), name="auth_source"),
        # Local accounts carry a password hash; directory accounts never do.
        CheckConstraint("(auth_source = 'local') OR (password_hash IS NULL)", name="ldap_without_password"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="RESTRICT"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    auth_source: Mapped[str] = mapped_column(String(8), default=AuthSource.LOCAL.value)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Sessions signed before this moment are no longer accepted (password change or reset).
    credentials_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship(back_populates="users", lazy="joined")

    AUDITED = ("username", "display_name", "email", "organization_id", "role", "auth_source", "active")

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def auth_source_enum(self) -> AuthSource:
        return AuthSource(self.auth_source)

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_object", "object_type", "object_id"),
        Index("ix_audit_event_organization_id_occurred_at", "organization_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    # The actor's name is kept as written so the trail still reads after an account is removed.
    actor_name: Mapped[str] = mapped_column(String(64))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    remote_addr: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str | None] = mapped_column(Text)
    # Set when ``summary`` is a message template (rendered in the reader's language); None: literal text.
    summary_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    @property
    def summary_text(self) -> str | None:
        if self.summary is None or self.summary_params is None:
            return self.summary
        from core.messages import render

        return render(self.summary, self.summary_params)


class ApiToken(Base):
    """A named bearer token for /api/v1. Only a hash of the secret is kept; the secret is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The first characters of the secret, kept in clear so a user can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(12))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_addr: Mapped[str | None] = mapped_column(String(45))

    user: Mapped[User] = relationship(lazy="joined")

    AUDITED = ("name", "prefix", "read_only", "expires_at", "revoked_at")

    def usable_at(self, moment: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > moment


class LoginThrottle(Base):
    """Failed sign-ins of one account from one client (a device that signed in before, else an address).

    Throttling per (account, client) means an outsider's failures slow only the outsider: the account's owner,
    signing in from a known device, is never held back by them.
    """

    __tablename__ = "login_throttle"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)  # the casefolded sign-in name
    client: Mapped[str] = mapped_column(String(80), primary_key=True)  # "device:<id>" or "address:<ip>"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class UserSession(Base):
    """A signed-in browser session, kept on the server: the cookie holds only a random secret whose hash is
    here, so logging out, a password change, deactivation or an administrator ends it for good."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the absolute lifetime
    # Directory users: when their groups were last read successfully, and last tried (None for local accounts).
    directory_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    directory_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remote_addr: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))
