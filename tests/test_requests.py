"""Hostile requests: nothing is parsed before the route admits the caller, bodies are bounded, and malformed,
deep or unstorable input is a 4xx with a JSON error, never a 500."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.policy import OPERATOR
from tests.support import csrf_token_in


def api_headers(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRFToken": csrf_token_in(client.get("/").get_data(as_text=True)), "Content-Type": "application/json"}


def test_a_large_body_without_a_session_is_refused_unread(app: Flask, client: FlaskClient, monkeypatch) -> None:
    from flask import Request

    reads: list[str] = []
    original = Request.get_data

    def counting_get_data(self: Request, *args: Any, **kwargs: Any) -> Any:
        reads.append(self.path)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Request, "get_data", counting_get_data)
    body = b"[" + b"1," * 300_000 + b"1]"
    response = client.post("/api/v1/prefixes", data=body, content_type="application/json")
    assert response.status_code == 401 and reads == []
    login = client.post("/login", data=body, content_type="application/json")
    assert login.status_code in (400, 413) and reads == []


def test_request_bodies_are_small_but_uploads_may_be_large(app: Flask, client: FlaskClient, login_as) -> None:
    login_as("carrier")
    huge = {"description": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1), "prefix": "2001:db8::/48"}
    assert client.post("/api/v1/prefixes", json=huge, headers=api_headers(client)).status_code == 413
    page = client.get("/imports").get_data(as_text=True)
    big_file = b"\n" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    response = client.post(
        "/imports", content_type="multipart/form-data",
        data={"csrf_token": csrf_token_in(page), "file": (io.BytesIO(big_file), "big.csv"), "mode": "delta"},
    )  # fmt: skip
    assert response.status_code != 413


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,
        "[" * 40 + "]" * 40,
        '{"prefix": "2001:db8::/48", "kind": "aggregate", "holder": "x", "description": "\\ud800"}',
        '{"prefix": "2001:db8::/48", "kind": "aggregate", "holder": "x", "description": "a\\u0000b"}',
        '{"prefix": "2001:db8::/48", "kind": "aggregate", "holder": "x", "child_min_len": ' + "9" * 5000 + "}",
        '{"prefix": ',
    ],
    ids=["recursion", "deep", "lone-surrogate", "nul", "huge-integer", "malformed"],
)
def test_malformed_deep_or_unstorable_json_is_a_400(client: FlaskClient, login_as, body: str) -> None:
    login_as("regulator-admin")
    response = client.post("/api/v1/prefixes", data=body, headers=api_headers(client))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "bad_request"


def test_a_page_number_beyond_the_last_possible_page_is_a_422(client: FlaskClient, login_as) -> None:
    login_as("regulator")
    response = client.get("/api/v1/organizations?page=9223372036854775807")
    assert response.status_code == 422 and "page" in response.get_json()["error"]["fields"]


def test_a_nul_byte_in_an_upload_name_is_dropped(client: FlaskClient, login_as, create_org, create_user, db) -> None:
    from importers.models import ImportBatch
    from ipam.operations import add_prefix

    carrier = create_org(kind="carrier")
    add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    user = login_as(create_user(role="carrier", organization=carrier))
    page = client.get("/imports").get_data(as_text=True)
    data = "地址段,使用单位名称\n2001:db8:1::/48,甲\n".encode()
    response = client.post(
        "/imports", content_type="multipart/form-data",
        data={"csrf_token": csrf_token_in(page), "file": (io.BytesIO(data), "bo\x00ok.csv"), "mode": "delta"},
    )  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    batch = db.query(ImportBatch).filter_by(actor_id=user.id).one()
    assert batch.file_name == "book.csv" and "\x00" not in (batch.stored_path or "")


def test_every_cli_error_is_one_line(runner, monkeypatch) -> None:
    result = runner.invoke(args=["import", "show", "99999999999999999999"])
    assert result.exit_code == 2 and "Traceback" not in result.output

    import importers.cli

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(importers.cli.queries, "first_problems", explode)
    from core.extensions import db as database
    from importers.models import ImportBatch

    with runner.app.app_context():
        session = database.session_factory()
        from accounts.models import Organization

        org = Organization(kind="carrier", code="cli-one-line", name="一行")
        session.add(org)
        session.flush()
        batch = ImportBatch(carrier_id=org.id, file_name="x.csv", sha256="0" * 64, format="csv")
        session.add(batch)
        session.commit()
        batch_id = batch.id
    result = runner.invoke(args=["import", "show", str(batch_id)])
    assert result.exit_code == 1
    assert result.output.strip() == "error: RuntimeError: disk on fire"


def test_json_errors_carry_a_code_and_a_message(client: FlaskClient, login_as) -> None:
    login_as("regulator-admin")
    response = client.post("/api/v1/prefixes", data=json.dumps([1, 2]), headers=api_headers(client))
    assert response.status_code in (400, 422)
    error = response.get_json()["error"]
    assert error["code"] and error["message"]


@pytest.mark.own_app
def test_a_form_re_rendered_with_errors_commits_nothing(app: Flask, db: Session) -> None:
    """The request commits only when its operation succeeded: a 200 with form errors rolls back."""
    from wtforms import StringField
    from wtforms.validators import DataRequired

    from accounts.models import Organization
    from core.extensions import db as database
    from core.forms import Form
    from core.security import public

    class NameForm(Form):
        name = StringField(validators=[DataRequired()])

    @public
    def half_done() -> str:
        database.session.add(Organization(kind="enterprise", code="half-done", name="半途"))
        database.session.flush()
        form = NameForm(meta={"csrf": False})
        return "errors" if not form.validate() else "saved"

    app.add_url_rule("/test-half-done", view_func=half_done, methods=["POST"])
    client = app.test_client()
    token = csrf_token_in(client.get("/login").get_data(as_text=True))
    response = client.post("/test-half-done", data={"name": "", "csrf_token": token})
    assert (response.status_code, response.get_data(as_text=True)) == (200, "errors")
    assert db.scalar(select(Organization).where(Organization.code == "half-done")) is None
