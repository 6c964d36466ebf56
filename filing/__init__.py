"""IP address filing (备案): filers file every block they hold and hand on, regulators review before the deadline,
the national report goes upward."""

from __future__ import annotations

import importlib

from flask import Flask

# The page and command modules, each declaring its routes on ``filing.blueprint.bp`` and its commands on the
# groups of ``filing.cli``.
VIEW_MODULES = ("views", "calendar_views", "value_list_views", "report_views", "dashboard_views", "bulk_views",
                "attachment_views", "notification_views", "reconciliation_views")  # fmt: skip
COMMAND_MODULES = ("commands", "calendar_cli", "report_cli", "bulk_cli", "remind_cli")


def init_app(app: Flask) -> None:
    from core.api import api
    from core.demo import register_demo_loader
    from filing import audit, permissions  # noqa: F401 (describe the trail's words, register the rules)
    from filing.api import blp
    from filing.blueprint import bp
    from filing.choices import FilingState, FilingType
    from filing.cli import calendar_cli, filing_cli
    from filing.demo import load_filing_demo, load_reconciliation_demo
    from filing.reconciliation_api import blp as reconciliations_api
    from filing.reconciliation_cli import reconcile_cli

    for module in (*VIEW_MODULES, *COMMAND_MODULES):
        importlib.import_module(f"filing.{module}")

    @app.template_global()
    def filing_state_label(value: str) -> str:
        return FilingState(value).label

    @app.template_global()
    def filing_type_label(value: str) -> str:
        return FilingType(value).label

    @app.template_global()
    def choice_label(list_name: str, code: str | None) -> str:
        """A stored value list code (单位性质, 行业分类, IP使用方式) named in the reader's language."""
        from flask import g

        from core.extensions import db
        from core.i18n import current_language
        from filing.queries import choice_names

        if not code:
            return ""
        if "choice_names" not in g:  # one read of the (small) value lists a request
            g.choice_names = choice_names(db.session, chinese=current_language() == "zh_CN")
        return g.choice_names.get((list_name, code), code)

    @app.template_global()
    def filing_summary() -> object:
        """The dashboard's filing numbers for the signed-in user (its own work, or the review's)."""
        from datetime import date

        from flask_login import current_user

        from core.extensions import db
        from filing.queries import summary

        return summary(db.session, current_user, today=date.today())

    from filing import tasks

    tasks.init_app(app)
    app.register_blueprint(bp)
    api.register_blueprint(blp)
    api.register_blueprint(reconciliations_api)
    app.cli.add_command(filing_cli)
    app.cli.add_command(reconcile_cli)
    app.cli.add_command(calendar_cli)
    register_demo_loader("filing", load_filing_demo)
    register_demo_loader("reconciliation", load_reconciliation_demo)
