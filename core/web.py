"""Web plumbing shared by every blueprint: request ids, security headers, pagination, safe redirects,
running an operation on behalf of a form, the language switch, and the health and readiness checks."""

from __future__ import annotations

import csv
import io
import logging
import math
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, current_app, g, jsonify, redirect, request, session, url_for
from flask.json.provider import DefaultJSONProvider
from flask_wtf import FlaskForm
from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from core.api import MAX_PAGE_NUMBER
from core.config import SUPPORTED_LANGUAGES
from core.context import Origin, set_origin
from core.db import SAFE_METHODS
from core.errors import DomainError, ValidationFailed
from core.extensions import db
from core.forms import roll_back_request
from core.health import readiness
from core.i18n import SESSION_KEY
from core.security import public

log = logging.getLogger(__name__)
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

bp = Blueprint("core", __name__)


# --- request life cycle --------------------------------------------------------------------------------


MAX_JSON_DEPTH = 32


class SafeJSONProvider(DefaultJSONProvider):
    """Request bodies are parsed only by the routes that read them, and only what the database can store gets
    through: a body nested deeper than ``MAX_JSON_DEPTH``, a NUL character or a lone surrogate (neither fits in
    PostgreSQL or SQLite text), or an integer of more than 4,300 digits is a 400, never a 500."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        problem = json_value_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


def json_value_problem(value: Any) -> str | None:
    """Why a parsed JSON value cannot be taken, or None. Iterative: a deep value cannot exhaust the stack."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if _unstorable_text(item):
                return "JSON text holds a NUL character or a lone surrogate"
            continue
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return None


def _unstorable_text(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _start_request() -> None:
    """Name the request and refuse a NUL byte in its address (PostgreSQL text cannot hold one). The body is not
    read here: nothing parses it before the route's rule has admitted the caller."""
    from werkzeug.exceptions import BadRequest

    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
    set_origin(
        Origin(
            remote_addr=request.remote_addr,
            request_id=g.request_id,
            channel="api" if request.path.startswith("/api/") else "web",
        )
    )
    if "\x00" in request.path or any("\x00" in v for v in request.args.values()):
        raise BadRequest()


def accepts_upload(view: F | None = None, *, limit_setting: str = "IMPORT_MAX_MEGABYTES") -> Any:
    """Mark a view (or MethodView method) that takes a file upload: its requests may be as large as the setting
    ``limit_setting`` says (megabytes for ``…_MEGABYTES``, else bytes) instead of REQUEST_MAX_KILOBYTES, once the
    caller is known to be allowed there. ``@accepts_upload`` or ``@accepts_upload(limit_setting=…)``."""

    def mark(target: F) -> F:
        target.accepts_upload = limit_setting  # type: ignore[attr-defined]
        return target

    return mark(view) if view is not None else mark


def widen_upload_limit() -> None:
    """Runs after the sign-in check: only admitted callers of upload routes may send large bodies."""
    from core.security import view_handler

    handler = view_handler(current_app, request.endpoint or "", request.method)
    setting = getattr(handler, "accepts_upload", None)
    if setting:
        limit = int(current_app.config[setting])
        # A form's other fields and the multipart framing come on top of the file itself.
        request.max_content_length = limit * 1024 * 1024 if setting.endswith("_MEGABYTES") else limit + 64 * 1024


def refuse_nul_in_form() -> None:
    """Form fields were read by the CSRF check; no stored or searched text may hold a NUL byte."""
    from werkzeug.exceptions import BadRequest

    if request.method not in SAFE_METHODS and any(_unstorable_text(v) for v in request.form.values()):
        raise BadRequest()


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config["SESSION_COOKIE_SECURE"]:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if "request_id" in g:
        headers["X-Request-ID"] = g.request_id
    if request.endpoint != "static" and response.mimetype == "text/html":
        headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.json = SafeJSONProvider(app)
    app.before_request(_start_request)
    app.after_request(_security_headers)
    app.register_blueprint(bp)


# --- pagination ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def page_number() -> int:
    raw = request.args.get("page", "1")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        return 1
    return min(max(int(raw), 1), MAX_PAGE_NUMBER)


def paginate(session: Session, stmt: Select[Any], page: int, per_page: int | None = None) -> Page[Any]:
    """One COUNT and one LIMIT/OFFSET query; ``stmt`` must have a deterministic ORDER BY."""
    per_page = per_page or current_app.config["PAGE_SIZE"]
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    window = stmt.limit(per_page).offset((page - 1) * per_page)
    # One selected entity pages as objects; several columns page as row tuples.
    items = session.scalars(window).all() if len(stmt.column_descriptions) == 1 else session.execute(window).all()
    return Page(items=items, page=page, per_page=per_page, total=total)


# --- redirects and forms ---------------------------------------------------------------------------------


def safe_next_url(target: str | None, default_endpoint: str = "accounts.dashboard") -> str:
    """Only same-site relative paths are followed after login or a language switch."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for(default_endpoint)


def run_form_operation(form: FlaskForm, operation: Callable[..., T], /, *args: Any, **kwargs: Any) -> T | None:
    """Call ``operation`` for a validated form; put domain errors beside the fields they name.

    The operation runs in a savepoint so that a refusal leaves the database exactly as it was even though
    the page is re-rendered with a 200 status (which would otherwise commit).
    """
    session = db.session
    savepoint = session.begin_nested()
    try:
        result = operation(*args, **kwargs)
    except DomainError as exc:
        savepoint.rollback()
        roll_back_request()
        fields = exc.fields if isinstance(exc, ValidationFailed) else {}
        placed = False
        for name, messages in fields.items():
            field = getattr(form, name, None)
            if field is not None:
                field.errors = [*field.errors, *(str(m) for m in messages)]
                placed = True
        if not placed:
            form.form_errors.append(str(exc.message))
        return None
    savepoint.commit()
    return result


# --- routes ----------------------------------------------------------------------------------------------


@bp.post("/language")
@public
def switch_language() -> Response:
    # CSRFProtect checks the token before this runs, as for every POST.
    choice = request.form.get("language", "")
    if choice in SUPPORTED_LANGUAGES:
        session[SESSION_KEY] = choice
    return redirect(safe_next_url(request.form.get("next"), "accounts.login"))


HealthCheck = Callable[[Session], "str | None"]


def add_health_check(app: Flask, check: HealthCheck) -> None:
    """A domain package's check for /healthz: it returns what is wrong (one line) or None."""
    app.extensions.setdefault("v6beian.health_checks", []).append(check)


@bp.get("/healthz")
@public
def healthz() -> tuple[Response, int]:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        log.exception("health check: database unreachable")
        return jsonify(status="error", database="unreachable"), 503
    checks = current_app.extensions.get("v6beian.health_checks", [])
    problems = [problem for check in checks if (problem := check(db.session)) is not None]
    if problems:
        return jsonify(status="error", database="ok", problems=problems), 503
    return jsonify(status="ok", database="ok"), 200


@bp.get("/readyz")
@public
def readyz() -> tuple[Response, int]:
    """Whether this process can take traffic now: each service it needs by name, "ok" or what is wrong."""
    report = readiness(current_app, db.session)
    if not report.ready:
        log.warning("not ready: %s", "; ".join(f"{name}: {result}" for name, result in report.checks.items()))
    return jsonify(status="ok" if report.ready else "error", checks=report.checks), 200 if report.ready else 503


CHINA_TIME = ZoneInfo("Asia/Shanghai")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    """Text a spreadsheet will not run as a formula (CSV injection): such cells get a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_response(filename: str, header: list[str], rows: Iterable[list[object]]) -> Response:
    """A streamed CSV download (UTF-8 with BOM, so Excel reads Chinese correctly)."""

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")
        writer.writerow(header)
        for row in rows:
            writer.writerow([spreadsheet_safe(v) for v in row])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    response = Response(generate(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
