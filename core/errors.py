"""Typed domain errors and the one place that turns them (and HTTP errors) into responses.

Operations raise ``DomainError`` subclasses carrying a stable ``code`` and a translatable message. The web
layer maps them to JSON under ``/api/`` and to error pages elsewhere; forms map ``ValidationFailed`` to errors
beside their fields; the CLI prints the message on one line.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from core.messages import Message, as_message
from core.messages import message as _l

log = logging.getLogger(__name__)


class DomainError(Exception):
    """Base of every error an operation raises on purpose. Its message (and those of its fields) is a ``Message``,
    rendered in the reader's language when shown; a lazy string or a bare template (marked ``N_``) given instead is
    taken as one."""

    code = "domain_error"
    status = 400

    def __init__(self, message: Message | str, *, fields: Mapping[str, Sequence[Message | str]] | None = None) -> None:
        self.message = as_message(message)
        self.fields = {name: [as_message(m) for m in msgs] for name, msgs in (fields or {}).items()}
        super().__init__(self.message)

    def __str__(self) -> str:
        return str(self.message)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": str(self.message)}
        if self.fields:
            body["fields"] = {name: [str(m) for m in msgs] for name, msgs in self.fields.items()}
        return {"error": body}


class ValidationFailed(DomainError):
    """Input breaks a rule; ``fields`` names the offending fields."""

    code = "validation_failed"
    status = 422

    @classmethod
    def on(cls, field: str, message: Message | str) -> ValidationFailed:
        return cls(message, fields={field: [message]})


class NotFound(DomainError):
    code = "not_found"
    status = 404


class PermissionDenied(DomainError):
    code = "forbidden"
    status = 403


class Conflict(DomainError):
    """The request is valid but clashes with the current state (duplicate, overlap, exhausted space)."""

    code = "conflict"
    status = 409


HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    500: "internal_error",
    503: "busy",
}
RETRY_AFTER_SECONDS = 5


def is_contention(exc: BaseException) -> bool:
    """The database could not give this request its lock in time (SQLite's write lock, a PostgreSQL lock
    timeout, deadlock or serialization failure): nothing was changed and trying again later will work."""
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return False
    text = str(exc.orig).lower()
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return "database is locked" in text or "database is busy" in text or sqlstate in {"55P03", "40P01", "40001"}


def _http_messages() -> dict[int, Message]:
    return {
        400: _l("The request could not be understood."),
        401: _l("Authentication is required."),
        403: _l("You do not have permission to do that."),
        404: _l("The page or object you asked for does not exist."),
        405: _l("This method is not allowed here."),
        413: _l("The upload is too large."),
        422: _l("The input is not valid."),
        429: _l("Too many requests; please wait and try again."),
        500: _l("Something went wrong on our side. The error has been logged."),
        503: _l("The system is busy with another change; nothing was changed. Please try again in a moment."),
    }


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in ("/healthz", "/readyz")


def json_error(status: int, code: str, message: Message | str, fields: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": str(message)}
    if fields:
        body["fields"] = _string_keys(fields)
    response = jsonify({"error": body})
    response.status_code = status
    return response


def _string_keys(value: Any) -> Any:
    """Validation details with every key a string (webargs names a nameless multipart part ``None``)."""
    if isinstance(value, dict):
        return {str(key): _string_keys(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_string_keys(item) for item in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def error_page(status: int, message: Message | str) -> tuple[str, int]:
    """The localized error page; a bare page if even that cannot be rendered (e.g. the database is down)."""
    try:
        return render_template("errors/error.html", status=status, message=message), status
    except Exception:
        log.exception("error page %s could not be rendered", status)
        return f"<!doctype html><title>{status}</title><h1>{status}</h1>", status


# The English messages marshmallow (and so webargs) writes, in its own str.format syntax, and the catalog's message
# for each: request validation answers in the reader's language. A value is read back as one word (a number, a
# length), so "greater than {min}." never reads "greater than or equal to 1."; only a list of choices has spaces.
_MARSHMALLOW_MESSAGES: tuple[tuple[str, Message], ...] = (
    ("Missing data for required field.", _l("Missing data for required field.")),
    ("Field may not be null.", _l("Field may not be null.")),
    ("Unknown field.", _l("Unknown field.")),
    ("Invalid input type.", _l("Invalid input type.")),
    ("Invalid type.", _l("Invalid type.")),
    ("Invalid value.", _l("Invalid value.")),
    ("Invalid input.", _l("Invalid input.")),
    ("Not a valid string.", _l("Not a valid string.")),
    ("Not a valid utf-8 string.", _l("Not a valid utf-8 string.")),
    ("Not a valid integer.", _l("Not a valid integer.")),
    ("Not a valid number.", _l("Not a valid number.")),
    ("Number too large.", _l("Number too large.")),
    (
        "Special numeric values (nan or infinity) are not permitted.",
        _l("Special numeric values (nan or infinity) are not permitted."),
    ),
    ("Not a valid boolean.", _l("Not a valid boolean.")),
    ("Not a valid list.", _l("Not a valid list.")),
    ("Not a valid tuple.", _l("Not a valid tuple.")),
    ("Not a valid mapping type.", _l("Not a valid mapping type.")),
    ("Not a valid date.", _l("Not a valid date.")),
    ("Not a valid datetime.", _l("Not a valid datetime.")),
    ("Not a valid time.", _l("Not a valid time.")),
    ("Not a valid period of time.", _l("Not a valid period of time.")),
    ("Not a valid email address.", _l("Not a valid email address.")),
    ("Not a valid URL.", _l("Not a valid URL.")),
    ("Not a valid UUID.", _l("Not a valid UUID.")),
    ("Not a valid IP address.", _l("Not a valid IP address.")),
    ("Not a valid IPv4 address.", _l("Not a valid IPv4 address.")),
    ("Not a valid IPv6 address.", _l("Not a valid IPv6 address.")),
    ("String does not match expected pattern.", _l("String does not match expected pattern.")),
    ("Length must be between {min} and {max}.", _l("Length must be between %(min)s and %(max)s.")),
    ("Length must be {equal}.", _l("Length must be %(equal)s.")),
    ("Longer than maximum length {max}.", _l("Longer than maximum length %(max)s.")),
    ("Shorter than minimum length {min}.", _l("Shorter than minimum length %(min)s.")),
    ("Must be one of: {choices}.", _l("Must be one of: %(choices)s.")),
    ("Must be equal to {other}.", _l("Must be equal to %(other)s.")),
    (
        "Must be greater than or equal to {min} and less than or equal to {max}.",
        _l("Must be greater than or equal to %(min)s and less than or equal to %(max)s."),
    ),
    (
        "Must be greater than or equal to {min} and less than {max}.",
        _l("Must be greater than or equal to %(min)s and less than %(max)s."),
    ),
    (
        "Must be greater than {min} and less than or equal to {max}.",
        _l("Must be greater than %(min)s and less than or equal to %(max)s."),
    ),
    ("Must be greater than {min} and less than {max}.", _l("Must be greater than %(min)s and less than %(max)s.")),
    ("Must be greater than or equal to {min}.", _l("Must be greater than or equal to %(min)s.")),
    ("Must be greater than {min}.", _l("Must be greater than %(min)s.")),
    ("Must be less than or equal to {max}.", _l("Must be less than or equal to %(max)s.")),
    ("Must be less than {max}.", _l("Must be less than %(max)s.")),
)
_WORDY_VALUES = frozenset({"choices"})


def _english_pattern(template: str) -> re.Pattern[str]:
    """A marshmallow message template as a pattern that reads its values back out of the formatted message."""
    parts = re.split(r"\{(\w+)\}", template)
    pattern = ""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            pattern += re.escape(part)
        else:
            pattern += f"(?P<{part}>.+)" if part in _WORDY_VALUES else f"(?P<{part}>\\S+)"
    return re.compile(pattern)


_VALIDATION_MESSAGES = tuple((_english_pattern(english), ours) for english, ours in _MARSHMALLOW_MESSAGES)


def validation_message(text: str) -> str:
    """One of marshmallow's English messages in the reader's language; any other message as it is."""
    for pattern, ours in _VALIDATION_MESSAGES:
        match = pattern.fullmatch(text)
        if match is not None:
            return str(ours.params_with(**match.groupdict()))
    return text


def _flatten(details: Any, path: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages ({"values": {"user_name": [...]}, "ids": {0: [...]}}) by dotted field path."""
    found: dict[str, list[str]] = {}
    if isinstance(details, Mapping):
        for key, value in details.items():
            for name, texts in _flatten(value, f"{path}.{key}" if path else str(key)).items():
                found.setdefault(name, []).extend(texts)
    elif isinstance(details, list | tuple):
        for item in details:
            for name, texts in _flatten(item, path).items():
                found.setdefault(name, []).extend(texts)
    else:
        found.setdefault(path, []).append(validation_message(str(details)))
    return found


def request_field_errors(messages: Mapping[Any, Any]) -> dict[str, list[str]]:
    """webargs' validation details, ``{location: {field: [message, …]}}``, as the API's one error shape: field name
    → messages in the reader's language. A field named in two locations of the same request keeps its location
    (``query.page``, ``json.page``); a nested field is named by its path (``values.user_name``, ``ids.0``)."""
    by_location = {str(location): _flatten(details) for location, details in messages.items()}
    seen = Counter(name for fields in by_location.values() for name in fields)
    flat: dict[str, list[str]] = {}
    for location, fields in by_location.items():
        for name, texts in fields.items():
            key = f"{location}.{name}" if name and seen[name] > 1 else name or location
            flat.setdefault(key, []).extend(texts)
    return flat


def http_error_response(exc: HTTPException) -> Response | tuple[str, int]:
    status = exc.code or 500
    message = _http_messages().get(status, exc.description or "")
    if wants_json():
        fields = None
        data = getattr(exc, "data", None)  # webargs/marshmallow validation details
        if isinstance(data, dict) and isinstance(data.get("messages"), Mapping):
            fields = request_field_errors(data["messages"])
        response = json_error(status, HTTP_ERROR_CODES.get(status, "http_error"), message, fields)
        for header, value in exc.get_headers():
            if header.lower() not in {"content-type", "content-length"}:
                response.headers[header] = value
        return response
    return error_page(status, message)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError) -> Response | tuple[str, int]:
        if wants_json():
            response = jsonify(exc.as_json())
            response.status_code = exc.status
            return response
        return error_page(exc.status, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | tuple[str, int]:
        original = getattr(exc, "original_exception", None)  # a failure after the view (the commit)
        if original is not None and is_contention(original):
            return _unexpected(original)
        return http_error_response(exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response | tuple[str, int]:
        if isinstance(exc, HTTPException):
            return http_error_response(exc)
        if is_contention(exc):
            log.warning("database busy on %s %s: %s", request.method, request.path, str(exc).splitlines()[0])
            busy = ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS)
            response = http_error_response(busy)
            if isinstance(response, tuple):
                response = Response(response[0], status=503, mimetype="text/html")
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return json_error(500, "internal_error", _http_messages()[500])
        return error_page(500, _http_messages()[500])
