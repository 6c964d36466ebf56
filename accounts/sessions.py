"""Signed-in sessions kept on the server: in the database by default, in Redis when SESSION_REDIS_URL is set.

The browser's cookie carries a random secret; only its SHA-256 is stored (like API tokens). A session ends at
logout, when its user's password changes, when the user is deactivated, when an administrator ends it, after
SESSION_IDLE_MINUTES without a request, and SESSION_LIFETIME_HOURS after sign-in whatever happens. Directory
users' groups are read again every LDAP_RECHECK_MINUTES while they are signed in.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from accounts.models import UserSession
from core.db import utcnow

# Seen-at is written at most this often per session, so reading pages does not turn every request into a write.
TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionRecord:
    key: str  # the stored hash of the secret
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    directory_verified_at: datetime | None
    directory_checked_at: datetime | None
    remote_addr: str | None
    user_agent: str | None


@dataclass(frozen=True)
class SessionRules:
    idle: timedelta
    lifetime: timedelta

    @classmethod
    def from_config(cls, config: Any) -> SessionRules:
        return cls(
            idle=timedelta(minutes=int(config["SESSION_IDLE_MINUTES"])),
            lifetime=timedelta(hours=int(config["SESSION_LIFETIME_HOURS"])),
        )

    def alive(self, record: SessionRecord, now: datetime) -> bool:
        return record.expires_at > now and record.last_seen_at + self.idle > now


def secret_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class SessionStore(Protocol):
    def add(self, db: Session, record: SessionRecord) -> None: ...
    def get(self, db: Session, key: str) -> SessionRecord | None: ...
    def touch(self, db: Session, key: str, **values: datetime) -> None: ...
    def remove(self, db: Session, keys: list[str]) -> None: ...
    def of_user(self, db: Session, user_id: int) -> list[SessionRecord]: ...


class DatabaseStore:
    """Sessions in the ``user_session`` table, written in the caller's transaction."""

    def add(self, db: Session, record: SessionRecord) -> None:
        db.add(UserSession(secret_hash=record.key, **_fields(record)))
        db.flush()

    def get(self, db: Session, key: str) -> SessionRecord | None:
        row = db.scalar(select(UserSession).where(UserSession.secret_hash == key))
        return None if row is None else _record(row)

    def touch(self, db: Session, key: str, **values: datetime) -> None:
        db.execute(update(UserSession).where(UserSession.secret_hash == key).values(**values))

    def remove(self, db: Session, keys: list[str]) -> None:
        if keys:
            db.execute(delete(UserSession).where(UserSession.secret_hash.in_(keys)))

    def of_user(self, db: Session, user_id: int) -> list[SessionRecord]:
        rows = db.scalars(select(UserSession).where(UserSession.user_id == user_id).order_by(UserSession.created_at))
        return [_record(row) for row in rows]


class RedisStore:
    """Sessions as Redis hashes that expire on their own, with a set of each user's sessions beside them."""

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, decode_responses=True)

    @staticmethod
    def _key(key: str) -> str:
        return f"v6beian:session:{key}"

    @staticmethod
    def _user(user_id: int) -> str:
        return f"v6beian:user-sessions:{user_id}"

    def add(self, db: Session, record: SessionRecord) -> None:
        payload = {name: _text(value) for name, value in _fields(record).items()}
        ttl = max(1, int((record.expires_at - utcnow()).total_seconds()))
        pipe = self.redis.pipeline()
        pipe.set(self._key(record.key), json.dumps(payload), ex=ttl)
        pipe.sadd(self._user(record.user_id), record.key)
        pipe.execute()

    def get(self, db: Session, key: str) -> SessionRecord | None:
        raw = self.redis.get(self._key(key))
        if raw is None:
            return None
        data = json.loads(raw)
        return SessionRecord(
            key=key, user_id=int(data["user_id"]), created_at=_time(data["created_at"]),
            last_seen_at=_time(data["last_seen_at"]), expires_at=_time(data["expires_at"]),
            directory_verified_at=_maybe_time(data["directory_verified_at"]),
            directory_checked_at=_maybe_time(data["directory_checked_at"]),
            remote_addr=data["remote_addr"], user_agent=data["user_agent"],
        )  # fmt: skip

    def touch(self, db: Session, key: str, **values: datetime) -> None:
        record = self.get(db, key)
        if record is None:
            return
        fields = _fields(record) | values
        ttl = self.redis.ttl(self._key(key))
        self.redis.set(self._key(key), json.dumps({k: _text(v) for k, v in fields.items()}), ex=max(1, ttl))

    def remove(self, db: Session, keys: list[str]) -> None:
        for key in keys:
            record = self.get(db, key)
            self.redis.delete(self._key(key))
            if record is not None:
                self.redis.srem(self._user(record.user_id), key)

    def of_user(self, db: Session, user_id: int) -> list[SessionRecord]:
        found = []
        for key in sorted(self.redis.smembers(self._user(user_id))):
            record = self.get(db, key)
            if record is None:
                self.redis.srem(self._user(user_id), key)  # expired on its own
            else:
                found.append(record)
        return sorted(found, key=lambda r: r.created_at)


def store_for(config: Any) -> SessionStore:
    url = config.get("SESSION_REDIS_URL")
    return RedisStore(url) if url else DatabaseStore()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _fields(record: SessionRecord) -> dict[str, Any]:
    return {
        "user_id": record.user_id, "created_at": record.created_at, "last_seen_at": record.last_seen_at,
        "expires_at": record.expires_at, "directory_verified_at": record.directory_verified_at,
        "directory_checked_at": record.directory_checked_at,
        "remote_addr": record.remote_addr, "user_agent": record.user_agent,
    }  # fmt: skip


def _record(row: UserSession) -> SessionRecord:
    return SessionRecord(
        key=row.secret_hash, user_id=row.user_id, created_at=row.created_at, last_seen_at=row.last_seen_at,
        expires_at=row.expires_at, directory_verified_at=row.directory_verified_at,
        directory_checked_at=row.directory_checked_at, remote_addr=row.remote_addr,
        user_agent=row.user_agent,
    )  # fmt: skip


def _text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _maybe_time(text: str | None) -> datetime | None:
    return _time(text) if text else None


_store: SessionStore = DatabaseStore()


def configure(store: SessionStore) -> None:
    """Set by ``accounts.init_app`` from the configuration."""
    global _store
    _store = store


def store() -> SessionStore:
    return _store
