"""Organizations, users, sign-in, the permission policy and the audit trail."""

from __future__ import annotations

from flask import Flask

from core import policy


def init_app(app: Flask) -> None:
    from typing import Any

    from flask import Request, Response, current_app, g, request, session

    # permissions registers its rules; search_views adds its routes to the blueprint
    from accounts import operations, permissions, queries, search_views, sessions  # noqa: F401
    from accounts.api import blp
    from accounts.cli import demo_command, org_cli, token_cli, user_cli
    from accounts.demo import load_accounts_demo
    from accounts.ldap import LdapSettings, readiness_problem
    from accounts.models import User
    from accounts.views import SESSION_ID_KEY, bp
    from core.api import api
    from core.db import SAFE_METHODS
    from core.demo import register_demo_loader
    from core.errors import json_error
    from core.extensions import db, login_manager
    from core.security import bearer_request

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        if not user_id.isdigit() or bearer_request():
            return None  # a request that carries a token is judged by the token alone
        secret = session.get(SESSION_ID_KEY)
        if not isinstance(secret, str) or len(user_id) > 10:
            return None
        return operations.resume_session(
            db.session, secret, int(user_id), rules=sessions.SessionRules.from_config(current_app.config),
            directory=LdapSettings.from_config(current_app.config),
        )  # fmt: skip

    @login_manager.request_loader
    def load_user_from_token(req: Request) -> User | None:
        header = req.headers.get("Authorization", "")
        if not req.path.startswith("/api/") or not header.startswith("Bearer "):
            return None
        token = operations.authenticate_token(db.session, header[len("Bearer ") :].strip(), req.remote_addr)
        if token is None:
            return None
        g.api_token = token
        return token.user

    @app.before_request
    def refuse_writes_with_read_only_tokens() -> Response | None:
        token = g.get("api_token")
        if token is not None and token.read_only and request.method not in SAFE_METHODS:
            from flask_babel import gettext as _

            return json_error(403, "read_only_token", _("This token may only read."))
        return None

    @app.template_global()
    def can(action: str, obj: Any = None) -> bool:
        """Templates ask the policy, never compare roles: ``{% if can('manage_users') %}``."""
        from flask_login import current_user

        return policy.can(current_user, action, obj)

    from accounts.audit import action_label, actor_label, channel_label, field_label, object_label, value_label

    for helper in (action_label, actor_label, channel_label, object_label, field_label, value_label):
        app.add_template_global(helper)

    @app.template_global()
    def division_name(code: str | None) -> str:
        from accounts.validators import division_name
        from core.i18n import current_language

        return division_name(code, chinese=current_language() == "zh_CN")

    from core import health, security, web

    # A directory setting that cannot work stops the application here (ConfigurationError), not at a sign-in.
    LdapSettings.from_config(app.config)
    sessions.configure(sessions.store_for(app.config))

    def directory_problem(session: Any) -> str | None:
        settings = LdapSettings.from_config(current_app.config)
        if settings is not None and queries.organization_by_code(session, settings.organization) is None:
            return f"LDAP_ORG names no organization ({settings.organization}): directory users cannot sign in"
        return None

    web.add_health_check(app, directory_problem)

    def directory_ready(config: Any) -> str | None:
        settings = LdapSettings.from_config(config)
        return None if settings is None else readiness_problem(settings, health.READY_TIMEOUT_SECONDS)

    health.add_readiness_check(
        app, "directory", directory_ready, configured=lambda config: bool(config.get("LDAP_URL"))
    )
    security.access_check = policy.route_check
    app.register_blueprint(bp)
    api.register_blueprint(blp)
    app.cli.add_command(org_cli)
    app.cli.add_command(user_cli)
    app.cli.add_command(token_cli)
    app.cli.add_command(demo_command)
    register_demo_loader("accounts", load_accounts_demo)
