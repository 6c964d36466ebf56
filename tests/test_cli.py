"""The command line: each data command prints a table or JSON; errors are one line and a non-zero exit."""

from __future__ import annotations

import json

from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import Organization, User


def test_org_add_and_list_as_json(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["org", "add", "--kind", "carrier", "--code", "cli-carrier", "--name", "命令行运营商",
              "--uscc", "91110000802100433B", "--division", "110000", "--json"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["uscc"] == "91110000802100433B"
    listed = json.loads(runner.invoke(args=["org", "list", "--kind", "carrier", "--json"]).output)
    assert "cli-carrier" in [row["code"] for row in listed]


def test_org_add_with_a_bad_uscc_fails_with_one_line_and_writes_nothing(runner: FlaskCliRunner, db: Session) -> None:
    before = db.scalar(select(func.count()).select_from(Organization))
    result = runner.invoke(
        args=["org", "add", "--kind", "enterprise", "--code", "bad", "--name", "坏", "--uscc", "123"]
    )
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: uscc:") and len(result.output.strip().splitlines()) == 1
    assert db.scalar(select(func.count()).select_from(Organization)) == before


def test_org_add_with_an_unknown_kind_is_a_usage_error(runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["org", "add", "--kind", "bank", "--code", "x1", "--name", "x"]).exit_code == 2


def test_user_add_reads_the_password_from_stdin(runner: FlaskCliRunner, create_org, db: Session) -> None:
    org = create_org(kind="regulator", code="cli-reg")
    result = runner.invoke(
        args=[
            "user",
            "add",
            "break-glass",
            "--org",
            org.code,
            "--role",
            "regulator-admin",
            "--password-stdin",
            "--json",
        ],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    user = db.scalar(select(User).where(User.username == "break-glass"))
    assert user is not None and user.password_hash and user.password_hash.startswith("$argon2id$")
    listed = json.loads(runner.invoke(args=["user", "list", "--org", org.code, "--json"]).output)
    assert [row["username"] for row in listed] == ["break-glass"]


def test_user_add_refuses_a_weak_password_and_a_role_outside_the_org_kind(runner: FlaskCliRunner, create_org) -> None:
    org = create_org(kind="enterprise", code="cli-ent")
    weak = runner.invoke(
        args=["user", "add", "u1", "--org", org.code, "--role", "enterprise", "--password-stdin"], input="short\n"
    )
    assert weak.exit_code == 1 and "password" in weak.output
    wrong_role = runner.invoke(
        args=["user", "add", "u2", "--org", org.code, "--role", "regulator", "--password-stdin"],
        input="a long enough password\n",
    )
    assert wrong_role.exit_code == 1 and "role" in wrong_role.output


def test_user_add_for_an_unknown_org_fails(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["user", "add", "u3", "--org", "nope", "--role", "enterprise", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 1 and "nope" in result.output


def test_demo_is_idempotent_and_prints_logins(runner: FlaskCliRunner, db: Session) -> None:
    first = runner.invoke(args=["demo", "--json"])
    assert first.exit_code == 0, first.output
    logins = json.loads(first.output)
    assert {row["role"] for row in logins} == {"regulator", "regulator-admin", "carrier", "allocator", "enterprise"}
    counts = (
        db.scalar(select(func.count()).select_from(Organization)),
        db.scalar(select(func.count()).select_from(User)),
    )
    second = runner.invoke(args=["demo", "--json"])
    assert json.loads(second.output) == logins
    assert counts == (
        db.scalar(select(func.count()).select_from(Organization)),
        db.scalar(select(func.count()).select_from(User)),
    )
    enterprises = db.scalars(select(Organization).where(Organization.kind == "enterprise")).all()
    assert len(enterprises) >= 4 and all(org.division_code.startswith("1201") for org in enterprises)


def test_demo_logins_work(runner: FlaskCliRunner, client) -> None:
    from tests.conftest import post_form

    logins = json.loads(runner.invoke(args=["demo", "--json"]).output)
    regulator = next(row for row in logins if row["role"] == "regulator")
    response = post_form(client, "/login", {"username": regulator["username"], "password": regulator["password"]})
    assert response.status_code == 302


def test_db_current_reports_the_head_revision(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["db", "current"])
    assert result.exit_code == 0


def test_token_create_prints_the_secret_once_and_it_works(runner: FlaskCliRunner, create_user, client, db) -> None:
    import json

    from accounts.models import ApiToken, AuditEvent

    user = create_user(role="carrier")
    db.commit()
    result = runner.invoke(args=["token", "create", user.username, "--name", "nightly", "--read-only", "--days", "7",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["token"].startswith("v6b_") and body["expires_at"]
    stored = db.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert stored.read_only and body["token"] not in stored.secret_hash
    assert db.scalar(
        select(AuditEvent).where(AuditEvent.action == "token.create", AuditEvent.object_id == stored.prefix)
    )
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"}).status_code == 200
    listed = runner.invoke(args=["token", "list", user.username, "--json"])
    assert json.loads(listed.output)[0]["prefix"] == stored.prefix and body["token"] not in listed.output
    assert runner.invoke(args=["token", "revoke", stored.prefix]).exit_code == 0
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"}).status_code == 401


def test_token_create_is_refused_for_inactive_and_unknown_accounts(runner: FlaskCliRunner, create_user, db) -> None:
    user = create_user(role="carrier")
    user.active = False
    db.commit()
    refused = runner.invoke(args=["token", "create", user.username, "--name", "x"])
    assert refused.exit_code == 1 and refused.output.count("\n") == 1 and "error:" in refused.output
    unknown = runner.invoke(args=["token", "create", "nobody-at-all", "--name", "x"])
    assert unknown.exit_code == 1 and "nobody-at-all" in unknown.output


def test_demo_passwords_never_read_as_a_command_line_option() -> None:
    from accounts.cli import demo_password

    for _ in range(500):
        password = demo_password()
        assert len(password) == 16 and password.isalnum() and password[0].isalpha()
