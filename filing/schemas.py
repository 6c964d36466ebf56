"""API representations of filings."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.api import PageArgsSchema, PageMetaSchema
from filing.checks import block_of
from filing.choices import FilingState, FilingType

STATE_ARGS = [s.value for s in FilingState if s is not FilingState.DELETED] + ["review", "active", "with_filer"]


class FilingValuesSchema(Schema):
    """The filed fields (all optional on a draft; submission needs what the type requires)."""

    filing_type = fields.String(validate=validate.OneOf([t.value for t in FilingType]),
                                metadata={"description": "holding, allocation, assignment or reserved"})  # fmt: skip
    block = fields.String(validate=validate.Length(max=90),
                          metadata={"description": "A prefix, or a range first-last (IPv6 or IPv4)"})  # fmt: skip
    source_name = fields.String(allow_none=True, validate=validate.Length(max=200))
    user_name = fields.String(allow_none=True, validate=validate.Length(max=200))
    user_uscc = fields.String(allow_none=True, validate=validate.Length(max=18))
    user_nature = fields.String(allow_none=True, validate=validate.Length(max=32))
    user_industry = fields.String(allow_none=True, validate=validate.Length(max=32))
    user_division = fields.String(allow_none=True, validate=validate.Length(max=6))
    user_address = fields.String(allow_none=True, validate=validate.Length(max=300))
    usage = fields.String(allow_none=True, validate=validate.Length(max=32))
    allocated_on = fields.Date(allow_none=True)
    gateway_ip = fields.String(allow_none=True, validate=validate.Length(max=45))
    gateway_address = fields.String(allow_none=True, validate=validate.Length(max=300))
    contact_name = fields.String(allow_none=True, validate=validate.Length(max=100))
    contact_phone = fields.String(allow_none=True, validate=validate.Length(max=40))
    contact_email = fields.String(allow_none=True, validate=validate.Length(max=254))
    remarks = fields.String(allow_none=True, validate=validate.Length(max=2000))


class FilingSchema(FilingValuesSchema):
    id = fields.Integer()
    state = fields.String(metadata={"description": ", ".join(STATE_ARGS[:-3])})
    number = fields.String(allow_none=True)
    version = fields.Integer()
    approved_version = fields.Integer(allow_none=True)
    filer = fields.Function(lambda f: f.filer.code)
    family = fields.Integer()
    first = fields.Function(lambda f: block_of(f).first_text)
    last = fields.Function(lambda f: block_of(f).last_text)
    prefix_id = fields.Integer(allow_none=True, metadata={"description": "The registry prefix it is about"})
    source_filing_id = fields.Integer(allow_none=True)
    user_organization = fields.Function(lambda f: f.user_organization.code if f.user_organization else None)
    due_on = fields.Date(allow_none=True)
    provisional = fields.Boolean(attribute="due_provisional",
                                 metadata={"description": "The due date counts days the official calendar does "
                                                          "not know yet (Monday to Friday assumed)"})  # fmt: skip
    review_due_on = fields.Date(allow_none=True)
    review_comment = fields.String(allow_none=True)
    field_comments = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    actions = fields.List(fields.String(), metadata={"description": "What the caller may do now: update (PATCH), "
                                                     "or POST /api/v1/filings/{id}/{action}"})  # fmt: skip


class FilingPageSchema(Schema):
    items = fields.List(fields.Nested(FilingSchema))
    meta = fields.Nested(PageMetaSchema)


class FilingListArgsSchema(PageArgsSchema):
    state = fields.String(load_default=None, validate=validate.OneOf(STATE_ARGS))
    type = fields.String(load_default=None, validate=validate.OneOf([t.value for t in FilingType]))
    filer = fields.String(load_default=None, validate=validate.Length(max=32),
                          metadata={"description": "The filing organization's code"})  # fmt: skip
    district = fields.String(load_default=None, validate=validate.Regexp(r"^[0-9]{2,6}$"))
    family = fields.Integer(load_default=None, validate=validate.OneOf([4, 6]))
    since = fields.Date(load_default=None)
    until = fields.Date(load_default=None)
    due = fields.String(load_default=None, validate=validate.OneOf(["overdue", "today", "week"]))
    q = fields.String(load_default=None, validate=validate.Length(max=100),
                      metadata={"description": "An address inside a block, a block, a filing number, a USCC or "
                                               "a name"})  # fmt: skip
    view = fields.String(load_default=None, validate=validate.OneOf(["queue"]),
                         metadata={"description": "queue: awaiting review, by the review's due date"})  # fmt: skip


class StepSchema(Schema):
    comment = fields.String(load_default=None, validate=validate.Length(max=2000),
                            metadata={"description": "approve: a note; return: what to correct"})  # fmt: skip
    reason = fields.String(load_default=None, validate=validate.Length(max=2000),
                           metadata={"description": "reject, cancel: the reason"})  # fmt: skip
    field_comments = fields.Dict(keys=fields.String(validate=validate.Length(max=32)),
                                 values=fields.String(validate=validate.Length(max=1000)), load_default=None,
                                 metadata={"description": "return: comments by field name"})  # fmt: skip
    values = fields.Nested(FilingValuesSchema, load_default=None,
                           metadata={"description": "change: the changed fields"})  # fmt: skip


class ApproveManySchema(Schema):
    ids = fields.List(fields.Integer(validate=validate.Range(min=1, max=2**31 - 1)), required=True,
                      validate=validate.Length(min=1, max=500))  # fmt: skip


class StepResultSchema(Schema):
    filing = fields.Nested(FilingSchema)
    warnings = fields.List(fields.String())


class ApprovedSchema(Schema):
    items = fields.List(fields.Nested(FilingSchema))
