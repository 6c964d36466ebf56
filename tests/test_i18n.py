"""Simplified Chinese by default, English on request; the catalog is complete."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po
from flask.testing import FlaskClient

from tests.support import csrf_token_in

CATALOG = (
    Path(__file__).resolve().parent.parent / "core" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
)


def test_every_message_has_a_chinese_translation() -> None:
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle)
    untranslated = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert untranslated == []


def test_language_switch_to_english_and_back(client: FlaskClient, login_as) -> None:
    login_as("regulator")
    page = client.get("/").get_data(as_text=True)
    assert "管理局工作台" in page and 'lang="zh-CN"' in page
    client.post("/language", data={"language": "en", "next": "/", "csrf_token": csrf_token_in(page)})
    english = client.get("/").get_data(as_text=True)
    assert "Regulator dashboard" in english and 'lang="en"' in english
    client.post("/language", data={"language": "zh_CN", "next": "/", "csrf_token": csrf_token_in(english)})
    assert "管理局工作台" in client.get("/").get_data(as_text=True)


def test_language_switch_ignores_unknown_languages_and_foreign_redirects(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/language", data={"language": "xx", "next": "https://evil.example/", "csrf_token": csrf_token_in(page)}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "登录" in client.get("/login").get_data(as_text=True)


def test_wtforms_messages_are_translated_too(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"username": "", "password": "", "csrf_token": csrf_token_in(page)})
    assert "必填" in response.get_data(as_text=True) or "必须" in response.get_data(as_text=True)


def test_api_follows_accept_language(client: FlaskClient) -> None:
    body = client.get("/api/v1/me", headers={"Accept-Language": "en"}).get_json()
    assert body["error"]["message"] == "Authentication is required."
    body = client.get("/api/v1/me", headers={"Accept-Language": "zh-CN"}).get_json()
    assert body["error"]["message"] == "需要登录。"
