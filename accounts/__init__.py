"""Organizations, users, sign-in, the permission policy and the audit trail."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from accounts.api import blp
    from accounts.cli import demo_command, org_cli, user_cli
    from accounts.demo import load_accounts_demo
    from accounts.models import User
    from accounts.views import bp
    from core.api import api
    from core.demo import register_demo_loader
    from core.extensions import db, login_manager

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        if not user_id.isdigit():
            return None
        user = db.session.get(User, int(user_id))
        return user if user is not None and user.active else None

    @app.template_global()
    def division_name(code: str | None) -> str:
        from accounts.validators import divisions
        from core.i18n import current_language

        division = divisions().get(code or "")
        if division is None:
            return ""
        return division.name_zh if current_language() == "zh_CN" else division.name_en

    app.register_blueprint(bp)
    api.register_blueprint(blp)
    app.cli.add_command(org_cli)
    app.cli.add_command(user_cli)
    app.cli.add_command(demo_command)
    register_demo_loader("accounts", load_accounts_demo)
