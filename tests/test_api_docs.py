"""The API describes itself: an interactive reference served from static/, the bearer tokens and the cookie in the
OpenAPI document, one error shape documented once; organizations listed for every role as the README says; field
errors flat and in the reader's language."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from marshmallow import fields as ma_fields
from sqlalchemy.orm import Session

from accounts.operations import create_token
from core.errors import request_field_errors, validation_message

CJK = re.compile(r"[\u4e00-\u9fff]")


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_reference_is_served_from_static_without_signing_in(client: FlaskClient) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    swagger = [url for url in assets if "swagger-ui" in url]
    assert swagger and all(url.startswith("/static/vendor/swagger-ui-") for url in swagger)
    assert not [url for url in assets if "//" in url], "no asset comes from another host"
    for url in assets:
        assert client.get(url).status_code == 200, url
    assert 'data-spec-url="/api/v1/openapi.json"' in html


def test_the_vendored_swagger_ui_keeps_its_licence(app: Flask) -> None:
    from pathlib import Path

    folder = next((Path(app.static_folder or "") / "vendor").glob("swagger-ui-*"))
    assert "Apache License" in (folder / "LICENSE").read_text(encoding="utf-8")
    assert (folder / "NOTICE").is_file()


def test_the_reference_page_carries_the_csrf_token_for_a_signed_in_reader(client: FlaskClient, login_as) -> None:
    assert "data-csrf-token" not in client.get("/api/v1/docs").get_data(as_text=True)
    login_as("carrier")
    assert "data-csrf-token=" in client.get("/api/v1/docs").get_data(as_text=True)


def test_the_openapi_document_declares_bearer_tokens_and_the_session_cookie(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": schemes["bearer"]["description"]}
    assert schemes["session"]["type"] == "apiKey" and schemes["session"]["in"] == "cookie"
    assert {name for requirement in spec["security"] for name in requirement} == {"bearer", "session"}


def test_the_error_shape_is_documented_once_and_every_error_response_uses_it(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    shaped_like_an_error = [name for name, schema in schemas.items() if "error" in schema.get("properties", {})]
    assert shaped_like_an_error == ["ApiError"]
    assert "fields" in schemas["ApiError"]["description"]
    refs = set(re.findall(r'"\$ref": "#/components/schemas/(\w*Error\w*)"', str(spec).replace("'", '"')))
    assert refs <= {"ApiError", "ErrorBody"}
    for response in spec["components"]["responses"].values():
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ApiError"}


def test_a_carrier_lists_only_its_own_organization(client: FlaskClient, create_org, create_user, db: Session) -> None:
    create_org(kind="enterprise", code="not-mine")
    carrier = create_user(role="carrier")
    _token, secret = create_token(db, carrier, name="script", days=1, read_only=True, actor=carrier)
    db.flush()
    response = client.get("/api/v1/organizations", headers=bearer(secret))
    assert response.status_code == 200
    body = response.get_json()
    assert [item["code"] for item in body["items"]] == [carrier.organization.code] and body["meta"]["total"] == 1
    assert client.get("/api/v1/organizations?q=not-mine", headers=bearer(secret)).get_json()["items"] == []


def test_a_regulator_lists_every_organization(client: FlaskClient, login_as, create_org) -> None:
    create_org(kind="enterprise", code="theirs-one")
    login_as("regulator")
    codes = [item["code"] for item in client.get("/api/v1/organizations?per_page=500").get_json()["items"]]
    assert "theirs-one" in codes and len(codes) >= 2


def test_field_errors_are_named_by_field_and_read_in_chinese(client: FlaskClient, login_as) -> None:
    login_as("regulator")
    body = client.get("/api/v1/organizations?per_page=100000").get_json()["error"]
    assert body["code"] == "validation_failed"
    assert body["fields"] == {"per_page": ["必须大于或等于 1 且小于或等于 500。"]}


def test_field_errors_read_in_english_when_the_client_asks(client: FlaskClient, login_as) -> None:
    login_as("regulator")
    response = client.get("/api/v1/organizations?kind=nonsense", headers={"Accept-Language": "en"})
    assert response.get_json()["error"]["fields"] == {
        "kind": ["Must be one of: regulator, registry, carrier, allocator, enterprise."]
    }


def test_body_errors_are_flat_with_every_field_named(client: FlaskClient, login_as) -> None:
    from tests.support import csrf_token_in

    login_as("regulator-admin")
    token = csrf_token_in(client.get("/").get_data(as_text=True))
    response = client.post("/api/v1/prefixes", json={"prefix": 5, "surplus": 1}, headers={"X-CSRFToken": token})
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert {"prefix", "kind", "holder", "surplus"} <= set(fields) and "json" not in fields
    assert all(isinstance(messages, list) and all(CJK.search(m) for m in messages) for messages in fields.values())


def test_a_field_named_in_two_places_keeps_its_place_and_nested_fields_their_path(app: Flask) -> None:
    messages = {
        "query": {"page": ["Not a valid integer."]},
        "json": {"page": ["Missing data for required field."], "values": {"user_name": ["Unknown field."]},
                 "ids": {0: ["Not a valid integer."]}},
    }  # fmt: skip
    with app.test_request_context("/api/v1/filings", headers={"Accept-Language": "en"}):
        assert request_field_errors(messages) == {
            "query.page": ["Not a valid integer."],
            "json.page": ["Missing data for required field."],
            "values.user_name": ["Unknown field."],
            "ids.0": ["Not a valid integer."],
        }


def _marshmallow_messages_without_values() -> list[str]:
    found: set[str] = set()
    for field_class in vars(ma_fields).values():
        if isinstance(field_class, type) and issubclass(field_class, ma_fields.Field):
            found.update(m for m in field_class.default_error_messages.values() if "{" not in m)
    return sorted(found - {"Not a valid IP interface.", "Not a valid IPv4 interface.", "Not a valid IPv6 interface."})


@pytest.mark.parametrize("english", _marshmallow_messages_without_values())
def test_marshmallow_messages_are_translated(app: Flask, english: str) -> None:
    with app.test_request_context("/api/v1/prefixes", headers={"Accept-Language": "zh-CN"}):
        assert CJK.search(validation_message(english)), english


@pytest.mark.parametrize(
    ("english", "chinese_values"),
    [
        ("Length must be between 1 and 64.", ["1", "64"]),
        ("Longer than maximum length 100.", ["100"]),
        ("Must be greater than or equal to 1.", ["1"]),
        ("Must be less than 500.", ["500"]),
        ("Must be greater than 0 and less than or equal to 128.", ["0", "128"]),
        ("Must be one of: static, dynamic, leased-line.", ["static, dynamic, leased-line"]),
    ],
)
def test_marshmallow_messages_with_values_keep_their_values(app: Flask, english: str, chinese_values: Any) -> None:
    with app.test_request_context("/api/v1/prefixes", headers={"Accept-Language": "zh-CN"}):
        translated = validation_message(english)
    assert CJK.search(translated) and all(value in translated for value in chinese_values), translated


def test_a_message_of_our_own_passes_unchanged(app: Flask) -> None:
    with app.test_request_context("/api/v1/prefixes", headers={"Accept-Language": "zh-CN"}):
        assert validation_message("前缀格式错误") == "前缀格式错误"
