"""Carriers' allocation records: parsers (one per format, pure), the loader, and its interfaces."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from core.api import api
    from importers import (
        audit,  # noqa: F401 (describes its objects to the audit trail)
        tasks,
    )
    from importers.api import blp
    from importers.cli import import_cli
    from importers.views import bp

    tasks.init_app(app)
    app.register_blueprint(bp)
    api.register_blueprint(blp)
    app.cli.add_command(import_cli)
