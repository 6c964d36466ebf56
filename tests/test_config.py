"""Configuration: secrets, defaults and the production safety checks."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from flask import Flask

from core.config import ConfigurationError, load_config


def make(tmp_path: Path, **overrides: object) -> Flask:
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    load_config(app, overrides or None)
    return app


def test_secret_key_is_generated_once_with_mode_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = make(tmp_path).config["SECRET_KEY"]
    path = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert make(tmp_path).config["SECRET_KEY"] == first


def test_default_database_is_an_instance_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert make(tmp_path).config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'instance' / 'v6beian.db'}"


def test_environment_overrides_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://db.example/v6")
    monkeypatch.setenv("V6BEIAN_LANGUAGE", "en")
    monkeypatch.setenv("PAGE_SIZE", "20")
    config = make(tmp_path).config
    assert config["DATABASE_URL"] == "postgresql+psycopg://db.example/v6"
    assert config["BABEL_DEFAULT_LOCALE"] == "en"
    assert config["PAGE_SIZE"] == 20


def test_instance_config_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAGE_SIZE", raising=False)
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "config.py").write_text("PAGE_SIZE = 7\n")
    assert make(tmp_path).config["PAGE_SIZE"] == 7


def test_unknown_language_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="V6BEIAN_LANGUAGE"):
        make(tmp_path, V6BEIAN_LANGUAGE="fr")


def test_production_refuses_debug(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="debug"):
        make(tmp_path, V6BEIAN_ENV="production", DEBUG=True, SECRET_KEY="s" * 64)


@pytest.mark.parametrize("secret", ["dev", "short-secret", "changeme"])
def test_production_refuses_unsafe_secret(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        make(tmp_path, V6BEIAN_ENV="production", SECRET_KEY=secret)


def test_production_starts_with_a_strong_secret(tmp_path: Path) -> None:
    app = make(tmp_path, V6BEIAN_ENV="production", SECRET_KEY="k" * 48)
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
