"""Web plumbing shared by every blueprint: request ids, security headers, pagination, safe redirects,
running an operation on behalf of a form, the language switch and the health check."""

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
from flask_wtf import FlaskForm
from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from core.config import SUPPORTED_LANGUAGES
from core.context import Origin, set_origin
from core.errors import DomainError, ValidationFailed
from core.extensions import db
from core.i18n import SESSION_KEY
from core.security import public

log = logging.getLogger(__name__)
T = TypeVar("T")

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


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def _refuse_nul_bytes() -> None:
    """No text the platform stores or searches may hold a NUL byte (PostgreSQL text cannot): refuse it at the
    door with a 400 instead of failing deep inside a query."""
    from werkzeug.exceptions import BadRequest

    values = [*request.args.values(), *request.form.values(), request.path]
    if any("\x00" in v for v in values) or (request.is_json and _contains_nul(request.get_json(silent=True))):
        raise BadRequest()


def _start_request() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
    set_origin(
        Origin(
            remote_addr=request.remote_addr,
            request_id=g.request_id,
            channel="api" if request.path.startswith("/api/") else "web",
        )
    )


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
    app.before_request(_start_request)
    app.before_request(_refuse_nul_bytes)
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


MAX_PAGE_NUMBER = 100_000


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


@bp.get("/healthz")
@public
def healthz() -> tuple[Response, int]:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        log.exception("health check: database unreachable")
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok"), 200


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
