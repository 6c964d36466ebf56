"""Configuration from defaults, an optional ``instance/config.py`` and environment variables.

Precedence (lowest first): defaults, ``instance/config.py``, environment, the mapping given to ``create_app``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from core.logging import LOG_FORMATS

# Every setting a deployment may change, with its default. README.md lists the same table.
DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # None: SQLite file instance/v6beian.db
    "SECRET_KEY": None,  # None: generated once into instance/secret_key (mode 0600)
    "V6BEIAN_LANGUAGE": "zh_CN",
    "V6BEIAN_ENV": "development",  # "production" enforces the safety checks below
    "SESSION_COOKIE_SECURE": False,
    "PREFERRED_URL_SCHEME": "http",
    "PAGE_SIZE": 50,
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "text",  # "json": one JSON object a line, for a log collector
    # Failed sign-ins are throttled per (account, client): after LOGIN_MAX_FAILURES the client waits, twice as
    # long after each further failure, up to LOGIN_LOCKOUT_MINUTES. Nobody else's failures ever lock a client out.
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_LOCKOUT_MINUTES": 15,
    "LOGIN_RATE_LIMIT": "20 per minute",  # sign-in attempts per client address
    "RATELIMIT_STORAGE_URL": "memory://",
    "TRUSTED_PROXIES": 0,  # reverse proxies in front of the app whose X-Forwarded-For/-Proto are believed
    "REQUEST_MAX_KILOBYTES": 1024,  # body limit of every request but uploads (IMPORT_MAX_MEGABYTES)
    # Sessions live on the server (the database, or Redis when SESSION_REDIS_URL is set); the cookie names one.
    "SESSION_IDLE_MINUTES": 30,
    "SESSION_LIFETIME_HOURS": 12,
    "SESSION_REDIS_URL": None,
    "SQLITE_BUSY_TIMEOUT_SECONDS": 60,  # how long a writer waits for SQLite's write lock before answering 503
    # Documentation prefixes (2001:db8::/32, 192.0.2.0/24, ...) may be registered: the demo and the tests.
    "ALLOW_DOCUMENTATION_PREFIXES": False,
    # The directory (regulator staff). No LDAP_URL: the directory sign-in is not offered.
    "LDAP_URL": None,
    "LDAP_STARTTLS": False,
    "LDAP_CA_FILE": None,
    "LDAP_BIND_DN": None,
    "LDAP_BIND_PASSWORD": None,
    "LDAP_USER_BASE": None,
    "LDAP_USER_FILTER": "(uid={username})",
    "LDAP_ATTR_NAME": "cn",
    "LDAP_ATTR_EMAIL": "mail",
    "LDAP_GROUP_REGULATOR": None,
    "LDAP_GROUP_ADMIN": None,
    "LDAP_ORG": "tjca",
    "LDAP_TIMEOUT": 5,
    "LDAP_RECHECK_MINUTES": 15,  # directory users' groups are read again at least this often while signed in
    # Carrier imports: uploads are kept here for the worker (share it between machines); the job queue is a
    # SQLite file beside them unless REDIS_URL names a Redis server.
    "IMPORT_DIR": None,  # None: instance/imports
    "IMPORT_MAX_MEGABYTES": 512,
    "IMPORT_DAILY_UPLOADS": 50,  # uploads per organization per day
    "IMPORT_PENDING_MEGABYTES": 2048,  # bytes an organization's kept uploads may take at once
    "IMPORT_PREVIEW_HOURS": 24,  # a checked file waits this long for its confirmation, then is deleted
    "IMPORT_STALE_MINUTES": 5,  # a running import whose worker sent no heartbeat for this long has died
    "REDIS_URL": None,
    "IMPORT_JOBS_IMMEDIATE": False,  # run import jobs inside the request (tests, single-process set-ups)
    # Filings: the deadline's default (regulator administrators change it in the app), supporting documents,
    # the hour of the daily deadline reminders, and the mail server they (and decisions) go out through.
    "FILING_DEADLINE_DAYS": 20,
    "FILING_ATTACHMENT_DIR": None,  # None: instance/attachments
    "FILING_ATTACHMENT_MAX_BYTES": 10 * 1024 * 1024,
    "FILING_REMINDER_HOUR": 8,
    # The nightly reconciliation of the whole city: the hour (China time), or empty for none.
    "RECONCILIATION_HOUR": 2,
    "MAIL_SERVER": None,  # None: notifications stay in the app
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_FROM": None,
}

ENV_SETTINGS = tuple(DEFAULTS)
BOOLEAN_SETTINGS = {
    "SESSION_COOKIE_SECURE", "LDAP_STARTTLS", "IMPORT_JOBS_IMMEDIATE", "ALLOW_DOCUMENTATION_PREFIXES", "MAIL_USE_TLS",
}  # fmt: skip
INTEGER_SETTINGS = {
    "PAGE_SIZE", "LOGIN_MAX_FAILURES", "LOGIN_LOCKOUT_MINUTES", "LDAP_TIMEOUT", "LDAP_RECHECK_MINUTES",
    "IMPORT_MAX_MEGABYTES", "IMPORT_DAILY_UPLOADS", "IMPORT_PENDING_MEGABYTES", "IMPORT_PREVIEW_HOURS",
    "IMPORT_STALE_MINUTES", "TRUSTED_PROXIES", "REQUEST_MAX_KILOBYTES", "SESSION_IDLE_MINUTES",
    "SESSION_LIFETIME_HOURS", "SQLITE_BUSY_TIMEOUT_SECONDS", "FILING_DEADLINE_DAYS", "FILING_ATTACHMENT_MAX_BYTES",
    "FILING_REMINDER_HOUR", "MAIL_PORT",
}  # fmt: skip
SUPPORTED_LANGUAGES = ("zh_CN", "en")
MIN_SECRET_LENGTH = 32
KNOWN_UNSAFE_SECRETS = {"dev", "secret", "changeme", "change-me", "development", "test"}


class ConfigurationError(RuntimeError):
    """The configuration is unusable; the message says which setting and why."""


def _parse(name: str, raw: str) -> Any:
    if name in BOOLEAN_SETTINGS:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if name in INTEGER_SETTINGS:
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc
    return raw


def load_config(app: Flask, overrides: dict[str, Any] | None = None) -> None:
    instance = Path(app.instance_path)
    app.config.update(DEFAULTS)
    config_file = instance / "config.py"
    if config_file.is_file():
        app.config.from_pyfile(str(config_file))
    for name in ENV_SETTINGS:
        if name in os.environ:
            app.config[name] = _parse(name, os.environ[name])
    if overrides:
        app.config.update(overrides)

    if not app.config["DATABASE_URL"]:
        instance.mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{instance / 'v6beian.db'}"
    if app.config["V6BEIAN_LANGUAGE"] not in SUPPORTED_LANGUAGES:
        raise ConfigurationError(
            f"V6BEIAN_LANGUAGE must be one of {', '.join(SUPPORTED_LANGUAGES)}, got {app.config['V6BEIAN_LANGUAGE']!r}"
        )
    if app.config["LOG_FORMAT"] not in LOG_FORMATS:
        raise ConfigurationError(
            f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {app.config['LOG_FORMAT']!r}"
        )
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(instance)
    if not app.config["IMPORT_DIR"]:
        app.config["IMPORT_DIR"] = str(instance / "imports")
    # Uploads raise the limit for their own requests (core.web.accepts_upload); nothing else needs more.
    app.config["MAX_CONTENT_LENGTH"] = app.config["REQUEST_MAX_KILOBYTES"] * 1024

    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=app.config["SESSION_COOKIE_SECURE"],
        BABEL_DEFAULT_LOCALE=app.config["V6BEIAN_LANGUAGE"],
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
    )
    if app.config["V6BEIAN_ENV"] == "production":
        check_production_safety(app.config)


def check_production_safety(config: Any) -> None:
    """Refuse to serve production traffic with debug on or a guessable secret."""
    if config.get("DEBUG"):
        raise ConfigurationError("refusing to start: debug mode is on in production (unset FLASK_DEBUG)")
    secret = config.get("SECRET_KEY") or ""
    if len(secret) < MIN_SECRET_LENGTH or secret.lower() in KNOWN_UNSAFE_SECRETS:
        raise ConfigurationError(
            f"refusing to start: SECRET_KEY must be a random string of at least {MIN_SECRET_LENGTH} characters"
        )


def _instance_secret(instance: Path) -> str:
    """Read the instance's secret key, creating it (mode 0600) on first start."""
    path = instance / "secret_key"
    instance.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="ascii").strip()
        if len(secret) < MIN_SECRET_LENGTH:
            raise ConfigurationError(f"{path} holds no usable secret; delete it to have one generated") from None
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret + "\n")
    return secret
