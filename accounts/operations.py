"""State changes of organizations and users. Each takes the session and the acting user, flushes, and
leaves the commit to its caller."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts import policy
from accounts.audit import record_event, snapshot
from accounts.choices import ROLE_ORG_KINDS, AuthSource, OrgKind, Role
from accounts.models import Organization, User
from accounts.passwords import hash_password, needs_rehash, password_policy_error, verify_password
from accounts.validators import division_error, normalize_uscc, org_code_error, uscc_error
from core.db import utcnow
from core.errors import DomainError, Message, ValidationFailed

ORGANIZATION_FIELDS = (
    "kind", "code", "name", "name_en", "uscc", "division_code", "address",
    "contact_name", "contact_phone", "contact_email",
)  # fmt: skip


class AuthenticationFailed(DomainError):
    code = "authentication_failed"
    status = 401


# --- organizations ---------------------------------------------------------------------------------------


def _clean_organization_fields(values: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for name in ORGANIZATION_FIELDS:
        if name not in values:
            continue
        value = values[name]
        if isinstance(value, str):
            value = value.strip() or None
        cleaned[name] = value
    if cleaned.get("uscc"):
        cleaned["uscc"] = normalize_uscc(cleaned["uscc"])
    if cleaned.get("code"):
        cleaned["code"] = cleaned["code"].lower()
    return cleaned


def _validate_organization(session: Session, values: dict[str, Any], existing: Organization | None) -> None:
    errors: dict[str, list[Message]] = {}

    def add(field: str, message: Message | None) -> None:
        if message is not None:
            errors.setdefault(field, []).append(message)

    kind = values.get("kind")
    if kind not in {k.value for k in OrgKind}:
        add("kind", _l("Choose the kind of organization."))
    if not values.get("name"):
        add("name", _l("The Chinese name is required."))
    code = values.get("code")
    if not code:
        add("code", _l("The short code is required."))
    else:
        add("code", org_code_error(code))
        clash = session.scalar(select(Organization.id).where(Organization.code == code))
        if clash is not None and (existing is None or clash != existing.id):
            add("code", _l("The short code %(code)s is already taken.", code=code))
    uscc = values.get("uscc")
    if uscc:
        add("uscc", uscc_error(uscc))
        clash = session.scalar(select(Organization.code).where(Organization.uscc == uscc))
        if clash is not None and (existing is None or clash != existing.code):
            add("uscc", _l("This Unified Social Credit Code is already registered for %(org)s.", org=clash))
    division = values.get("division_code")
    if division:
        add("division_code", division_error(division))
    if errors:
        raise ValidationFailed(_l("The organization could not be saved."), fields=errors)


def create_organization(session: Session, *, actor: User | None, **values: Any) -> Organization:
    policy.require(actor, policy.Action.MANAGE_ORGANIZATIONS)
    cleaned = _clean_organization_fields(values)
    _validate_organization(session, cleaned, existing=None)
    org = Organization(**cleaned)
    session.add(org)
    session.flush()
    record_event(
        session, actor=actor, action="organization.create", object_type="organization", object_id=org.code,
        organization_id=org.id, after=snapshot(org),
    )  # fmt: skip
    return org


def update_organization(session: Session, org: Organization, *, actor: User | None, **values: Any) -> Organization:
    policy.require(actor, policy.Action.MANAGE_ORGANIZATIONS, org)
    before = snapshot(org)
    merged = {**before, **_clean_organization_fields(values)}
    _validate_organization(session, merged, existing=org)
    for name in ORGANIZATION_FIELDS:
        setattr(org, name, merged.get(name))
    session.flush()
    after = snapshot(org)
    if after != before:
        record_event(
            session, actor=actor, action="organization.update", object_type="organization", object_id=org.code,
            organization_id=org.id, before=before, after=after,
        )  # fmt: skip
    return org


# --- users -----------------------------------------------------------------------------------------------


def create_user(
    session: Session,
    *,
    actor: User | None,
    username: str,
    organization: Organization,
    role: str,
    display_name: str | None = None,
    email: str | None = None,
    password: str | None = None,
    auth_source: str = AuthSource.LOCAL.value,
) -> User:
    policy.require(actor, policy.Action.MANAGE_USERS)
    username = username.strip()
    errors: dict[str, list[Message]] = {}
    if not username or len(username) > 64 or not username.isprintable() or " " in username:
        errors["username"] = [_l("A username has 1 to 64 characters and no spaces.")]
    elif session.scalar(select(User.id).where(User.username == username)) is not None:
        errors["username"] = [_l("The username %(name)s is already taken.", name=username)]
    if role not in {r.value for r in Role}:
        errors["role"] = [_l("Choose a role.")]
    elif organization.kind not in {k.value for k in ROLE_ORG_KINDS[Role(role)]}:
        errors["role"] = [
            _l(
                "A %(role)s account cannot belong to a %(kind)s.",
                role=Role(role).label,
                kind=organization.kind_enum.label,
            )
        ]
    if auth_source == AuthSource.LOCAL.value:
        problem = _l("A local account needs a password.") if not password else password_policy_error(password, username)
        if problem is not None:
            errors["password"] = [problem]
    if errors:
        raise ValidationFailed(_l("The account could not be created."), fields=errors)

    user = User(
        username=username,
        display_name=(display_name or username).strip(),
        email=(email or None),
        organization=organization,
        role=role,
        auth_source=auth_source,
        password_hash=hash_password(password) if auth_source == AuthSource.LOCAL.value and password else None,
        active=True,
    )
    session.add(user)
    session.flush()
    record_event(
        session, actor=actor, action="user.create", object_type="user", object_id=user.username,
        organization_id=organization.id, after=snapshot(user),
    )  # fmt: skip
    return user


def authenticate_local(session: Session, username: str, password: str) -> User:
    """The active local account with this username and password; the same error whatever is wrong."""
    user = session.scalar(
        select(User).where(User.username == username.strip(), User.auth_source == AuthSource.LOCAL.value)
    )
    ok = verify_password(user.password_hash if user else None, password) if password else False
    if user is None or not ok or not user.active:
        record_event(
            session, actor=None, action="auth.login_failed", object_type="user", object_id=username[:64],
            organization_id=user.organization_id if user else None,
        )  # fmt: skip
        raise AuthenticationFailed(_l("Wrong username or password."))
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    record_event(
        session, actor=user, action="auth.login", object_type="user", object_id=user.username,
        organization_id=user.organization_id,
    )  # fmt: skip
    session.flush()
    return user


def record_logout(session: Session, user: User) -> None:
    record_event(
        session, actor=user, action="auth.logout", object_type="user", object_id=user.username,
        organization_id=user.organization_id,
    )  # fmt: skip
    session.flush()
