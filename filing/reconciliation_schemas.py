"""API representations of reconciliation runs, their findings and the cases reviewers keep on them
(``/api/v1/reconciliations``).

A run names carriers by their codes, as the rest of the API does; the database keeps ids. ``shown_run`` and
``shown_finding`` put a run and a finding in the shape the schemas describe, given the codes (and cases) the
handler read for the whole page at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, fields, validate

from core.api import PageArgsSchema, PageMetaSchema
from filing.choices import CaseState, RunScope
from filing.models import FindingCase, ReconciliationFinding, ReconciliationRun
from filing.reconcile import FindingType
from ipam.request_schemas import BlockReference

FINDING_TYPES = [t.value for t in FindingType if t is not FindingType.MATCHED]  # matched pairs are only counted
NO_CARRIER = ""  # the key of the counts of records no carrier handed on


class RunStartSchema(Schema):
    scope = fields.String(required=True, validate=validate.OneOf([s.value for s in RunScope]),
                          metadata={"description": "all: the whole city (regulators); carrier: one carrier's "
                                                   "records and filings; block: one registered block"})  # fmt: skip
    carrier = fields.String(load_default=None, validate=validate.Length(max=32),
                            metadata={"description": "scope carrier: the carrier's code"})  # fmt: skip
    block = BlockReference(load_default=None, metadata={"description": "scope block: the block's id or network"})


class RunSchema(Schema):
    id = fields.Integer()
    scope = fields.String(metadata={"description": "all, carrier or block"})
    carrier = fields.String(allow_none=True, metadata={"description": "The carrier's code (scope carrier)"})
    block = fields.String(allow_none=True, metadata={"description": "The block (scope block)"})
    state = fields.String(metadata={"description": "queued, running, done or failed: poll until done or failed"})
    started_by = fields.String()
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    records = fields.Integer(metadata={"description": "Registry records compared"})
    filings = fields.Integer(metadata={"description": "Standing filings compared"})
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(),
                         metadata={"description": "Finding type → how many (matched included)"})  # fmt: skip
    carrier_counts = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String(),
                                                                          values=fields.Integer()),
                                 metadata={"description": "Carrier code → finding type → how many (\"\": records "
                                                          "no carrier handed on)"})  # fmt: skip
    # Not "error": that name is the error shape's alone (every error answer is {"error": {...}}).
    failure = fields.String(allow_none=True, metadata={"description": "failed: what went wrong"})
    url = fields.String(metadata={"description": "Where to poll the run"})


class RunDetailSchema(RunSchema):
    previous = fields.Integer(allow_none=True, metadata={"description": "The previous run of the same scope"})


class RunPageSchema(Schema):
    items = fields.List(fields.Nested(RunSchema))
    meta = fields.Nested(PageMetaSchema)


class FindingListArgsSchema(PageArgsSchema):
    type = fields.String(load_default=None, validate=validate.OneOf(FINDING_TYPES))
    carrier = fields.String(load_default=None, validate=validate.Length(max=32),
                            metadata={"description": "The carrier's code"})  # fmt: skip
    district = fields.String(load_default=None, validate=validate.Regexp(r"^[0-9]{2,6}$"),
                             metadata={"description": "A division code, or its beginning (1201: the city's "
                                                      "districts)"})  # fmt: skip
    holder = fields.String(load_default=None, validate=validate.Length(max=100),
                           metadata={"description": "Part of the holder's name, or its USCC"})  # fmt: skip
    min_working_days = fields.Integer(load_default=None, validate=validate.Range(min=0, max=100_000),
                                      metadata={"description": "unfiled: at least this many working days since "
                                                               "the allocation"})  # fmt: skip
    late = fields.Boolean(load_default=None, metadata={"description": "unfiled: past the filing deadline"})
    case = fields.String(load_default=None, validate=validate.OneOf([s.value for s in CaseState]),
                         metadata={"description": "What reviewers did: open (nothing yet, or reopened), "
                                                  "acknowledged or assigned"})  # fmt: skip


class PartySchema(Schema):
    id = fields.Integer(allow_none=True, metadata={"description": "The organization on the platform, when linked"})
    name = fields.String(allow_none=True)
    uscc = fields.String(allow_none=True)


class RecordSideSchema(Schema):
    prefix_id = fields.Integer()
    block = fields.String()
    holder = fields.Nested(PartySchema)


class FilingSideSchema(Schema):
    filing_id = fields.Integer()
    block = fields.String()
    user = fields.Nested(PartySchema)
    filer = fields.Nested(PartySchema)


class CaseSchema(Schema):
    state = fields.String(metadata={"description": "open, acknowledged or assigned"})
    assignee = fields.Function(lambda case: case.assignee.username if case.assignee is not None else None,
                               allow_none=True)  # fmt: skip
    comment = fields.String(allow_none=True)
    updated_at = fields.DateTime()


class FindingSchema(Schema):
    id = fields.Integer()
    type = fields.String(metadata={"description": ", ".join(FINDING_TYPES)})
    block = fields.String(metadata={"description": "The record's block, else the filing's"})
    record = fields.Nested(RecordSideSchema, allow_none=True, metadata={"description": "The registry's side"})
    filing = fields.Nested(FilingSideSchema, allow_none=True)
    other_filing = fields.Nested(FilingSideSchema, allow_none=True,
                                 metadata={"description": "overlapping-filings: the second filing"})  # fmt: skip
    extra = fields.List(fields.String(), metadata={"description": "size-mismatch: filed beyond the record"})
    missing = fields.List(fields.String(), metadata={"description": "size-mismatch: the record's space not filed"})
    others = fields.List(fields.Integer(),
                         metadata={"description": "filed-not-assigned: the records of other holders there"})  # fmt: skip
    carrier = fields.String(allow_none=True, metadata={"description": "The carrier's code"})
    district = fields.String(allow_none=True)
    allocated_on = fields.Date(allow_none=True)
    working_days = fields.Integer(allow_none=True, metadata={"description": "unfiled: since the allocation"})
    late = fields.Boolean(metadata={"description": "unfiled: past the filing deadline"})
    fingerprint = fields.String(metadata={"description": "What it is about: the same in later runs while nothing "
                                                         "about it changes"})  # fmt: skip
    case = fields.Nested(CaseSchema, allow_none=True)


class FindingPageSchema(Schema):
    items = fields.List(fields.Nested(FindingSchema))
    meta = fields.Nested(PageMetaSchema)


class DiffSchema(Schema):
    previous = fields.Integer(allow_none=True, metadata={"description": "The previous run of the same scope (none: "
                                                                        "every finding is new)"})  # fmt: skip
    new = fields.Integer()
    resolved = fields.Integer()
    still_open = fields.Integer()


class FindingStepSchema(Schema):
    comment = fields.String(load_default=None, validate=validate.Length(max=2000),
                            metadata={"description": "acknowledge, assign: why (required)"})  # fmt: skip
    assignee = fields.String(load_default=None, validate=validate.Length(max=64),
                             metadata={"description": "assign: the username of whom to assign it to"})  # fmt: skip


def carrier_code(codes: Mapping[int, str], carrier_id: int | None) -> str | None:
    """A carrier's code; one no longer on the platform by its id."""
    if carrier_id is None:
        return None
    return codes.get(carrier_id, str(carrier_id))


def shown_run(run: ReconciliationRun, codes: Mapping[int, str], *, url: str, **extra: Any) -> dict[str, Any]:
    by_carrier = {
        carrier_code(codes, int(key)) if key.isdigit() else NO_CARRIER: counts
        for key, counts in (run.carrier_counts or {}).items()
    }
    return {
        "id": run.id, "scope": run.scope, "carrier": run.carrier.code if run.carrier is not None else None,
        "block": run.block, "state": run.state, "started_by": run.started_by_name, "created_at": run.created_at,
        "started_at": run.started_at, "finished_at": run.finished_at, "records": run.records,
        "filings": run.filings, "counts": run.counts or {}, "carrier_counts": by_carrier, "failure": run.error,
        "url": url, **extra,
    }  # fmt: skip


def _filing_side(filing_id: int | None, block: str | None, user: Any, filer: Any) -> dict[str, Any] | None:
    if filing_id is None:
        return None
    return {"filing_id": filing_id, "block": block, "user": user, "filer": filer}


def shown_finding(finding: ReconciliationFinding, codes: Mapping[int, str],
                  case: FindingCase | None) -> dict[str, Any]:  # fmt: skip
    details = finding.details or {}
    record = None
    if finding.prefix_id is not None:
        record = {"prefix_id": finding.prefix_id, "block": details.get("record_block"),
                  "holder": details.get("holder")}  # fmt: skip
    return {
        "id": finding.id, "type": finding.type, "block": finding.block, "record": record,
        "filing": _filing_side(finding.filing_id, details.get("filing_block"), details.get("user"),
                               details.get("filer")),
        "other_filing": _filing_side(finding.other_filing_id, details.get("other_block"), details.get("other_user"),
                                     details.get("other_filer")),
        "extra": details.get("extra", []), "missing": details.get("missing", []), "others": details.get("others", []),
        "carrier": carrier_code(codes, finding.carrier_id), "district": finding.district,
        "allocated_on": finding.allocated_on, "working_days": finding.working_days, "late": finding.late,
        "fingerprint": finding.fingerprint, "case": case,
    }  # fmt: skip
