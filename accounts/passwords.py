"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.messages import Message
from core.messages import message as _l

MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()
# Verifying against this when the account does not exist keeps the response time the same for unknown
# users and wrong passwords.
_DUMMY_HASH = _hasher.hash("v6beian-timing-equalizer")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def password_policy_error(password: str, username: str) -> Message | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return _l("A password has at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
    if password.strip().lower() == username.strip().lower() or username.lower() in password.lower():
        return _l("A password must not contain the username.")
    return None
