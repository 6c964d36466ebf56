"""State changes of organizations and users. Each takes the session and the acting user, flushes, and
leaves the commit to its caller."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts import ldap, queries, sessions, tokens
from accounts.audit import record_event, record_events, snapshot
from accounts.choices import AUTH_SOURCE_LABELS, ROLE_ORG_KINDS, AuthSource, OrgKind, Role
from accounts.ldap import MAX_USERNAME_LENGTH, LdapSettings
from accounts.models import ApiToken, LoginThrottle, Organization, User
from accounts.passwords import hash_password, needs_rehash, password_policy_error, verify_password
from accounts.permissions import DIRECTORY, Action
from accounts.validators import division_error, normalize_code, normalize_uscc, org_code_error, uscc_error
from core import policy
from core.db import bulk_insert, chunks, utcnow
from core.errors import DomainError, PermissionDenied, ValidationFailed
from core.messages import Message
from core.messages import message as _l

log = logging.getLogger(__name__)

ORGANIZATION_FIELDS = (
    "kind", "code", "name", "name_en", "uscc", "division_code", "address",
    "contact_name", "contact_phone", "contact_email", "nature", "industry", "above_designated_size",
)  # fmt: skip


class AuthenticationFailed(DomainError):
    code = "authentication_failed"
    status = 401


class SignInThrottled(AuthenticationFailed):
    code = "sign_in_throttled"
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
    elif existing is not None and kind != existing.kind:
        # Every member's role must fit the new kind (a carrier-role user cannot stay in an enterprise).
        misfits = [u.username for u in existing.users if kind not in {k.value for k in ROLE_ORG_KINDS[Role(u.role)]}]
        if misfits:
            add("kind", _l("%(names)s cannot keep their roles in a %(kind)s; change their accounts first.",
                           names=", ".join(sorted(misfits)[:5]), kind=OrgKind(kind).label))  # fmt: skip
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
    policy.require(actor, Action.MANAGE_ORGANIZATIONS)
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
    policy.require(actor, Action.MANAGE_ORGANIZATIONS, org)
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


def verify_organization(session: Session, org: Organization, *, actor: Any) -> Organization:
    """Confirm that a holder a carrier's import named is who the records say: a regulator, or the carrier whose
    import named it (``queries.holder_origin``). Verifying a verified organization changes nothing."""
    policy.require(actor, Action.VERIFY_ORGANIZATION, queries.holder_origin(session, org))
    if org.verified:
        return org
    before = snapshot(org)
    org.verified = True
    session.flush()
    record_event(
        session, actor=actor, action="organization.verify", object_type="organization", object_id=org.code,
        organization_id=org.id, before=before, after=snapshot(org),
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
    policy.require(actor, Action.MANAGE_USERS)
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
    """Failed sign-ins are throttled per (account, client): ``max_failures`` are free, then each further one
    makes that client wait, twice as long each time from ``first_delay`` up to ``lockout``."""

    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    first_delay: timedelta = timedelta(seconds=30)

    def delay_after(self, failures: int) -> timedelta | None:
        if failures < self.max_failures:
            return None
        return min(self.first_delay * 2 ** min(failures - self.max_failures, 20), self.lockout)


# A client's failures are forgotten a day after its last one.
FAILURES_FORGOTTEN_AFTER = timedelta(hours=24)


def client_key(device: str | None, address: str | None) -> str:
    """Who is signing in, for throttling: the device that signed in to this account before, else the address."""
    return f"device:{device}" if device else f"address:{address or 'unknown'}"[:80]


def client_summary(client: str) -> Message:
    """A client (``client_key``) as the trail's readers read it, in their language."""
    kind, _sep, value = client.partition(":")
    if kind == "device":
        return _l("from a browser that signed in to this account before (%(device)s)", device=value[:8])
    return _l("from the address %(address)s", address=value)


def sign_in(
    session: Session,
    username: str,
    password: str,
    *,
    client: str,
    directory: LdapSettings | None = None,
    policy_: LoginPolicy | None = None,
) -> User:
    """Sign in with a local password, or with the directory for accounts that are not local.

    Local accounts come first, so a break-glass local administrator works while the directory is down. Every
    refusal looks the same from outside and is recorded; repeated failures from one client slow that client
    down (``client``, see ``client_key``), never anybody else.
    """
    rules = policy_ or LoginPolicy()
    username = username.strip()[:MAX_USERNAME_LENGTH]
    # Directories match names without regard to case; so do throttles and directory accounts here, so that
    # "Alice" is neither a fresh account nor a fresh set of guesses for "alice".
    login_key = username.casefold()[:64]
    user = session.scalar(select(User).where(User.username == username, User.auth_source == AuthSource.LOCAL.value))
    if user is None:
        user = session.scalar(
            select(User).where(User.username == username.lower(), User.auth_source == AuthSource.LDAP.value)
        )
    attempt = _Attempt(session, login_key, client, user, rules)
    attempt.refuse_if_throttled()
    if user is not None and user.auth_source == AuthSource.LOCAL.value:
        ok = verify_password(user.password_hash, password) if password else False
        if not ok or not user.active:
            attempt.failed()
        assert user.password_hash is not None
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
    elif directory is not None:
        user = _sign_in_with_directory(session, directory, username, password, attempt)
    else:
        verify_password(None, password)  # same work, same time, as for a real account
        attempt.failed()
    attempt.succeeded()
    user.last_login_at = utcnow()
    record_event(
        session, actor=user, action="auth.login", object_type="user", object_id=user.username,
        organization_id=user.organization_id, summary=AUTH_SOURCE_LABELS[AuthSource(user.auth_source)],
    )  # fmt: skip
    session.flush()
    return user


@dataclass
class _Attempt:
    """One sign-in attempt of ``account`` from ``client`` and the throttle it answers to."""

    session: Session
    account: str
    client: str
    user: User | None
    rules: LoginPolicy

    def _row(self) -> LoginThrottle | None:
        return self.session.get(LoginThrottle, (self.account, self.client))

    def refuse_if_throttled(self) -> None:
        row = self._row()
        now = utcnow()
        if row is not None and row.blocked_until is not None and row.blocked_until > now:
            log.info("sign-in throttled: account=%s client=%s failures=%d", self.account, self.client, row.failures)
            raise SignInThrottled(
                _l("Too many failed sign-ins from here; please wait %(seconds)d seconds and try again.",
                   seconds=max(1, int((row.blocked_until - now).total_seconds()) + 1))
            )  # fmt: skip

    def failed(self, message: Message | None = None) -> NoReturn:
        now = utcnow()
        row = self._row()
        if row is None:
            # Two failures at once may both find no row: the savepoint lets the second one count on the first's.
            savepoint = self.session.begin_nested()
            try:
                row = LoginThrottle(account=self.account, client=self.client, failures=0, last_failure_at=now)
                self.session.add(row)
                self.session.flush()
                savepoint.commit()
            except IntegrityError:
                savepoint.rollback()
                row = self._row()
                assert row is not None
        if row.last_failure_at < now - FAILURES_FORGOTTEN_AFTER:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        delay = self.rules.delay_after(row.failures)
        row.blocked_until = now + delay if delay is not None else None
        record_event(
            self.session, actor=None, action="auth.login_failed", object_type="user", object_id=self.account,
            organization_id=self.user.organization_id if self.user else None, summary=client_summary(self.client),
        )  # fmt: skip
        self.session.flush()
        raise AuthenticationFailed(message or _l("Wrong username or password."))

    def succeeded(self) -> None:
        row = self._row()
        if row is not None:
            self.session.delete(row)


def clear_throttle(session: Session, account: str, client: str, *, actor: User | None) -> None:
    """An administrator lets a throttled client try again at once."""
    policy.require(actor, Action.MANAGE_USERS)
    row = session.get(LoginThrottle, (account, client))
    if row is None:
        return
    record_event(
        session, actor=actor, action="auth.throttle_clear", object_type="user", object_id=account,
        organization_id=None, before={"failures": row.failures, "client": client}, summary=client_summary(client),
    )  # fmt: skip
    session.delete(row)
    session.flush()


def _sign_in_with_directory(
    session: Session, directory: LdapSettings, username: str, password: str, attempt: _Attempt
) -> User:
    user = attempt.user
    try:
        account = ldap.authenticate(directory, username, password)
    except ldap.DirectoryRefused:
        attempt.failed()
    role = ldap.role_for(directory, account)
    if role is None:
        attempt.failed(_l("Your directory account is not in a v6beian group; ask your administrator for access."))
    organization = queries.organization_by_code(session, directory.organization)
    if organization is None:
        log.error("directory sign-in refused: LDAP_ORG names no organization (%s)", directory.organization)
        raise ldap.DirectoryMisconfigured(
            _l("Directory sign-in is not set up correctly; please tell your administrator (LDAP_ORG).")
        )
    if user is None:
        if session.scalar(select(User.id).where(User.username == account.username.lower())) is not None:
            attempt.failed()  # a local account has this name; never merge the two
        user = User(username=account.username.lower(), auth_source=AuthSource.LDAP.value, password_hash=None, active=True,
                    display_name=account.display_name, email=account.email, organization=organization, role=role)  # fmt: skip
        session.add(user)
        session.flush()
        record_event(
            session, actor=DIRECTORY, action="user.create", object_type="user", object_id=user.username,
            organization_id=organization.id, after=snapshot(user), summary=_l("from the directory"),
        )  # fmt: skip
    else:
        if not user.active:
            attempt.failed()
        user.organization = organization
        _follow_directory(session, user, account, role)
    return user


def _follow_directory(session: Session, user: User, account: ldap.DirectoryAccount, role: str) -> None:
    """The directory is the truth for directory accounts: groups decide the role, at every sign-in and every
    recheck; name and e-mail follow too. A change is audited."""
    before = snapshot(user)
    user.role, user.display_name, user.email = role, account.display_name, account.email
    session.flush()
    if snapshot(user) != before:
        record_event(
            session, actor=DIRECTORY, action="user.update", object_type="user", object_id=user.username,
            organization_id=user.organization_id, before=before, after=snapshot(user), summary=_l("from the directory"),
        )  # fmt: skip


def record_logout(session: Session, user: User) -> None:
    record_event(
        session, actor=user, action="auth.logout", object_type="user", object_id=user.username,
        organization_id=user.organization_id,
    )  # fmt: skip
    session.flush()


# --- passwords and account state -------------------------------------------------------------------------


def change_password(
    session: Session, user: User, *, current: str, new: str, actor: User, keep_session: str | None = None
) -> User:
    """A local user changes their own password (the current one is required). Every other session of the user
    ends; ``keep_session`` (the secret of the one the change was made in) stays signed in."""
    if actor.id != user.id:
        raise PermissionDenied(_l("You do not have permission to do that."))
    if user.auth_source != AuthSource.LOCAL.value:
        raise ValidationFailed.on("new", _l("Directory accounts change their password in the directory."))
    if not verify_password(user.password_hash, current):
        raise ValidationFailed.on("current", _l("The current password is wrong."))
    _set_password(session, user, new, actor, "user.password_change", keep_session)
    return user


def reset_password(session: Session, user: User, *, new: str, actor: User | None) -> User:
    """A regulator administrator sets a new password for a local account."""
    policy.require(actor, Action.MANAGE_USERS)
    if user.auth_source != AuthSource.LOCAL.value:
        raise ValidationFailed.on("new", _l("Directory accounts change their password in the directory."))
    _set_password(session, user, new, actor, "user.password_reset")
    return user


# Why sessions end when a password changes, by the audited action.
PASSWORD_REASONS = {
    "user.password_change": _l("%(n)d sessions ended: the password was changed"),
    "user.password_reset": _l("%(n)d sessions ended: the password was reset"),
}


def _set_password(
    session: Session, user: User, new: str, actor: User | None, action: str, keep_session: str | None = None
) -> None:
    problem = password_policy_error(new, user.username)
    if problem is not None:
        raise ValidationFailed.on("new", problem)
    user.password_hash = hash_password(new)
    # Tokens made before the change stop working (``authenticate_token``); sessions end now.
    user.credentials_changed_at = utcnow()
    end_user_sessions(session, user, actor=actor, reason=PASSWORD_REASONS[action], keep=keep_session)
    record_event(
        session, actor=actor, action=action, object_type="user", object_id=user.username,
        organization_id=user.organization_id,
    )  # fmt: skip
    session.flush()


def set_user_active(session: Session, user: User, *, active: bool, actor: User | None) -> None:
    """Deactivate (or reactivate) an account; a deactivated account cannot sign in or use its tokens."""
    policy.require(actor, Action.MANAGE_USERS)
    if actor is not None and actor.id == user.id and not active:
        raise ValidationFailed(_l("You cannot deactivate your own account."))
    before = snapshot(user)
    user.active = active
    session.flush()
    if not active:
        # Reactivating an account later revives none of these: it starts with no session and no token.
        end_user_sessions(session, user, actor=actor, reason=_l("%(n)d sessions ended: the account was deactivated"))
        for token in session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        ):
            revoke_token(session, token, actor=actor)
    if snapshot(user) != before:
        record_event(
            session, actor=actor, action="user.activate" if active else "user.deactivate", object_type="user",
            object_id=user.username, organization_id=user.organization_id, before=before, after=snapshot(user),
        )  # fmt: skip


# --- API tokens ------------------------------------------------------------------------------------------

MAX_TOKEN_DAYS = 366


def create_token(
    session: Session, user: User, *, name: str, days: int, read_only: bool, actor: User | None
) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns it with its secret, which is shown once and never stored. Users make
    their own; the operator of the machine (``OPERATOR``, the CLI) makes them for scripts."""
    if actor is None or (actor.id != user.id and not policy.can(actor, Action.ISSUE_TOKENS)):
        raise PermissionDenied(_l("You do not have permission to do that."))
    if not user.active:
        raise ValidationFailed.on("username", _l("%(name)s is deactivated and cannot have tokens.", name=user.username))
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


def revoke_token(session: Session, token: ApiToken, *, actor: User | None) -> None:
    if actor is None or (token.user_id != actor.id and not policy.can(actor, Action.MANAGE_USERS)):
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


# --- server-side sessions --------------------------------------------------------------------------------


def open_session(
    session: Session, user: User, *, rules: sessions.SessionRules, remote_addr: str | None, user_agent: str | None
) -> str:
    """A new signed-in session for ``user``; returns the secret for the cookie (only its hash is kept)."""
    secret, now = sessions.new_secret(), utcnow()
    directory = now if user.auth_source == AuthSource.LDAP.value else None
    sessions.store().add(session, sessions.SessionRecord(
        key=sessions.secret_key(secret), user_id=user.id, created_at=now, last_seen_at=now,
        expires_at=now + rules.lifetime, directory_verified_at=directory, directory_checked_at=directory,
        remote_addr=remote_addr, user_agent=(user_agent or "")[:200] or None,
    ))  # fmt: skip
    return secret


def end_session(session: Session, secret: str) -> None:
    sessions.store().remove(session, [sessions.secret_key(secret)])


def end_user_sessions(
    session: Session, user: User, *, actor: Any, reason: Message | str, keep: str | None = None
) -> int:
    """End every session of ``user`` (but the one whose secret is ``keep``); returns how many ended. ``reason``: a
    message with ``%(n)d`` for how many (or plain text, put beside the number)."""
    if actor is None or actor.id != user.id:
        policy.require(actor, Action.MANAGE_USERS)
    kept = sessions.secret_key(keep) if keep else None
    keys = [record.key for record in sessions.store().of_user(session, user.id) if record.key != kept]
    sessions.store().remove(session, keys)
    if keys:
        record_event(
            session, actor=actor, action="user.sessions_end", object_type="user", object_id=user.username,
            organization_id=user.organization_id, summary=_sessions_ended(reason, len(keys)),
        )  # fmt: skip
        session.flush()
    return len(keys)


def _sessions_ended(reason: Message | str, n: int) -> Message | str:
    return reason.params_with(n=n) if isinstance(reason, Message) else f"{n} ({reason})"


def resume_session(
    session: Session, secret: str, user_id: int, *, rules: sessions.SessionRules, directory: LdapSettings | None
) -> User | None:
    """The user a session cookie stands for, or None once the session has ended (logged out, revoked, idle,
    too old, the user deactivated, or a directory user no longer in a v6beian group)."""
    store, key, now = sessions.store(), sessions.secret_key(secret), utcnow()
    record = store.get(session, key)
    if record is None or record.user_id != user_id:
        return None
    if not rules.alive(record, now):
        store.remove(session, [key])
        return None
    user = session.get(User, user_id)
    if user is None or not user.active:
        return None
    changes: dict[str, Any] = {}
    if user.auth_source == AuthSource.LDAP.value and directory is not None:
        outcome = _recheck_directory_user(session, user, record, directory, now)
        if outcome is None:
            store.remove(session, [key])
            return None
        changes |= outcome
    if now - record.last_seen_at >= sessions.TOUCH_INTERVAL or changes:
        store.touch(session, key, last_seen_at=now, **changes)
    return user


def _recheck_directory_user(
    session: Session, user: User, record: sessions.SessionRecord, directory: LdapSettings, now: Any
) -> dict[str, Any] | None:
    """Read a signed-in directory user's groups again when they are due. Returns the session fields to update,
    or None when the session must end. While the directory cannot be reached the session goes on for one more
    interval (tried again each minute), then ends: an unverifiable directory account does not stay in."""
    interval = timedelta(minutes=directory.recheck_minutes)
    verified = record.directory_verified_at or record.created_at
    checked = record.directory_checked_at or verified
    if now - verified < interval or now - checked < timedelta(minutes=1):
        return {}
    try:
        account = ldap.lookup(directory, user.username)
    except ldap.DirectoryUnavailable:
        if now - verified >= 2 * interval:
            log.warning("session of %s ended: the directory could not confirm its groups", user.username)
            return None
        return {"directory_checked_at": now}
    role = ldap.role_for(directory, account) if account is not None else None
    if account is None or role is None:
        end_user_sessions(
            session, user, actor=DIRECTORY, reason=_l("%(n)d sessions ended: no longer in a v6beian directory group")
        )
        return None
    _follow_directory(session, user, account, role)
    return {"directory_verified_at": now, "directory_checked_at": now}


@dataclass(frozen=True)
class NamedHolder:
    """An organization a carrier's records name that nobody knew: created unverified, as an enterprise."""

    code: str
    name: str
    uscc: str | None = None
    division_code: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None


def create_named_holders(session: Session, holders: Sequence[NamedHolder], *, actor: Any,
                         named_by: Organization) -> dict[str, int]:  # fmt: skip
    """Create many unverified enterprises at once (a carrier's import names them); returns their ids by code.
    A regulator verifies them later; until then they are what the carrier said."""
    now = utcnow()
    columns = ["kind", "code", "name", "uscc", "division_code", "contact_name", "contact_phone", "contact_email",
               "verified", "created_at", "updated_at"]  # fmt: skip
    bulk_insert(session, Organization.__table__, columns, [
        (OrgKind.ENTERPRISE.value, h.code, (h.name or h.code)[:200], h.uscc, h.division_code, _cut(h.contact_name, 100),
         _cut(h.contact_phone, 40), _cut(h.contact_email, 254), False, now, now)
        for h in holders
    ])  # fmt: skip
    ids: dict[str, int] = {}
    for chunk in chunks([h.code for h in holders], 500):
        ids.update(
            session.execute(select(Organization.code, Organization.id).where(Organization.code.in_(chunk))).all()
        )
    record_events(
        session, actor=actor, object_type="organization", summary=_l("named by %(carrier)s in an import", carrier=named_by.code),
        events=[("organization.create", h.code, ids[h.code], {"name": [None, h.name], "verified": [None, False]})
                for h in holders],
    )  # fmt: skip
    return ids


def _cut(value: str | None, length: int) -> str | None:
    return value[:length] if value else None
