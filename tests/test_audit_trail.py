"""Every change of an account leaves an audit event naming what changed, on what, by whom."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts import operations
from accounts.models import AuditEvent, LoginThrottle
from core.errors import PermissionDenied, ValidationFailed
from tests.conftest import TEST_PASSWORD


def events(db: Session, action: str) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def only(db: Session, action: str) -> AuditEvent:
    (event,) = events(db, action)
    return event


def test_password_changes_and_resets_are_audited_by_their_actor(db: Session, create_user) -> None:
    user, admin = create_user(role="carrier"), create_user(role="regulator-admin")
    operations.change_password(db, user, current=TEST_PASSWORD, new="a brand new passphrase", actor=user)
    changed = only(db, "user.password_change")
    assert (changed.object_type, changed.object_id, changed.actor_id) == ("user", user.username, user.id)
    operations.reset_password(db, user, new="another new passphrase", actor=admin)
    reset = only(db, "user.password_reset")
    assert (reset.object_type, reset.object_id, reset.actor_id) == ("user", user.username, admin.id)
    with pytest.raises(ValidationFailed) as wrong:
        operations.change_password(db, user, current="not the password", new="x" * 20, actor=user)
    assert wrong.value.fields["current"] and str(wrong.value.fields["current"][0])


def test_deactivation_and_reactivation_record_the_state_before_and_after(db: Session, create_user) -> None:
    user, admin = create_user(role="carrier"), create_user(role="regulator-admin")
    operations.set_user_active(db, user, active=False, actor=admin)
    off = only(db, "user.deactivate")
    assert (off.object_type, off.object_id, off.actor_id) == ("user", user.username, admin.id)
    assert off.changes["active"] == [True, False]
    operations.set_user_active(db, user, active=True, actor=admin)
    assert only(db, "user.activate").changes["active"] == [False, True]


def test_tokens_are_audited_from_creation_to_revocation(db: Session, create_user) -> None:
    user = create_user(role="carrier")
    token, secret = operations.create_token(db, user, name="nightly", days=operations.MAX_TOKEN_DAYS, read_only=True,
                                            actor=user)  # fmt: skip
    created = only(db, "token.create")
    assert (created.object_type, created.object_id, created.actor_id) == ("token", token.prefix, user.id)
    assert created.changes["name"] == [None, "nightly"] and created.changes["read_only"] == [None, True]
    assert operations.authenticate_token(db, secret, "192.0.2.1") is not None
    used = only(db, "token.use")
    assert (used.object_type, used.object_id) == ("token", token.prefix)
    operations.revoke_token(db, token, actor=user)
    revoked = only(db, "token.revoke")
    assert revoked.object_id == token.prefix and revoked.changes["revoked_at"][0] is None
    with pytest.raises(ValidationFailed):
        operations.create_token(db, user, name="too long", days=operations.MAX_TOKEN_DAYS + 1, read_only=False,
                                actor=user)  # fmt: skip
    with pytest.raises(PermissionDenied):
        operations.revoke_token(db, token, actor=create_user(role="carrier"))


def test_clearing_a_throttle_is_an_administrators_audited_act(db: Session, create_user) -> None:
    admin = create_user(role="regulator-admin")
    db.add(LoginThrottle(account="someone", client="address:192.0.2.9", failures=7))
    db.flush()
    with pytest.raises(PermissionDenied):
        operations.clear_throttle(db, "someone", "address:192.0.2.9", actor=create_user(role="regulator"))
    operations.clear_throttle(db, "someone", "address:192.0.2.9", actor=admin)
    cleared = only(db, "auth.throttle_clear")
    assert (cleared.object_type, cleared.object_id, cleared.actor_id) == ("user", "someone", admin.id)
    assert cleared.changes["failures"] == [7, None]
    assert db.get(LoginThrottle, ("someone", "address:192.0.2.9")) is None


def test_ending_sessions_says_how_many_and_why(app: Any, db: Session, create_user) -> None:
    from accounts.sessions import SessionRules

    user, admin = create_user(role="carrier"), create_user(role="regulator-admin")
    rules = SessionRules.from_config(app.config)
    for _ in range(2):
        operations.open_session(db, user, rules=rules, remote_addr="192.0.2.1", user_agent="test")
    assert operations.end_user_sessions(db, user, actor=admin, reason="lost laptop") == 2
    ended = only(db, "user.sessions_end")
    assert (ended.object_id, ended.actor_id, ended.summary) == (user.username, admin.id, "2 (lost laptop)")
    with pytest.raises(PermissionDenied):
        operations.end_user_sessions(db, admin, actor=user, reason="mischief")


def test_the_audit_pages_name_fields_values_and_system_actors_in_the_readers_language(
    db: Session, client: Any, login_as: Any
) -> None:
    from core.policy import OPERATOR
    from ipam.operations import add_prefix

    add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=None, default_strategy="sparse",
               nibble_aligned=True)  # fmt: skip
    db.commit()
    login_as("regulator-admin")
    page = client.get("/audit?object_type=prefix").get_data(as_text=True)
    changes = page[page.index("<tbody>") : page.index("</tbody>")]
    for raw in ("default_strategy", "sparse", "aggregate", "manual", "False", "True", "system:operator"):
        assert raw not in changes.replace('title="prefix"', ""), raw
    assert "运维人员（命令行）" in changes and "是" in changes
