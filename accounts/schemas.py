"""API representations of the accounts package."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from accounts.choices import OrgKind
from core.api import PageArgsSchema, PageMetaSchema


class OrganizationSchema(Schema):
    code = fields.String()
    kind = fields.String()
    name = fields.String()
    name_en = fields.String(allow_none=True)
    uscc = fields.String(allow_none=True)
    division_code = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    contact_name = fields.String(allow_none=True)
    contact_phone = fields.String(allow_none=True)
    contact_email = fields.String(allow_none=True)


class OrganizationListArgsSchema(PageArgsSchema):
    q = fields.String(load_default=None, validate=validate.Length(max=100))
    kind = fields.String(load_default=None, validate=validate.OneOf([k.value for k in OrgKind]))


class OrganizationPageSchema(Schema):
    items = fields.List(fields.Nested(OrganizationSchema))
    meta = fields.Nested(PageMetaSchema)


class OrganizationSummarySchema(Schema):
    code = fields.String()
    kind = fields.String()
    name = fields.String()
    name_en = fields.String(allow_none=True)


class CurrentUserSchema(Schema):
    username = fields.String()
    display_name = fields.String()
    email = fields.String(allow_none=True)
    role = fields.String()
    auth_source = fields.String()
    organization = fields.Nested(OrganizationSummarySchema)
