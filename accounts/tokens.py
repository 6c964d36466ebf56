"""API token secrets: generated with ``secrets``, stored only as SHA-256 (they carry 256 bits of entropy, so a
fast hash is the right one: nothing to brute-force)."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "v6b_"  # noqa: S105 (a marker, not a secret)


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def looks_like_token(value: str) -> bool:
    return value.startswith(TOKEN_PREFIX) and 20 <= len(value) <= 100 and value.isascii()
