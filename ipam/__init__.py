"""The IPv6 (and IPv4) prefix registry and allocation engine."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from core.api import api
    from core.demo import register_demo_loader
    from core.migrate import db_cli
    from ipam import audit  # noqa: F401 (describes its objects to the audit trail)
    from ipam.api import blp, claims_blp
    from ipam.choices import STATUS_LABELS, USAGE_LABELS, PrefixKind, PrefixStatus, Source, Usage
    from ipam.cli import prefix_cli
    from ipam.consistency_cli import check_command
    from ipam.demo import load_ipam_demo, load_request_demo
    from ipam.plan_api import blp as plans_api
    from ipam.plan_cli import plan_cli
    from ipam.plan_views import bp as plans_bp
    from ipam.request_api import blp as requests_api
    from ipam.request_views import bp as requests_bp
    from ipam.views import bp

    @app.template_global()
    def usage_label(value: str | None) -> str:
        return str(USAGE_LABELS[Usage(value)]) if value else ""

    @app.template_global()
    def source_label(value: str) -> str:
        return Source(value).label

    @app.template_global()
    def kind_label(value: str) -> str:
        return PrefixKind(value).label

    @app.template_global()
    def status_label(value: str) -> str:
        return str(STATUS_LABELS[PrefixStatus(value)])

    from ipam import operations

    operations.configure(operations.RegistryRules(allow_documentation=app.config["ALLOW_DOCUMENTATION_PREFIXES"]))
    app.register_blueprint(bp)
    app.register_blueprint(requests_bp)
    app.register_blueprint(plans_bp)
    api.register_blueprint(blp)
    api.register_blueprint(claims_blp)
    api.register_blueprint(requests_api)
    api.register_blueprint(plans_api)
    app.cli.add_command(prefix_cli)
    app.cli.add_command(plan_cli)
    db_cli.add_command(check_command)
    register_demo_loader("ipam", load_ipam_demo)
    register_demo_loader("requests", load_request_demo)
