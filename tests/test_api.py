"""The /api/v1 skeleton and its OpenAPI document."""

from __future__ import annotations

import re

from flask.testing import FlaskClient


def test_openapi_document_lists_every_api_route(app, client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    documented = set(document["paths"])
    routed = {
        re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", str(rule.rule))
        for rule in app.url_map.iter_rules()
        # the document itself and its interactive reader describe the API; they are no part of it
        if str(rule.rule).startswith("/api/v1/")
        and rule.endpoint not in {"api-docs.openapi_json", "api_docs.reference"}
    }
    assert routed and routed <= documented
    assert "ApiError" in document["components"]["schemas"]


def test_me_describes_the_signed_in_user(client: FlaskClient, login_as) -> None:
    user = login_as("carrier")
    body = client.get("/api/v1/me").get_json()
    assert body["username"] == user.username and body["organization"]["code"] == user.organization.code
    assert "password_hash" not in body


def test_regulators_list_organizations_with_pagination(client: FlaskClient, login_as, create_org) -> None:
    create_org(kind="carrier", code="api-carrier", name="接口运营商")
    login_as("regulator")
    body = client.get("/api/v1/organizations?kind=carrier&q=api-carrier").get_json()
    assert [item["code"] for item in body["items"]] == ["api-carrier"]
    assert body["meta"]["total"] == 1


def test_members_list_only_their_own_organization(client: FlaskClient, login_as, create_org) -> None:
    create_org(kind="enterprise", code="not-theirs")
    user = login_as("enterprise")
    body = client.get("/api/v1/organizations").get_json()
    assert [item["code"] for item in body["items"]] == [user.organization.code] and body["meta"]["total"] == 1


def test_another_tenants_organization_is_not_found(client: FlaskClient, login_as, create_org) -> None:
    other = create_org(kind="enterprise")
    user = login_as("enterprise")
    assert client.get(f"/api/v1/organizations/{other.code}").status_code == 404
    assert client.get(f"/api/v1/organizations/{user.organization.code}").get_json()["code"] == user.organization.code
