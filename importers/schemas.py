"""API representations of import batches and their problems."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.api import PageMetaSchema
from importers.models import Format, Mode
from importers.records import render


class ImportFormSchema(Schema):
    carrier = fields.String(load_default=None, validate=validate.Length(max=32),
                            metadata={"description": "Importing organization's code (regulator administrators)."})  # fmt: skip
    format = fields.String(load_default=None, validate=validate.OneOf([f.value for f in Format]))
    mode = fields.String(load_default=Mode.DELTA.value, validate=validate.OneOf([m.value for m in Mode]))
    dry_run = fields.Boolean(load_default=False)
    allow_partial = fields.Boolean(load_default=False)
    sheet = fields.String(load_default=None, validate=validate.Length(max=100))
    family = fields.Integer(load_default=None, validate=validate.OneOf([4, 6]))


class ImportFileSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class ProblemSchema(Schema):
    line = fields.Integer()
    sheet = fields.String(allow_none=True)
    column = fields.String()
    value = fields.String()
    message = fields.Function(lambda p: p.text())


class ImportBatchSchema(Schema):
    id = fields.Integer()
    file_name = fields.String()
    sha256 = fields.String()
    format = fields.String()
    carrier = fields.Function(lambda b: b.carrier.code)
    mode = fields.String()
    dry_run = fields.Boolean()
    allow_partial = fields.Boolean()
    status = fields.String()
    message = fields.Function(lambda b: render(b.message, b.message_params) if b.message else None)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    same_content_as = fields.Integer(attribute="same_content_as_id", allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    details = fields.Dict(allow_none=True)
    problems = fields.List(fields.Nested(ProblemSchema))
    problems_total = fields.Integer(attribute="errors")
    warnings = fields.Integer()
    next_batch = fields.Integer(attribute="next_batch_id", allow_none=True,
                                metadata={"description": "The batch that continued this one (confirmed, run again)."})  # fmt: skip
    previous_batch = fields.Function(
        lambda b: b.earlier.id if b.earlier is not None else None,
        metadata={"type": "integer", "nullable": True,
                  "description": "The batch this one continued (the check it loads, the run it runs again)."},
    )  # fmt: skip
    actions = fields.List(fields.String(), metadata={"description": "What the caller may do with it now: "
                                                     "POST /api/v1/imports/{id}/{action}"})  # fmt: skip


class ImportBatchSummarySchema(ImportBatchSchema):
    class Meta:
        exclude = ("problems", "details", "actions")


class ImportBatchPageSchema(Schema):
    items = fields.List(fields.Nested(ImportBatchSummarySchema))
    meta = fields.Nested(PageMetaSchema)
