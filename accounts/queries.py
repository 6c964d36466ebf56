"""Reads of the accounts package, shaped for the pages and API that show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, Select, and_, func, or_, select, union
from sqlalchemy.orm import Session, aliased, contains_eager

from accounts.models import ApiToken, AuditEvent, LoginThrottle, Organization, User
from accounts.validators import normalize_code
from core.errors import ValidationFailed
from core.messages import message as _l


@dataclass(frozen=True)
class OrganizationRow:
    organization: Organization
    user_count: int


def organization_list(
    q: str | None = None, kind: str | None = None, verified: bool | None = None
) -> Select[tuple[Organization, int]]:
    """Organizations with their user counts in one query (no per-row count); ``verified=False``: only the holders
    imports named that nobody has verified yet."""
    users = select(User.organization_id, func.count(User.id).label("n")).group_by(User.organization_id).subquery()
    stmt = (
        select(Organization, func.coalesce(users.c.n, 0))
        .outerjoin(users, users.c.organization_id == Organization.id)
        .order_by(Organization.kind, Organization.code)
    )
    if q:
        pattern = f"%{q.strip()}%"
        stmt = stmt.where(
            or_(
                Organization.code.ilike(pattern),
                Organization.name.ilike(pattern),
                Organization.name_en.ilike(pattern),
                Organization.uscc.ilike(pattern),
            )
        )
    if kind:
        stmt = stmt.where(Organization.kind == kind)
    if verified is not None:
        stmt = stmt.where(Organization.verified.is_(verified))
    return stmt


# -- holders named by imports -----------------------------------------------------------------------------------


def _named_in_import(carrier: Any) -> ColumnElement[bool]:
    """The audit row that created an organization for a carrier's import (``operations.create_named_holders``)
    names the carrier's code: the link between a holder and the carrier that named it."""
    return and_(
        AuditEvent.action == "organization.create",
        AuditEvent.object_type == "organization",
        AuditEvent.summary_params["carrier"].as_string() == carrier.code,
    )


@dataclass(frozen=True)
class HolderOrigin:
    """An organization and the carrier whose import named it (None: entered by hand). The rule of
    ``Action.VERIFY_ORGANIZATION`` reads ``named_by_id``."""

    organization: Organization
    named_by: Organization | None

    @property
    def named_by_id(self) -> int | None:
        return self.named_by.id if self.named_by is not None else None


def holder_origin(session: Session, org: Organization) -> HolderOrigin:
    carrier = aliased(Organization)
    named_by = session.scalar(
        select(carrier)
        .join(AuditEvent, _named_in_import(carrier))
        .where(AuditEvent.organization_id == org.id)
        .order_by(AuditEvent.id)
        .limit(1)
    )
    return HolderOrigin(org, named_by)


def unverified_holders_named_by(carrier: Organization) -> Select[tuple[Organization]]:
    """The holders ``carrier``'s imports named that nobody has verified yet, newest first."""
    return (
        select(Organization)
        .join(AuditEvent, AuditEvent.organization_id == Organization.id)
        .where(Organization.verified.is_(False), _named_in_import(carrier))
        .order_by(Organization.created_at.desc(), Organization.id.desc())
    )


def organization_by_code(session: Session, code: str) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.code == normalize_code(code)))


def organization_id_by_code(code: str) -> ScalarSelect[int]:
    return select(Organization.id).where(Organization.code == normalize_code(code)).scalar_subquery()


def organization_for_field(session: Session, code: str | None, field: str) -> Organization | None:
    """The organization a form or API field names by short code; an unknown code is an error on that field."""
    if not code or not code.strip():
        return None
    org = organization_by_code(session, code.strip())
    if org is None:
        raise ValidationFailed.on(field, _l("No organization has the code %(code)s.", code=code.strip()))
    return org


def organization_users(session: Session, org: Organization) -> list[User]:
    return list(session.scalars(select(User).where(User.organization_id == org.id).order_by(User.username)))


def counts_by(session: Session, column: object) -> dict[str, int]:
    return dict(session.execute(select(column, func.count()).group_by(column)).all())  # type: ignore[call-overload,arg-type]


@dataclass(frozen=True)
class DashboardFigures:
    organizations_by_kind: dict[str, int]
    users_by_role: dict[str, int]
    organizations: int
    users: int


def dashboard_figures(session: Session) -> DashboardFigures:
    by_kind = counts_by(session, Organization.kind)
    by_role = counts_by(session, User.role)
    return DashboardFigures(by_kind, by_role, sum(by_kind.values()), sum(by_role.values()))


def unverified_by_kind(session: Session) -> dict[str, int]:
    """How many organizations of each kind wait for verification (holders imports named)."""
    rows = session.execute(
        select(Organization.kind, func.count()).where(Organization.verified.is_(False)).group_by(Organization.kind)
    )
    return {kind: n for kind, n in rows}


# Acts the trail records that change nothing: the dashboards' "recent changes" leave them out.
NOT_CHANGES = ("auth.login", "auth.login_failed", "auth.logout", "token.use")


def recent_events(session: Session, *, organization_id: int | None = None, limit: int = 10) -> list[AuditEvent]:
    """The latest changes (sign-ins and token uses are no changes) of all, or those of one organization: what was
    done to its records and what its people did (a carrier's allocations are recorded under its customers)."""
    newest = (AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
    changes = select(AuditEvent).where(AuditEvent.action.not_in(NOT_CHANGES)).order_by(*newest).limit(limit)
    if organization_id is not None:
        # The newest of each kind, each read along its own index, then the newest of both.
        members = select(User.id).where(User.organization_id == organization_id)
        done_to = changes.where(AuditEvent.organization_id == organization_id).subquery()
        done_by = changes.where(AuditEvent.actor_id.in_(members)).subquery()
        either = union(select(done_to.c.id), select(done_by.c.id))
        changes = select(AuditEvent).where(AuditEvent.id.in_(either)).order_by(*newest).limit(limit)
    return list(session.scalars(changes))


def object_history(
    session: Session, object_type: str, object_id: str, *, since: datetime | None = None, limit: int = 50
) -> list[AuditEvent]:
    """Events of one object, newest first. ``since`` (the object's creation) keeps the history of an earlier
    object with the same name (a released and re-allocated network, a reused code) out of view."""
    stmt = select(AuditEvent).where(AuditEvent.object_type == object_type, AuditEvent.object_id == object_id)
    if since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    return list(session.scalars(stmt.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit)))


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    organization: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def audit_events(flt: AuditFilter) -> Select[tuple[AuditEvent]]:
    """Audit events matching the filter, newest first; every filter is backed by an index."""
    stmt = select(AuditEvent).order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
    if flt.actor:
        stmt = stmt.where(AuditEvent.actor_name == flt.actor)
    if flt.organization:
        stmt = stmt.where(AuditEvent.organization_id == organization_id_by_code(flt.organization))
    if flt.object_type:
        stmt = stmt.where(AuditEvent.object_type == flt.object_type)
    if flt.object_id:
        stmt = stmt.where(AuditEvent.object_id == flt.object_id)
    if flt.action:
        stmt = stmt.where(AuditEvent.action == flt.action)
    if flt.since:
        stmt = stmt.where(AuditEvent.occurred_at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEvent.occurred_at < flt.until)
    return stmt


def user_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(
        session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc()))
    )


def active_throttles(session: Session, now: datetime, limit: int = 500) -> list[LoginThrottle]:
    """Throttles that hold a client back now, longest first, then those counting failures."""
    return list(session.scalars(
        select(LoginThrottle).order_by(LoginThrottle.blocked_until.desc().nulls_last(),
                                       LoginThrottle.last_failure_at.desc()).limit(limit)
    ))  # fmt: skip


def user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def user_list(q: str | None = None) -> Select[tuple[User]]:
    # The join that sorts and filters by organization also fills each user's organization (no second join).
    stmt = (
        select(User)
        .join(User.organization)
        .options(contains_eager(User.organization))
        .order_by(Organization.code, User.username)
    )
    if q:
        pattern = f"%{q.strip()}%"
        stmt = stmt.where(
            or_(User.username.ilike(pattern), User.display_name.ilike(pattern), Organization.code.ilike(pattern))
        )
    return stmt
