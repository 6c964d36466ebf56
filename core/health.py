"""Readiness: whether this process can serve now, asked of every service it depends on (``/readyz``).

``/healthz`` stays the cheap liveness check (is the process answering, is its database there); a load balancer asks
``/readyz`` before sending traffic. Core checks the database and Redis; a domain package adds a check for a service
only it knows (the directory) with ``add_readiness_check``. A check answers what is wrong in one line, or None,
within a few seconds; its line never holds a password or a key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# Seconds a readiness check waits for a service: a load balancer asks every few seconds and must get an answer.
READY_TIMEOUT_SECONDS = 2
REDIS_SETTINGS = ("REDIS_URL", "RATELIMIT_STORAGE_URL", "SESSION_REDIS_URL")
REDIS_SCHEMES = ("redis", "rediss", "unix")
# Settings whose values must never appear in a readiness answer, beside the passwords inside the URLs.
SECRET_SETTINGS = ("SECRET_KEY", "LDAP_BIND_PASSWORD", "MAIL_PASSWORD")
URL_SETTINGS = ("DATABASE_URL", *REDIS_SETTINGS)
EXTENSION_KEY = "v6beian.readiness_checks"

ReadinessProbe = Callable[[Mapping[str, Any]], "str | None"]


@dataclass(frozen=True)
class ReadinessCheck:
    name: str
    probe: ReadinessProbe  # the configuration in, what is wrong (one line) or None out
    configured: Callable[[Mapping[str, Any]], bool]  # whether this deployment uses the service at all


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]  # name: "ok" or what is wrong

    @property
    def ready(self) -> bool:
        return all(result == "ok" for result in self.checks.values())


def add_readiness_check(
    app: Flask, name: str, probe: ReadinessProbe, *, configured: Callable[[Mapping[str, Any]], bool]
) -> None:
    """A domain package's service for /readyz, asked only while ``configured(config)`` says it is in use."""
    app.extensions.setdefault(EXTENSION_KEY, []).append(ReadinessCheck(name, probe, configured))


def readiness(app: Flask, session: Session) -> Readiness:
    """Ask the database, Redis (when configured) and every registered service; each answers by name."""
    config = app.config
    results = {"database": _answer(config, lambda: database_problem(session))}
    if redis_urls(config):
        results["redis"] = _answer(config, lambda: redis_problem(config))
    for check in app.extensions.get(EXTENSION_KEY, []):
        if check.configured(config):
            results[check.name] = _answer(config, lambda check=check: check.probe(config))
    return Readiness(results)


def database_problem(session: Session) -> str | None:
    """None when the database answers a query; what it raised otherwise (the session is rolled back for the
    rest of the request)."""
    try:
        session.execute(text("SELECT 1"))
    except Exception:
        session.rollback()
        raise
    return None


def redis_urls(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each Redis server the configuration names, with the settings that name it (one server may serve all)."""
    urls: dict[str, list[str]] = {}
    for setting in REDIS_SETTINGS:
        url = str(config.get(setting) or "")
        if urlsplit(url).scheme in REDIS_SCHEMES:
            urls.setdefault(url, []).append(setting)
    return urls


def redis_problem(config: Mapping[str, Any]) -> str | None:
    import redis

    for url, settings in redis_urls(config).items():
        client = redis.Redis.from_url(
            url, socket_connect_timeout=READY_TIMEOUT_SECONDS, socket_timeout=READY_TIMEOUT_SECONDS
        )
        try:
            client.ping()
        except redis.RedisError as exc:
            return f"{', '.join(settings)}: {_one_line(exc)}"
        finally:
            client.close()
    return None


def _answer(config: Mapping[str, Any], ask: Callable[[], str | None]) -> str:
    """ "ok", or the check's line with every configured secret taken out. A check that raises is a failed check:
    readiness answers, whatever the service does."""
    try:
        problem = ask()
    except Exception as exc:
        problem = _one_line(getattr(exc, "orig", None) or exc)  # a driver's own message, without SQLAlchemy's SQL
    if problem is None:
        return "ok"
    for secret in _secrets(config):
        problem = problem.replace(secret, "***")
    return problem


def _one_line(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _secrets(config: Mapping[str, Any]) -> list[str]:
    found = [str(config[name]) for name in SECRET_SETTINGS if config.get(name)]
    for name in URL_SETTINGS:
        password = urlsplit(str(config.get(name) or "")).password
        if password:
            found.extend({password, unquote(password)})
    # The longest first, so that a secret holding another is taken out whole.
    return sorted(found, key=len, reverse=True)
