"""Sign-in against the regulator's directory (LDAP / Active Directory) with ldap3.

Search the account with the service account (the username escaped per RFC 4515), require exactly one entry,
bind as that entry with the given password, then read name, e-mail and group membership. Only this module
talks to the directory; it knows nothing of Flask or the database.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from ldap3 import FIRST, NONE, SUBTREE, Connection, Server, ServerPool, Tls
from ldap3.core.exceptions import LDAPException, LDAPSocketOpenError, LDAPStartTLSError
from ldap3.utils.conv import escape_filter_chars

from core.errors import DomainError

log = logging.getLogger(__name__)

MAX_USERNAME_LENGTH = 256


class DirectoryUnavailable(DomainError):
    code = "directory_unavailable"
    status = 503


class DirectoryRefused(DomainError):
    """Wrong password, unknown account, or anything else that must look the same from outside."""

    code = "authentication_failed"
    status = 401


@dataclass(frozen=True)
class LdapSettings:
    urls: tuple[str, ...]
    user_base: str
    user_filter: str = "(uid={username})"
    bind_dn: str | None = None
    bind_password: str | None = None
    starttls: bool = False
    ca_file: str | None = None
    attr_name: str = "cn"
    attr_email: str = "mail"
    group_regulator: str | None = None
    group_admin: str | None = None
    organization: str = "tjca"
    timeout: int = 5

    @classmethod
    def from_config(cls, config: Any) -> LdapSettings | None:
        """None when no directory is configured (the LDAP sign-in is then not offered)."""
        urls = tuple(u for u in str(config.get("LDAP_URL") or "").replace(",", " ").split() if u)
        if not urls:
            return None
        return cls(
            urls=urls,
            user_base=config.get("LDAP_USER_BASE") or "",
            user_filter=config.get("LDAP_USER_FILTER") or "(uid={username})",
            bind_dn=config.get("LDAP_BIND_DN") or None,
            bind_password=config.get("LDAP_BIND_PASSWORD") or None,
            starttls=bool(config.get("LDAP_STARTTLS")),
            ca_file=config.get("LDAP_CA_FILE") or None,
            attr_name=config.get("LDAP_ATTR_NAME") or "cn",
            attr_email=config.get("LDAP_ATTR_EMAIL") or "mail",
            group_regulator=config.get("LDAP_GROUP_REGULATOR") or None,
            group_admin=config.get("LDAP_GROUP_ADMIN") or None,
            organization=config.get("LDAP_ORG") or "tjca",
            timeout=max(1, int(config.get("LDAP_TIMEOUT") or 5)),
        )


@dataclass(frozen=True)
class DirectoryAccount:
    dn: str
    username: str
    display_name: str
    email: str | None
    groups: frozenset[str]


def _refused() -> DirectoryRefused:
    return DirectoryRefused(_l("Wrong username or password."))


def _unavailable() -> DirectoryUnavailable:
    return DirectoryUnavailable(_l("The directory is unavailable; please try again later."))


def _pool(settings: LdapSettings) -> ServerPool:
    tls = None
    if settings.ca_file or any(u.startswith("ldaps://") for u in settings.urls) or settings.starttls:
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=settings.ca_file)
    servers = [
        Server(
            url, use_ssl=url.lower().startswith("ldaps://"), tls=tls, connect_timeout=settings.timeout, get_info=NONE
        )
        for url in settings.urls
    ]
    # One round over the servers in order: the first that answers serves the sign-in.
    return ServerPool(servers, FIRST, active=1, exhaust=False)


def _connect(settings: LdapSettings, pool: ServerPool, user: str | None, password: str | None) -> Connection:
    connection = Connection(
        pool, user=user, password=password, receive_timeout=settings.timeout, raise_exceptions=False,
        read_only=True, auto_bind=False,
    )  # fmt: skip
    try:
        connection.open()
        if settings.starttls:
            connection.start_tls()
    except (LDAPSocketOpenError, LDAPStartTLSError) as exc:
        log.warning("directory unreachable: %s", type(exc).__name__)
        raise _unavailable() from None
    except LDAPException as exc:
        log.warning("directory error while connecting: %s", type(exc).__name__)
        raise _unavailable() from None
    return connection


def authenticate(settings: LdapSettings, username: str, password: str) -> DirectoryAccount:
    """The directory account for these credentials, or DirectoryRefused / DirectoryUnavailable."""
    # An empty password would make a simple bind "unauthenticated", which many servers accept.
    if not password or not username or len(username) > MAX_USERNAME_LENGTH or "\x00" in username:
        raise _refused()
    pool = _pool(settings)
    service = _connect(settings, pool, settings.bind_dn, settings.bind_password)
    try:
        if (settings.bind_dn or settings.bind_password) and not service.bind():
            log.error("directory service account bind failed: %s", service.result.get("description"))
            raise _unavailable()
        search_filter = settings.user_filter.format(username=escape_filter_chars(username))
        attributes = [settings.attr_name, settings.attr_email, "memberOf"]
        try:
            ok = service.search(settings.user_base, search_filter, SUBTREE, attributes=attributes, size_limit=2)
        except LDAPException as exc:
            log.warning("directory search failed: %s", type(exc).__name__)
            raise _unavailable() from None
        if not ok and service.result.get("result") not in (0, 4, 32):  # success, size limit, no such object
            raise _unavailable()
        entries = list(service.entries)
        if len(entries) != 1:
            raise _refused()
        entry = entries[0]
        dn = entry.entry_dn
        groups = {g.lower() for g in _values(entry, "memberOf")}
    finally:
        service.unbind()

    personal = _connect(settings, pool, dn, password)
    try:
        if not personal.bind():
            raise _refused()
    finally:
        personal.unbind()

    if not groups:
        groups = _groups_by_membership_search(settings, pool, dn)
    names = _values(entry, settings.attr_name)
    emails = _values(entry, settings.attr_email)
    return DirectoryAccount(
        dn=dn, username=username, display_name=names[0] if names else username, email=emails[0] if emails else None,
        groups=frozenset(groups),
    )  # fmt: skip


def _values(entry: Any, attribute: str) -> list[str]:
    if attribute not in entry.entry_attributes:
        return []
    return [str(v) for v in entry[attribute].values]


def _groups_by_membership_search(settings: LdapSettings, pool: ServerPool, dn: str) -> set[str]:
    """Directories without memberOf: ask each configured group whether it lists the user."""
    found: set[str] = set()
    connection = _connect(settings, pool, settings.bind_dn, settings.bind_password)
    try:
        if (settings.bind_dn or settings.bind_password) and not connection.bind():
            raise _unavailable()
        member = escape_filter_chars(dn)
        for group in filter(None, (settings.group_regulator, settings.group_admin)):
            ok = connection.search(group, f"(|(member={member})(uniqueMember={member}))", "BASE", attributes=[])
            if ok and connection.entries:
                found.add(group.lower())
    finally:
        connection.unbind()
    return found


def role_for(settings: LdapSettings, account: DirectoryAccount) -> str | None:
    """regulator-admin, regulator, or None when the account is in neither group."""
    if settings.group_admin and settings.group_admin.lower() in account.groups:
        return "regulator-admin"
    if settings.group_regulator and settings.group_regulator.lower() in account.groups:
        return "regulator"
    return None
