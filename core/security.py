"""Authentication is the default: every endpoint needs a signed-in user unless it is marked ``@public``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, redirect, request, url_for
from flask_login import current_user
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Response

from core.errors import json_error

F = TypeVar("F", bound=Callable[..., Any])

# Endpoints that need no session, beside those decorated with @public.
PUBLIC_ENDPOINTS = {"static"}
ANY_SIGNED_IN = "any-signed-in"  # a route rule: any role may open it; the view checks the object itself

# Answers "may this user do this route-level action?"; installed by the accounts package (core knows no roles).
access_check: Callable[[Any, str], bool] | None = None


def public(view: F) -> F:
    """Mark a view as reachable without signing in (login page, health check, language switch)."""
    view.is_public = True  # type: ignore[attr-defined]
    return view


def allow(rule: str) -> Callable[[F], F]:
    """Declare who may reach a view: a policy action checked before the view runs, or ANY_SIGNED_IN.

    Every non-public route must declare one; a test enumerates the URL map and fails for any that does not.
    On a MethodView class the rule applies to every method; on a method, to that method.
    """

    def mark(view: F) -> F:
        view.access_rule = rule  # type: ignore[attr-defined]
        return view

    return mark


def view_handler(app: Flask, endpoint: str, method: str) -> Any:
    """The function that answers ``method`` at ``endpoint``: the view, or the MethodView's method."""
    view = app.view_functions.get(endpoint)
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        return getattr(view_class, method.lower(), None)
    return view


def access_rule(app: Flask, endpoint: str, method: str) -> str | None:
    view = app.view_functions.get(endpoint)
    if view is None:
        return None
    handler = view_handler(app, endpoint, method)
    return getattr(handler, "access_rule", None) or getattr(getattr(view, "view_class", None), "access_rule", None)


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
    rule = access_rule(current_app, request.endpoint or "", request.method)
    if rule is None:
        # A route without a declared rule is a bug; refuse rather than guess.
        raise Forbidden()
    if rule != ANY_SIGNED_IN and (access_check is None or not access_check(current_user, rule)):
        raise Forbidden()
    return None


def bearer_request() -> bool:
    """An API call authenticated by a token header: no cookie is involved, so there is nothing to forge."""
    return request.path.startswith("/api/") and request.headers.get("Authorization", "").startswith("Bearer ")


def _protect_forms() -> None:
    from core.extensions import csrf

    if not bearer_request():
        csrf.protect()


def init_app(app: Flask) -> None:
    from core.web import refuse_nul_in_form, widen_upload_limit

    # CSRF is checked here rather than by CSRFProtect's own hook, so token-authenticated API calls are exempt.
    # Order matters: who the caller is and whether the route admits them is decided from headers and the
    # cookie alone; only then is a body read (the CSRF token in a form), and only an admitted upload may be large.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.before_request(_require_login)
    app.before_request(widen_upload_limit)
    app.before_request(_protect_forms)
    app.before_request(refuse_nul_in_form)
