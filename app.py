"""v6beian application factory: ``flask --app app run``."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import accounts
import filing
import importers
import ipam
from core import api, i18n, security, web
from core.config import ConfigurationError, load_config
from core.errors import register_error_handlers
from core.extensions import csrf, db, limiter, login_manager
from core.logging import configure_logging
from core.migrate import db_cli


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The application; a setting that cannot work stops it with one line saying which and why."""
    try:
        return _build_app(config)
    except ConfigurationError as exc:
        raise SystemExit(f"v6beian: configuration error: {exc}") from None


def _build_app(config: dict[str, Any] | None) -> Flask:
    app = Flask(
        __name__,
        instance_path=os.environ.get("V6BEIAN_INSTANCE") or None,
        instance_relative_config=True,
        template_folder="templates",
        static_folder="static",
    )
    load_config(app, config)
    if app.config["TRUSTED_PROXIES"]:
        # The client address and scheme come from the proxies we put in front, so that rate limits and sign-in
        # throttles count each client rather than one shared bucket (and nobody else may claim an address).
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])

    db.init_app(app)
    web.init_app(app)
    security.init_app(app)
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["RATELIMIT_STORAGE_URL"])
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.unauthorized_handler(security.unauthenticated_response)
    i18n.init_app(app)
    api.init_app(app)
    register_error_handlers(app)
    app.cli.add_command(db_cli)

    accounts.init_app(app)
    ipam.init_app(app)
    importers.init_app(app)
    filing.init_app(app)
    return app
