"""The ``/api/v1`` REST API: flask-smorest generates the OpenAPI 3 document from the code."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api
from marshmallow import Schema, fields, validate

from core.security import PUBLIC_ENDPOINTS

API_PREFIX = "/api/v1"
MAX_PAGE_SIZE = 500


class V6Api(Api):
    def _register_error_handlers(self) -> None:
        # core.errors answers every error under /api/ in one shape: {"error": {"code", "message"}}.
        return None


api = V6Api(
    spec_kwargs={
        "info": {
            "description": "v6beian: IPv6 address allocation and IP-address filing. Every error is "
            '{"error": {"code": "...", "message": "...", "fields": {...}}}.'
        }
    }
)


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class PageArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
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
    api.spec.components.schema("ApiError", schema=ErrorSchema)
    api.spec.components.security_scheme(
        "session", {"type": "apiKey", "in": "cookie", "name": app.config.get("SESSION_COOKIE_NAME", "session")}
    )
    # The document describes the API, not data; clients read it before they have credentials.
    PUBLIC_ENDPOINTS.add(f"{api._make_doc_blueprint_name()}.openapi_json")
