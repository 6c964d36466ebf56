"""The ``/api/v1`` REST API: flask-smorest generates the OpenAPI 3 document from the code."""

from __future__ import annotations

from typing import Any

from flask import Flask, Request
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import Schema, fields, validate
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser

from core.security import PUBLIC_ENDPOINTS

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


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields = fields.Raw(
        metadata={
            "description": "What is wrong with which input, by field (and, for request "
            "arguments, by where they were read: query, json, form, files)."
        }
    )


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class DefaultErrorSchema(ErrorSchema):
    """The same shape, as flask-smorest names it for the default and 422 responses it documents."""


class V6Api(Api):
    # Every error is documented (and answered, by core.errors) in the one shape {"error": {...}}.
    ERROR_SCHEMA = DefaultErrorSchema

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
    api.spec.components.schema("ApiError", schema=ErrorSchema)
    api.spec.components.security_scheme(
        "session", {"type": "apiKey", "in": "cookie", "name": app.config.get("SESSION_COOKIE_NAME", "session")}
    )
    # The document describes the API, not data; clients read it before they have credentials.
    PUBLIC_ENDPOINTS.add(f"{api._make_doc_blueprint_name()}.openapi_json")
