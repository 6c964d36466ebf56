"""Secure by default: every route needs a session unless marked public, forms need CSRF tokens, errors never
leak a traceback and API errors are JSON."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.security import ANY_SIGNED_IN, allow, is_public_endpoint
from tests.support import csrf_token_in, sample_url

EXPECTED_PUBLIC = {"static", "accounts.login", "core.healthz", "core.readyz", "core.switch_language", "api-docs.openapi_json",
                   "api_docs.reference"}  # fmt: skip


def test_the_public_endpoints_are_exactly_the_expected_ones(app: Flask) -> None:
    public = {rule.endpoint for rule in app.url_map.iter_rules() if is_public_endpoint(app, rule.endpoint)}
    assert public == EXPECTED_PUBLIC


def test_every_other_route_requires_a_session(app: Flask, client: FlaskClient) -> None:
    token = csrf_token_in(client.get("/login").get_data(as_text=True))
    checked = 0
    for rule in app.url_map.iter_rules():
        if is_public_endpoint(app, rule.endpoint):
            continue
        url = sample_url(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if method == "GET":
                response = client.get(url)
            else:
                response = client.open(url, method=method, data={"csrf_token": token}, headers={"X-CSRFToken": token})
            if url.startswith("/api/"):
                assert response.status_code == 401, (method, url)
                assert response.get_json()["error"]["code"] == "unauthorized"
            else:
                assert response.status_code == 302, (method, url)
                assert response.headers["Location"].startswith("/login?next="), (method, url)
            checked += 1
    assert checked >= 8


def test_form_post_without_csrf_token_is_refused(client: FlaskClient, login_as) -> None:
    login_as("regulator-admin")
    response = client.post("/organizations/new", data={"kind": "enterprise", "code": "no-token", "name": "无令牌"})
    assert response.status_code == 400
    assert client.get("/organizations/no-token").status_code == 404


def test_login_without_csrf_token_is_refused(client: FlaskClient, create_user) -> None:
    user = create_user(role="regulator")
    response = client.post("/login", data={"username": user.username, "password": "whatever"})
    assert response.status_code == 400


def test_security_headers_on_pages(client: FlaskClient) -> None:
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Request-ID"]


def test_pages_have_no_inline_scripts_or_styles(client: FlaskClient, login_as) -> None:
    login_as("regulator-admin")
    for url in ["/", "/organizations", "/organizations/new"]:
        html = client.get(url).get_data(as_text=True)
        assert "<script>" not in html and "style=" not in html and "onclick" not in html, url


def test_api_errors_are_json(client: FlaskClient, login_as) -> None:
    login_as("regulator")
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    invalid = client.get("/api/v1/organizations?per_page=100000")
    assert invalid.status_code == 422
    body = invalid.get_json()["error"]
    assert body["code"] == "validation_failed" and "per_page" in str(body["fields"])
    wrong_method = client.delete("/api/v1/me")
    assert wrong_method.status_code in (400, 405) and "error" in wrong_method.get_json()


@pytest.fixture
def failing_app(app: Flask) -> Flask:
    @app.get("/api/v1/_boom")
    @allow(ANY_SIGNED_IN)
    def api_boom() -> str:
        raise RuntimeError("secret internal detail")

    @app.get("/_boom")
    @allow(ANY_SIGNED_IN)
    def page_boom() -> str:
        raise RuntimeError("secret internal detail")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


@pytest.mark.own_app
def test_unexpected_errors_show_no_traceback(failing_app: Flask, login_as, client: FlaskClient) -> None:
    login_as("regulator")
    api = client.get("/api/v1/_boom")
    assert api.status_code == 500 and api.get_json()["error"]["code"] == "internal_error"
    assert "secret internal detail" not in api.get_data(as_text=True)
    page = client.get("/_boom")
    assert page.status_code == 500
    assert "secret internal detail" not in page.get_data(as_text=True) and "Traceback" not in page.get_data(
        as_text=True
    )


def test_error_pages_are_localized(client: FlaskClient, login_as) -> None:
    login_as("regulator")
    assert "不存在" in client.get("/organizations/does-not-exist").get_data(as_text=True)


def test_healthz_checks_the_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok", "database": "ok"}
