"""State changes of organizations and users. Each takes the session and the acting user, flushes, and
leaves the commit to its caller."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts import ldap, policy, tokens
from accounts.audit import record_event, snapshot
from accounts.choices import ROLE_ORG_KINDS, AuthSource, OrgKind, Role
from accounts.ldap import MAX_USERNAME_LENGTH, LdapSettings
from accounts.models import ApiToken, AuditEvent, Organization, User
from accounts.passwords import hash_password, needs_rehash, password_policy_error, verify_password
from accounts.validators import division_error, normalize_code, normalize_uscc, org_code_error, uscc_error
from core.db import utcnow
from core.errors import DomainError, Message, PermissionDenied, ValidationFailed

log = logging.getLogger(__name__)

ORGANIZATION_FIELDS = (
    "kind", "code", "name", "name_en", "uscc", "division_code", "address",
    "contact_name", "contact_phone", "contact_email",
)  # fmt: skip


class AuthenticationFailed(DomainError):
    code = "authentication_failed"
    status = 401


class AccountLocked(AuthenticationFailed):
    code = "account_locked"
    status = 429


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
        cleaned["code"] = normalize_code(cleaned["code"])
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


@dataclass(frozen=True)
class LoginPolicy:
    """How many failed sign-ins lock an account, and for how long."""

    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)


def sign_in(
    session: Session,
    username: str,
    password: str,
    *,
    directory: LdapSettings | None = None,
    policy_: LoginPolicy | None = None,
) -> User:
    """Sign in with a local password, or with the directory for accounts that are not local.

    Local accounts come first, so a break-glass local administrator works while the directory is down. Every
    refusal looks the same from outside and is recorded; repeated failures lock the account for a while.
    """
    rules = policy_ or LoginPolicy()
    username = username.strip()[:MAX_USERNAME_LENGTH]
    # Directories match names without regard to case; so do lockout and directory accounts here, so that
    # "Alice" is neither a fresh account nor a fresh set of guesses for "alice".
    login_key = username.casefold()[:64]
    user = session.scalar(select(User).where(User.username == username, User.auth_source == AuthSource.LOCAL.value))
    if user is None:
        user = session.scalar(
            select(User).where(User.username == username.lower(), User.auth_source == AuthSource.LDAP.value)
        )
    _refuse_if_locked(session, login_key, user, rules)
    if user is not None and user.auth_source == AuthSource.LOCAL.value:
        ok = verify_password(user.password_hash, password) if password else False
        if not ok or not user.active:
            _failed(session, login_key, user)
        assert user.password_hash is not None
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
    elif directory is not None:
        user = _sign_in_with_directory(session, directory, username, password, user, login_key)
    else:
        verify_password(None, password)  # same work, same time, as for a real account
        _failed(session, login_key, None)
    user.last_login_at = utcnow()
    record_event(
        session, actor=user, action="auth.login", object_type="user", object_id=user.username,
        organization_id=user.organization_id, summary=user.auth_source,
    )  # fmt: skip
    session.flush()
    return user


def _failed(session: Session, username: str, user: User | None, message: Message | None = None) -> NoReturn:
    record_event(
        session, actor=None, action="auth.login_failed", object_type="user", object_id=username[:64],
        organization_id=user.organization_id if user else None,
    )  # fmt: skip
    session.flush()
    raise AuthenticationFailed(message or _l("Wrong username or password."))


def _refuse_if_locked(session: Session, username: str, user: User | None, rules: LoginPolicy) -> None:
    since = utcnow() - rules.lockout
    if user is not None and user.last_login_at is not None and user.last_login_at > since:
        since = user.last_login_at
    failures = session.scalar(
        select(func.count()).where(
            AuditEvent.object_type == "user",
            AuditEvent.object_id == username[:64],
            AuditEvent.action == "auth.login_failed",
            AuditEvent.occurred_at > since,
        )
    )
    if (failures or 0) >= rules.max_failures:
        record_event(
            session, actor=None, action="auth.login_locked", object_type="user", object_id=username[:64],
            organization_id=user.organization_id if user else None,
        )  # fmt: skip
        session.flush()
        raise AccountLocked(
            _l("Too many failed sign-ins; this account is locked for %(minutes)d minutes.",
               minutes=int(rules.lockout.total_seconds() // 60))
        )  # fmt: skip


def _sign_in_with_directory(
    session: Session, directory: LdapSettings, username: str, password: str, user: User | None, login_key: str
) -> User:
    try:
        account = ldap.authenticate(directory, username, password)
    except ldap.DirectoryRefused:
        _failed(session, login_key, user)
    role = ldap.role_for(directory, account)
    if role is None:
        _failed(session, login_key, user, _l(
            "Your directory account is not in a v6beian group; ask your administrator for access."))  # fmt: skip
    organization = session.scalar(select(Organization).where(Organization.code == directory.organization))
    if organization is None:
        log.error("directory sign-in refused: LDAP_ORG names no organization (%s)", directory.organization)
        raise ldap.DirectoryMisconfigured(
            _l("Directory sign-in is not set up correctly; please tell your administrator (LDAP_ORG).")
        )
    if user is None:
        if session.scalar(select(User.id).where(User.username == account.username.lower())) is not None:
            _failed(session, login_key, None)  # a local account has this name; never merge the two
        user = User(username=account.username.lower(), auth_source=AuthSource.LDAP.value, password_hash=None, active=True,
                    display_name=account.display_name, email=account.email, organization=organization, role=role)  # fmt: skip
        session.add(user)
        session.flush()
        record_event(
            session, actor=None, action="user.create", object_type="user", object_id=user.username,
            organization_id=organization.id, after=snapshot(user), summary="from the directory",
        )  # fmt: skip
    else:
        if not user.active:
            _failed(session, login_key, user)
        before = snapshot(user)
        # The directory is the truth for directory accounts: groups decide the role at every sign-in.
        user.role, user.display_name, user.email, user.organization = (
            role,
            account.display_name,
            account.email,
            organization,
        )
        session.flush()
        if snapshot(user) != before:
            record_event(
                session, actor=None, action="user.update", object_type="user", object_id=user.username,
                organization_id=organization.id, before=before, after=snapshot(user), summary="from the directory",
            )  # fmt: skip
    return user


def record_logout(session: Session, user: User) -> None:
    record_event(
        session, actor=user, action="auth.logout", object_type="user", object_id=user.username,
        organization_id=user.organization_id,
    )  # fmt: skip
    session.flush()


# --- passwords and account state -------------------------------------------------------------------------


def change_password(session: Session, user: User, *, current: str, new: str, actor: User) -> User:
    """A local user changes their own password (the current one is required)."""
    if actor.id != user.id:
        raise PermissionDenied(_l("You do not have permission to do that."))
    if user.auth_source != AuthSource.LOCAL.value:
        raise ValidationFailed.on("new", _l("Directory accounts change their password in the directory."))
    if not verify_password(user.password_hash, current):
        raise ValidationFailed.on("current", _l("The current password is wrong."))
    _set_password(session, user, new, actor, "user.password_change")
    return user


def reset_password(session: Session, user: User, *, new: str, actor: User | None) -> User:
    """A regulator administrator sets a new password for a local account."""
    policy.require(actor, policy.Action.MANAGE_USERS)
    if user.auth_source != AuthSource.LOCAL.value:
        raise ValidationFailed.on("new", _l("Directory accounts change their password in the directory."))
    _set_password(session, user, new, actor, "user.password_reset")
    return user


def _set_password(session: Session, user: User, new: str, actor: User | None, action: str) -> None:
    problem = password_policy_error(new, user.username)
    if problem is not None:
        raise ValidationFailed.on("new", problem)
    user.password_hash = hash_password(new)
    # Sessions signed before the change stop working (see the user loader).
    user.credentials_changed_at = utcnow()
    record_event(
        session, actor=actor, action=action, object_type="user", object_id=user.username,
        organization_id=user.organization_id,
    )  # fmt: skip
    session.flush()


def set_user_active(session: Session, user: User, *, active: bool, actor: User | None) -> None:
    """Deactivate (or reactivate) an account; a deactivated account cannot sign in or use its tokens."""
    policy.require(actor, policy.Action.MANAGE_USERS)
    if actor is not None and actor.id == user.id and not active:
        raise ValidationFailed(_l("You cannot deactivate your own account."))
    before = snapshot(user)
    user.active = active
    session.flush()
    if snapshot(user) != before:
        record_event(
            session, actor=actor, action="user.activate" if active else "user.deactivate", object_type="user",
            object_id=user.username, organization_id=user.organization_id, before=before, after=snapshot(user),
        )  # fmt: skip


# --- API tokens ------------------------------------------------------------------------------------------

MAX_TOKEN_DAYS = 366


def create_token(
    session: Session, user: User, *, name: str, days: int, read_only: bool, actor: User
) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns it with its secret, which is shown once and never stored."""
    if actor.id != user.id:
        raise PermissionDenied(_l("You do not have permission to do that."))
    errors: dict[str, list[Message]] = {}
    if not name.strip() or len(name) > 100:
        errors["name"] = [_l("Give the token a name of up to 100 characters.")]
    if not 1 <= days <= MAX_TOKEN_DAYS:
        errors["days"] = [_l("Between 1 and %(n)d days.", n=MAX_TOKEN_DAYS)]
    if errors:
        raise ValidationFailed(_l("The token could not be created."), fields=errors)
    secret = tokens.new_secret()
    token = ApiToken(
        user_id=user.id, name=name.strip(), prefix=secret[:12], secret_hash=tokens.secret_hash(secret),
        read_only=read_only, expires_at=utcnow() + timedelta(days=days),
    )  # fmt: skip
    session.add(token)
    session.flush()
    record_event(
        session, actor=actor, action="token.create", object_type="token", object_id=token.prefix,
        organization_id=user.organization_id, after=snapshot(token),
    )  # fmt: skip
    return token, secret


def revoke_token(session: Session, token: ApiToken, *, actor: User) -> None:
    if token.user_id != actor.id and not policy.can(actor, policy.Action.MANAGE_USERS):
        raise PermissionDenied(_l("You do not have permission to do that."))
    if token.revoked_at is not None:
        return
    before = snapshot(token)
    token.revoked_at = utcnow()
    session.flush()
    record_event(
        session, actor=actor, action="token.revoke", object_type="token", object_id=token.prefix,
        organization_id=token.user.organization_id, before=before, after=snapshot(token),
    )  # fmt: skip


TOKEN_USE_RECORD_INTERVAL = timedelta(minutes=1)


def authenticate_token(session: Session, secret: str, remote_addr: str | None) -> ApiToken | None:
    """The usable token with this secret, or None. Use is recorded (and audited) at most once a minute per
    token, so reading the API does not turn every request into a write."""
    if not tokens.looks_like_token(secret):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.secret_hash == tokens.secret_hash(secret)))
    now = utcnow()
    if token is None or not token.usable_at(now) or not token.user.active:
        return None
    changed = token.user.credentials_changed_at
    if changed is not None and token.created_at < changed:
        return None  # a password change or reset ends the tokens made before it, like the sessions
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_USE_RECORD_INTERVAL:
        token.last_used_at, token.last_used_addr = now, remote_addr
        record_event(
            session, actor=token.user, action="token.use", object_type="token", object_id=token.prefix,
            organization_id=token.user.organization_id,
        )  # fmt: skip
    return token
