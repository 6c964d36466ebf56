"""Running it in production: /readyz asks the database, Redis and the directory by name and never shows a secret;
LOG_FORMAT=json makes every log line one JSON object carrying the request it belongs to."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app import create_app
from core.context import Origin, origin
from core.health import readiness
from core.logging import JsonFormatter
from tests.browser_support import free_port
from tests.ldap_server import Directory


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throw-away Redis on a free loopback port (Debian's redis-server)."""
    server = shutil.which("redis-server")
    assert server, "redis-server is missing: install Debian's redis-server"
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path_factory.mktemp("redis"))],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_readyz_answers_without_a_session_that_the_database_is_ready(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok"}}


def test_readyz_asks_the_configured_redis(app: Flask, client: FlaskClient, redis_url: str) -> None:
    app.config.update(REDIS_URL=redis_url, SESSION_REDIS_URL=redis_url)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_an_unreachable_redis_is_503_naming_the_setting_without_its_password(app: Flask, client: FlaskClient) -> None:
    app.config["RATELIMIT_STORAGE_URL"] = f"redis://:hunter2-redis@127.0.0.1:{free_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert response.get_json()["checks"]["redis"].startswith("RATELIMIT_STORAGE_URL: ConnectionError")
    assert "hunter2" not in body


def test_an_unreachable_database_is_reported_in_one_line_without_its_password(app: Flask) -> None:
    url = f"postgresql+psycopg://v6beian:hunter2-db@127.0.0.1:{free_port()}/v6beian"
    app.config["DATABASE_URL"] = url
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            report = readiness(app, session)
    finally:
        engine.dispose()
    assert not report.ready
    assert report.checks["database"].startswith("OperationalError: ")
    assert "\n" not in report.checks["database"] and "hunter2" not in report.checks["database"]


def test_readyz_asks_the_configured_directory(app: Flask, client: FlaskClient, directory: Directory) -> None:
    app.config.update(directory.settings())
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["directory"] == "ok"


def test_a_directory_refusing_the_service_account_is_503(app: Flask, client: FlaskClient, directory: Directory) -> None:
    app.config.update(directory.settings(LDAP_BIND_PASSWORD="not-the-password"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["directory"] == "the service account cannot bind: invalidCredentials"
    assert "not-the-password" not in response.get_data(as_text=True)


def test_an_unreachable_directory_is_503_naming_its_servers(app: Flask, client: FlaskClient) -> None:
    app.config["LDAP_URL"] = f"ldap://127.0.0.1:{free_port()}"
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert response.get_json()["checks"]["directory"].startswith("no directory server answers: ldap://127.0.0.1:")


def test_healthz_stays_the_cheap_check_without_redis(app: Flask, client: FlaskClient) -> None:
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    assert client.get("/healthz").status_code == 200


def _record(message: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("ipam.operations", logging.WARNING, __file__, 1, message, args, exc_info)  # type: ignore[arg-type]


def test_a_json_log_line_carries_time_level_logger_message_and_the_request() -> None:
    with Flask(__name__).test_request_context("/api/v1/prefixes"), origin(Origin(request_id="req-42", channel="api")):
        line = JsonFormatter().format(_record("allocated %s to %s", "2001:db8::/48", "联通"))
    entry = json.loads(line)
    assert entry.pop("time").endswith("+00:00")
    assert entry == {"level": "WARNING", "logger": "ipam.operations", "message": "allocated 2001:db8::/48 to 联通",
                     "request_id": "req-42", "channel": "api"}  # fmt: skip


def test_a_json_log_line_outside_a_request_names_no_earlier_request() -> None:
    with origin(Origin(request_id="req-41", channel="web")):
        assert "req-41" not in JsonFormatter().format(_record("worker exiting"))
    with origin(Origin(channel="job")):
        assert json.loads(JsonFormatter().format(_record("import loaded")))["channel"] == "job"


def test_a_json_log_line_keeps_a_traceback_inside_its_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        line = JsonFormatter().format(_record("failed", exc_info=sys.exc_info()))
    assert "\n" not in line
    assert json.loads(line)["exception"].endswith("ValueError: boom")


def test_an_unknown_log_format_stops_the_app_with_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit, match="LOG_FORMAT must be one of text, json"):
        create_app({"LOG_FORMAT": "xml", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SECRET_KEY": "k" * 40})
