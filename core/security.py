"""Authentication is the default: every endpoint needs a signed-in user unless it is marked ``@public``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from core.errors import json_error

F = TypeVar("F", bound=Callable[..., Any])

# Endpoints that need no session, beside those decorated with @public.
PUBLIC_ENDPOINTS = {"static"}


def public(view: F) -> F:
    """Mark a view as reachable without signing in (login page, health check, language switch)."""
    view.is_public = True  # type: ignore[attr-defined]
    return view


def is_public_endpoint(app: Flask, endpoint: str | None) -> bool:
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return True
    view = app.view_functions.get(endpoint)
    return bool(getattr(view, "is_public", False))


def unauthenticated_response() -> Response:
    if request.path.startswith("/api/"):
        from flask_babel import gettext as _

        response = json_error(401, "unauthorized", _("Authentication is required."))
        response.headers["WWW-Authenticate"] = 'Bearer realm="v6beian"'
        return response
    return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))


def _require_login() -> Response | None:
    if is_public_endpoint(current_app, request.endpoint):
        return None
    if not current_user.is_authenticated:
        return unauthenticated_response()
    return None


def init_app(app: Flask) -> None:
    app.before_request(_require_login)
