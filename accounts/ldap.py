"""Sign-in against the regulator's directory (LDAP / Active Directory) with ldap3.

Search the account with the service account (the username escaped per RFC 4515), require exactly one entry,
bind as that entry with the given password, then read name, e-mail and group membership. Only this module
talks to the directory; it knows nothing of Flask or the database.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlsplit

from ldap3 import FIRST, NONE, SUBTREE, Connection, Server, ServerPool, Tls, set_config_parameter
from ldap3.core.exceptions import LDAPException, LDAPSocketOpenError, LDAPStartTLSError
from ldap3.utils.conv import escape_filter_chars

from accounts.validators import normalize_code
from core.config import ConfigurationError
from core.errors import DomainError
from core.messages import message as _l

log = logging.getLogger(__name__)
# ldap3 sleeps this long after a round over the servers in which none answered, even when no further round follows:
# a sign-in (or a readiness check) would wait 10 s more to hear that the directory is down.
set_config_parameter("POOLING_LOOP_TIMEOUT", 0)

MAX_USERNAME_LENGTH = 256


class DirectoryUnavailable(DomainError):
    code = "directory_unavailable"
    status = 503


class DirectoryRefused(DomainError):
    """Wrong password, unknown account, or anything else that must look the same from outside."""

    code = "authentication_failed"
    status = 401


class DirectoryMisconfigured(DirectoryUnavailable):
    """The directory settings name something that does not exist (LDAP_ORG); an administrator must fix them."""

    code = "directory_misconfigured"


@dataclass(frozen=True)
class DirectoryServer:
    """One server of LDAP_URL, read by RFC 4516: ``ldap[s]://host[:port][/base-dn[?attributes?scope?filter]]``."""

    host: str
    port: int
    ssl: bool
    base: str = ""

    @property
    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'ldaps' if self.ssl else 'ldap'}://{host}:{self.port}"


def parse_ldap_url(url: str) -> DirectoryServer:
    """The server an LDAP URL names; ``ValueError`` says what is wrong with it. IPv6 literals go in brackets."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("ldap", "ldaps"):
        raise ValueError("it must start with ldap:// or ldaps://")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if not host:
        raise ValueError("it names no host")
    if port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    if parts.fragment or (parts.username or parts.password):
        raise ValueError("user names, passwords and fragments do not belong in an LDAP URL")
    return DirectoryServer(host=host, port=port or (636 if scheme == "ldaps" else 389), ssl=scheme == "ldaps",
                           base=unquote(parts.path.lstrip("/")))  # fmt: skip


@dataclass(frozen=True)
class LdapSettings:
    servers: tuple[DirectoryServer, ...]
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
    recheck_minutes: int = 15

    @classmethod
    def from_config(cls, config: Any) -> LdapSettings | None:
        """None when no directory is configured (the LDAP sign-in is then not offered). A setting that cannot
        work raises ``ConfigurationError`` naming it: the application refuses to start with it."""
        urls = [u for u in str(config.get("LDAP_URL") or "").replace(",", " ").split() if u]
        if not urls:
            return None
        servers = []
        for url in urls:
            try:
                servers.append(parse_ldap_url(url))
            except ValueError as exc:
                raise ConfigurationError(f"LDAP_URL: {url!r} is not a usable LDAP URL: {exc}") from None
        user_filter = config.get("LDAP_USER_FILTER") or "(uid={username})"
        if "{username}" not in user_filter or user_filter.count("(") != user_filter.count(")"):
            raise ConfigurationError(
                f"LDAP_USER_FILTER: {user_filter!r} must be an LDAP filter with {{username}} in it"
            )
        try:
            timeout = int(config.get("LDAP_TIMEOUT") or 5)
        except (TypeError, ValueError):
            raise ConfigurationError("LDAP_TIMEOUT must be a number of seconds") from None
        return cls(
            servers=tuple(servers),
            user_base=config.get("LDAP_USER_BASE") or servers[0].base,
            user_filter=user_filter,
            bind_dn=config.get("LDAP_BIND_DN") or None,
            bind_password=config.get("LDAP_BIND_PASSWORD") or None,
            starttls=bool(config.get("LDAP_STARTTLS")),
            ca_file=config.get("LDAP_CA_FILE") or None,
            attr_name=config.get("LDAP_ATTR_NAME") or "cn",
            attr_email=config.get("LDAP_ATTR_EMAIL") or "mail",
            group_regulator=config.get("LDAP_GROUP_REGULATOR") or None,
            group_admin=config.get("LDAP_GROUP_ADMIN") or None,
            organization=normalize_code(str(config.get("LDAP_ORG") or "tjca")),
            timeout=max(1, timeout),
            recheck_minutes=max(1, int(config.get("LDAP_RECHECK_MINUTES") or 15)),
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
    if settings.ca_file or any(s.ssl for s in settings.servers) or settings.starttls:
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=settings.ca_file)
    servers = [
        Server(s.host, port=s.port, use_ssl=s.ssl, tls=tls, connect_timeout=settings.timeout, get_info=NONE)
        for s in settings.servers
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
    account = _find(settings, pool, username)
    if account is None:
        raise _refused()
    personal = _connect(settings, pool, account.dn, password)
    try:
        if not personal.bind():
            raise _refused()
    finally:
        personal.unbind()
    return account


def readiness_problem(settings: LdapSettings, timeout: int) -> str | None:
    """What keeps the directory from serving sign-ins now (one line), or None: the service account (or an
    anonymous bind without one) binds on the first server that answers, each waited for at most ``timeout`` s."""
    settings = replace(settings, timeout=min(settings.timeout, timeout))
    try:
        connection = _connect(settings, _pool(settings), settings.bind_dn, settings.bind_password)
    except DirectoryUnavailable:
        return "no directory server answers: " + ", ".join(server.label for server in settings.servers)
    try:
        if not connection.bind():
            return f"the service account cannot bind: {connection.result.get('description')}"
    finally:
        connection.unbind()
    return None


def lookup(settings: LdapSettings, username: str) -> DirectoryAccount | None:
    """The account as the directory has it now (groups included), read with the service account; None when the
    directory no longer has it. For re-checking a signed-in user without their password."""
    if not username or len(username) > MAX_USERNAME_LENGTH or "\x00" in username:
        return None
    return _find(settings, _pool(settings), username)


def _find(settings: LdapSettings, pool: ServerPool, username: str) -> DirectoryAccount | None:
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
            return None
        entry = entries[0]
        dn = entry.entry_dn
        groups = {g.lower() for g in _values(entry, "memberOf")}
    finally:
        service.unbind()
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
