"""``flask org …``, ``flask user …`` and ``flask demo``."""

from __future__ import annotations

import json
import os
import secrets
import string
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts import operations, queries
from accounts.choices import AuthSource, OrgKind, Role
from accounts.demo import DEMO_USERS
from accounts.models import ApiToken, Organization, User
from core.cli import (
    CommandGroup,
    OneLineCommand,
    emit,
    emit_one,
    fail,
    json_option,
    read_secret_from_stdin,
    unit_of_work,
)
from core.demo import DemoContext, run_demo_loaders
from core.policy import OPERATOR

token_cli = CommandGroup("token", help="API tokens for scripts: create, list, revoke.")
org_cli = CommandGroup("org", help="Organizations: regulators, registries, carriers, allocators, enterprises.")
user_cli = CommandGroup("user", help="User accounts.")


def organization_row(org: Organization) -> dict[str, str | None]:
    return {
        "code": org.code, "kind": org.kind, "name": org.name, "name_en": org.name_en,
        "uscc": org.uscc, "division_code": org.division_code,
    }  # fmt: skip


def user_row(user: User) -> dict[str, object]:
    return {
        "username": user.username, "display_name": user.display_name, "organization": user.organization.code,
        "role": user.role, "auth_source": user.auth_source, "active": user.active,
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
    }  # fmt: skip


@org_cli.command("add")
@click.option("--kind", required=True, type=click.Choice([k.value for k in OrgKind]))
@click.option("--code", required=True, help="Short code used in addresses and on the command line.")
@click.option("--name", required=True, help="Chinese name.")
@click.option("--name-en", default=None, help="English name.")
@click.option("--uscc", default=None, help="Unified Social Credit Code (GB 32100).")
@click.option("--division", default=None, help="Administrative division code (GB/T 2260).")
@json_option
def org_add(kind: str, code: str, name: str, name_en: str | None, uscc: str | None, division: str | None,
            as_json: bool) -> None:  # fmt: skip
    """Register an organization."""
    with unit_of_work() as session:
        org = operations.create_organization(
            session, actor=OPERATOR, kind=kind, code=code, name=name, name_en=name_en, uscc=uscc, division_code=division
        )
        emit_one(organization_row(org), as_json=as_json)


@org_cli.command("list")
@click.option("--kind", default=None, type=click.Choice([k.value for k in OrgKind]))
@json_option
def org_list(kind: str | None, as_json: bool) -> None:
    """List organizations."""
    with unit_of_work() as session:
        rows = [organization_row(org) for org, _n in session.execute(queries.organization_list(kind=kind))]
        emit(rows, ["code", "kind", "name", "uscc", "division_code"], as_json=as_json)


@user_cli.command("add")
@click.argument("username")
@click.option("--org", "org_code", required=True, help="Code of the user's organization.")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", "display_name", default=None, help="Display name (default: the username).")
@click.option("--email", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@json_option
def user_add(username: str, org_code: str, role: str, display_name: str | None, email: str | None,
             password_stdin: bool, as_json: bool) -> None:  # fmt: skip
    """Create a local account. Without --password-stdin the password is asked for (twice)."""
    password = (
        read_secret_from_stdin()
        if password_stdin
        else click.prompt(_("Password"), hide_input=True, confirmation_prompt=True)
    )
    with unit_of_work() as session:
        org = queries.organization_by_code(session, org_code)
        if org is None:
            raise fail(_("No organization has the code %(code)s.", code=org_code))
        user = operations.create_user(
            session, actor=OPERATOR, username=username, organization=org, role=role, display_name=display_name,
            email=email, password=password, auth_source=AuthSource.LOCAL.value,
        )  # fmt: skip
        emit_one(user_row(user), as_json=as_json)


@user_cli.command("list")
@click.option("--org", "org_code", default=None, help="Only users of this organization.")
@json_option
def user_list(org_code: str | None, as_json: bool) -> None:
    """List user accounts."""
    with unit_of_work() as session:
        stmt = select(User).join(User.organization).order_by(Organization.code, User.username)
        if org_code:
            stmt = stmt.where(Organization.id == queries.organization_id_by_code(org_code))
        rows = [user_row(u) for u in session.scalars(stmt)]
        emit(rows, ["username", "display_name", "organization", "role", "auth_source", "active"], as_json=as_json)


PASSWORD_ALPHABET = string.ascii_letters + string.digits


def demo_password(length: int = 16) -> str:
    """Letters and digits, starting with a letter: nothing a shell or a command line reads as an option (``-…``)."""
    return secrets.choice(string.ascii_letters) + "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length - 1))


def demo_passwords(instance: Path) -> dict[str, str]:
    """Demo passwords are generated on first load and kept (mode 0600) in the instance folder."""
    path = instance / "demo-logins.json"
    stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    missing = [name for name, *_ in DEMO_USERS if name not in stored]
    if missing:
        stored.update({name: demo_password() for name in missing})
        instance.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(stored, handle, indent=2)
    return stored


@click.command("demo", cls=OneLineCommand)
@json_option
@with_appcontext
def demo_command(as_json: bool) -> None:
    """Load the demo data set (idempotent) and print the demo logins."""
    context = DemoContext(passwords=demo_passwords(Path(current_app.instance_path)))
    with unit_of_work() as session:
        run_demo_loaders(session, context)
    rows = [{"username": u, "role": r, "password": p} for u, r, p in context.logins]
    emit(rows, ["username", "role", "password"], as_json=as_json)


def _user(session: Session, username: str) -> User:
    user = queries.user_by_username(session, username)
    if user is None:
        raise fail(_("No account is named %(name)s.", name=username))
    return user


def token_row(token: ApiToken) -> dict[str, object]:
    return {
        "prefix": token.prefix, "name": token.name, "username": token.user.username, "read_only": token.read_only,
        "created_at": token.created_at.isoformat(), "expires_at": token.expires_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
    }  # fmt: skip


@token_cli.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for (shown in lists).")
@click.option("--read-only", is_flag=True, help="The token may only read.")
@click.option("--days", type=click.IntRange(1, operations.MAX_TOKEN_DAYS), default=90, show_default=True)
@json_option
def token_create(username: str, name: str, read_only: bool, days: int, as_json: bool) -> None:
    """Create an API token for USERNAME; the secret is printed once and only its hash is kept."""
    with unit_of_work() as session:
        token, secret = operations.create_token(
            session, _user(session, username), name=name, days=days, read_only=read_only, actor=OPERATOR
        )
        expires = token.expires_at.isoformat()
    if as_json:
        click.echo(json.dumps({"token": secret, "expires_at": expires}))
    else:
        click.echo(secret)
        click.echo(_("Shown once; expires %(when)s.", when=expires), err=True)


@token_cli.command("list")
@click.argument("username", required=False)
@json_option
def token_list(username: str | None, as_json: bool) -> None:
    """API tokens (of USERNAME), newest first; secrets are never shown again."""
    with unit_of_work() as session:
        stmt = select(ApiToken).order_by(ApiToken.created_at.desc())
        if username:
            stmt = stmt.where(ApiToken.user_id == _user(session, username).id)
        rows = [token_row(t) for t in session.scalars(stmt)]
    emit(rows, ["prefix", "name", "username", "read_only", "expires_at", "revoked_at", "last_used_at"], as_json=as_json)


@token_cli.command("revoke")
@click.argument("prefix")
def token_revoke(prefix: str) -> None:
    """Revoke the token whose listed prefix is PREFIX."""
    with unit_of_work() as session:
        found = list(session.scalars(select(ApiToken).where(ApiToken.prefix == prefix.strip()).limit(2)))
        if len(found) != 1:
            raise fail(_("No single token has the prefix %(prefix)s.", prefix=prefix))
        operations.revoke_token(session, found[0], actor=OPERATOR)
    click.echo(_("Token %(prefix)s revoked.", prefix=prefix))
