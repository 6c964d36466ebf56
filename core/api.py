"""The ``/api/v1`` REST API: flask-smorest generates the OpenAPI 3 document from the code."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Flask, Request, render_template, url_for
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import Schema, fields, validate
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser

from core.errors import Message, PermissionDenied, ValidationFailed
from core.security import PUBLIC_ENDPOINTS, public

API_PREFIX = "/api/v1"
MAX_PAGE_SIZE = 500
MAX_PAGE_NUMBER = 100_000


class JsonBodyParser(FlaskParser):
    """Reads JSON bodies through the application's JSON provider (``core.web.SafeJSONProvider``), so the API
    refuses deep, oversized-number or unstorable JSON with a 400 exactly as the rest of the application does."""

    def _raw_load_json(self, req: Request) -> Any:
        if not webargs_core.is_json(req.mimetype):
            return webargs_core.missing
        return req.get_json()


class ApiBlueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = JsonBodyParser()


ERROR_SHAPE = """Every error, whatever the route and the status, is one JSON object:

```json
{"error": {"code": "validation_failed", "message": "The input is not valid.",
           "fields": {"per_page": ["Must be greater than or equal to 1 and less than or equal to 500."]}}}
```

- `code`: a stable name to program against (`unauthorized`, `forbidden`, `not_found`, `conflict`,
  `validation_failed`, `too_many_requests`, `busy`, …);
- `message`: what went wrong, in the reader's language (`Accept-Language: zh-CN` or `en`);
- `fields` (only when input is wrong): field name → the messages about that field, in the same language. A nested
  field is named by its path (`values.user_name`, `ids.0`); a field named in two places of one request (the query
  string and the body) keeps its place in front (`query.page`, `json.page`)."""

AUTHENTICATION = """Send an API token as `Authorization: Bearer v6b_…` (each user makes named, expiring tokens on their
account page; a read-only token may only read). A browser session's cookie works too; requests that change
state with it carry the CSRF token in an `X-CSRFToken` header. Without either the API answers 401."""


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"description": "A stable name of the error."})
    message = fields.String(required=True, metadata={"description": "What went wrong, in the reader's language."})
    fields = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={
            "description": "Only when input is wrong: field name (a nested field by its path, a field named in two "
            "places with its place in front, as query.page) → messages in the reader's language."
        },
    )


class ApiErrorSchema(Schema):
    """The one shape of every error: the component ``ApiError`` (its name follows from the class's)."""

    class Meta:
        description = ERROR_SHAPE

    error = fields.Nested(ErrorBodySchema, required=True)


class V6Api(Api):
    # Every error is documented (and answered, by core.errors) in the one shape, the component ApiError: the
    # default and 422 responses flask-smorest documents, and the routes' alt_response(..., schema="ApiError").
    ERROR_SCHEMA = ApiErrorSchema

    def _register_error_handlers(self) -> None:
        # core.errors answers every error under /api/ in one shape: {"error": {"code", "message"}}.
        return None


api = V6Api(
    spec_kwargs={
        "info": {
            "description": "\n\n".join(
                [
                    "v6beian: IPv6 address allocation and IP-address filing.",
                    AUTHENTICATION,
                    "Every error, whatever the route and the status, has one shape: the schema `ApiError`.",
                ]
            )
        },
        "security": [{"bearer": []}, {"session": []}],
    }
)


class PageArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE_NUMBER))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class PageMetaSchema(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()


def init_app(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "v6beian")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", API_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api.init_app(app)
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "An API token: Authorization: Bearer v6b_…"}
    )
    api.spec.components.security_scheme(
        "session", {"type": "apiKey", "in": "cookie", "name": app.config.get("SESSION_COOKIE_NAME", "session")}
    )
    # The document and its reader describe the API, not data; clients read them before they have credentials.
    PUBLIC_ENDPOINTS.add(f"{api._make_doc_blueprint_name()}.openapi_json")
    app.register_blueprint(docs_bp)


docs_bp = Blueprint("api_docs", __name__)


@docs_bp.get(f"{API_PREFIX}/docs")
@public
def reference() -> str:
    """The interactive API reference: Swagger UI (vendored under static/, no CDN) on the OpenAPI document."""
    return render_template("api_docs.html", spec_url=url_for(f"{api._make_doc_blueprint_name()}.openapi_json"))


def documented_errors(blueprint: SmorestBlueprint, *statuses: int) -> Callable[[Any], Any]:
    """Document the error responses of a route in the one error shape (``ApiErrorSchema``)."""

    def document(view: Any) -> Any:
        for status in statuses:
            view = blueprint.alt_response(status, schema="ApiError")(view)
        return view

    return document


@contextmanager
def named_as_in_the_body(names: Mapping[str, str]) -> Iterator[None]:
    """A refused value is named as the body names it (``names``: the operation's name → the body's)."""
    try:
        yield
    except ValidationFailed as failure:
        failure.fields = {names.get(name, name): messages for name, messages in failure.fields.items()}
        raise


@contextmanager
def refused_step_as_conflict(message: Message) -> Iterator[None]:
    """A step the caller's role does not allow on an object it can see is a 409, as a step the state does not
    allow (the API's promise: 409 for a transition, 404 for what the caller may not see)."""
    from core.workflow import IllegalTransition

    try:
        yield
    except PermissionDenied:
        raise IllegalTransition(message) from None
