"""Flask-Babel set-up: Simplified Chinese by default, English on request.

The catalog lives in ``translations/zh_Hans_CN``: Babel parses the configured "zh_CN" as zh_Hans_CN and looks
the catalog up under that name.
"""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Babel, get_locale

from core.config import SUPPORTED_LANGUAGES

LANGUAGE_NAMES = {"zh_CN": "简体中文", "en": "English"}
SESSION_KEY = "language"

babel = Babel()


def select_locale() -> str:
    if not has_request_context():  # CLI commands and jobs speak the configured language
        return current_app.config["V6BEIAN_LANGUAGE"]
    chosen = session.get(SESSION_KEY)
    if chosen in SUPPORTED_LANGUAGES:
        return chosen
    # API clients may ask through Accept-Language; browsers get the configured default until they choose.
    if request.path.startswith("/api/"):
        best = request.accept_languages.best_match(["zh_CN", "zh", "en"])
        if best:
            return "zh_CN" if best.startswith("zh") else best
    return current_app.config["V6BEIAN_LANGUAGE"]


def current_language() -> str:
    """The active language as configured ("zh_CN" or "en"); Babel itself names zh_CN "zh_Hans_CN"."""
    return "zh_CN" if get_locale().language == "zh" else "en"


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["current_language"] = current_language
