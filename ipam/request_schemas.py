"""API representations of prefix requests (``/api/v1/requests``) and subnet plans (``/api/v1/plans``).

The schemas check the shape of a body (types, sizes); the operations (``ipam.prefix_requests``, ``ipam.plans``)
own every rule about the values, so the pages, the API and the CLI refuse the same things with the same words.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from accounts.schemas import OrganizationSummarySchema
from core.api import PageArgsSchema, PageMetaSchema
from core.errors import ValidationFailed
from core.messages import message as _l
from ipam import operations, plans
from ipam.choices import MAX_REQUESTED_SITES, REQUEST_LENGTHS, RequestState
from ipam.prefix_requests import MAX_TEXT
from ipam.schemas import STRATEGIES, USAGES
from ipam.space import Net

MAX_ID = 2**31 - 1
MAX_NETWORK_TEXT = 64  # the longest IPv6 prefix as text is 43 characters; spaces around it are forgiven


class BlockReference(fields.Field):
    """A registered block named by its id (an integer) or by its network text (``2001:db8::/48``); the handler
    looks it up, so an unknown one is refused the same way either way."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {
            "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string"}],
            **kwargs.get("metadata", {}),
        }
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int | str:
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID:
            return value
        if isinstance(value, str) and value.strip() and len(value) <= MAX_NETWORK_TEXT:
            return value.strip()
        raise ValidationError(str(_l("Give a prefix id or a prefix, such as 2001:db8::/48.")))


class NetworkText(fields.String):
    """A prefix as text (``2001:db8::/48``), loaded as a ``Net``; refused with the registry's own words."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Net:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return operations.parse_prefix(text.strip())
        except ValidationFailed as refused:
            raise ValidationError([str(m) for messages in refused.fields.values() for m in messages]) from None


class PlanDocument(fields.Field):
    """A subnet plan (``ipam.plan_format``) as YAML or JSON text, or as a JSON object; loaded as text, the form
    every reader of plans takes (an object is kept as indented JSON)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {"oneOf": [{"type": "string"}, {"type": "object"}], **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, Mapping):
            return json.dumps(value, ensure_ascii=False, indent=2)
        raise ValidationError(str(_l("Give the plan as YAML or JSON text, or as a JSON object.")))


# -- prefix requests -----------------------------------------------------------------------------------------------


class RequestValuesSchema(Schema):
    """The requester's fields (all optional on a draft; submitting needs what a request must hold). Their rules
    are the operation's (``ipam.prefix_requests.field_errors``)."""

    provider = fields.String(allow_none=True, metadata={"description": "Code of the carrier or allocator asked"})
    site_count = fields.Integer(metadata={"description": f"How many blocks: 1 to {MAX_REQUESTED_SITES}"})
    prefix_len = fields.Integer(metadata={"description": "The size of each block", "enum": list(REQUEST_LENGTHS)})
    purpose = fields.String(allow_none=True)
    usage = fields.String(allow_none=True, metadata={"enum": USAGES})
    locations = fields.List(
        fields.String(), allow_none=True, metadata={"description": "Division codes (GB/T 2260) of the sites"}
    )
    justification = fields.String(allow_none=True)
    plan_text = PlanDocument(
        data_key="plan", allow_none=True, metadata={"description": "A subnet plan showing the need (YAML or JSON)"}
    )


class RequestBlockSchema(Schema):
    network = fields.String()
    prefix_id = fields.Integer(allow_none=True, metadata={"description": "null once the block was released"})


class PrefixRequestSchema(Schema):
    id = fields.Integer()
    state = fields.String(metadata={"enum": [s.value for s in RequestState]})
    requester = fields.Nested(OrganizationSummarySchema)
    provider = fields.Nested(OrganizationSummarySchema)
    site_count = fields.Integer()
    prefix_len = fields.Integer()
    asked = fields.String(metadata={"description": "What is asked, as people say it: 2 × /48"})
    purpose = fields.String()
    usage = fields.String(allow_none=True)
    locations = fields.List(fields.String())
    justification = fields.String()
    plan = fields.String(attribute="plan_text", allow_none=True)
    decision_note = fields.String(allow_none=True, metadata={"description": "The allocator's comment or reason"})
    submitted_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    pool = fields.Function(
        lambda r: r.pool.network if r.pool is not None else None,
        metadata={
            "type": "string",
            "nullable": True,
            "description": "The block the approved blocks were allocated from",
        },
    )
    strategy = fields.String(allow_none=True)
    blocks = fields.List(fields.Nested(RequestBlockSchema))
    actions = fields.List(
        fields.String(),
        metadata={"description": "What the caller may do now: update (PATCH), or POST /api/v1/requests/{id}/{action}"},
    )
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PrefixRequestPageSchema(Schema):
    items = fields.List(fields.Nested(PrefixRequestSchema))
    meta = fields.Nested(PageMetaSchema)


class PrefixRequestListArgsSchema(PageArgsSchema):
    state = fields.String(load_default=None, validate=validate.OneOf([s.value for s in RequestState]))
    view = fields.String(
        load_default=None,
        validate=validate.OneOf(["queue"]),
        metadata={"description": "queue: waiting for the caller's organization, the oldest first"},
    )
    requester = fields.String(
        load_default=None,
        validate=validate.Length(max=32),
        metadata={"description": "The requesting organization's code"},
    )
    provider = fields.String(
        load_default=None,
        validate=validate.Length(max=32),
        metadata={"description": "The code of the organization asked"},
    )


class RequestStepSchema(Schema):
    comment = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=MAX_TEXT),
        metadata={"description": "return: what to correct"},
    )
    reason = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=MAX_TEXT),
        metadata={"description": "reject: the reason"},
    )


class RequestApprovalSchema(Schema):
    pool = BlockReference(
        required=True,
        metadata={"description": "The allocator's aggregate or allocation to allocate from: its id or its prefix"},
    )
    strategy = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(STRATEGIES),
        metadata={"description": "Default: sparse for /48 or larger, else the pool's"},
    )
    preview = fields.Boolean(
        load_default=False,
        metadata={
            "description": 'Answer {"prefixes": […]}, the blocks approving would allocate now, and write nothing'
        },
    )
    expected = fields.List(
        NetworkText(),
        load_default=None,
        validate=validate.Length(max=MAX_REQUESTED_SITES),
        metadata={
            "description": "The prefixes a preview showed: if approving would allocate "
            "others now, nothing is allocated (409)"
        },
    )
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=MAX_TEXT))


# -- subnet plans --------------------------------------------------------------------------------------------------


class PlanPreviewArgsSchema(Schema):
    document = PlanDocument(required=True, validate=validate.Length(max=plans.MAX_TEXT))
    parent = NetworkText(
        load_default=None,
        allow_none=True,
        metadata={"description": "Plan in this prefix instead of the document's parent"},
    )
    previous = PlanDocument(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=plans.MAX_TEXT),
        metadata={"description": "A preview's answer: the nodes it places keep their prefixes"},
    )
    repack = fields.Boolean(load_default=False, metadata={"description": "Lay out afresh, ignoring previous"})


class PreviewNodeSchema(Schema):
    path = fields.String()
    prefix = fields.String(attribute="net")
    kept = fields.Boolean(metadata={"description": "Left where the previous plan placed it"})


class PlanPreviewSchema(Schema):
    parent = fields.String()
    nodes = fields.List(fields.Nested(PreviewNodeSchema), attribute="placements")


class PlacementSchema(Schema):
    path = fields.String()
    prefix = fields.String()


class Placements(fields.List):
    """Placements as a saved plan stores them (``[[path, prefix], …]``), shown as ``[{"path", "prefix"}, …]``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(fields.Nested(PlacementSchema), **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> list[Any] | None:
        if value is None:
            return None
        return super()._serialize([{"path": path, "prefix": prefix} for path, prefix in value], attr, obj, **kwargs)


class SavedPlanSummarySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    parent = fields.String(attribute="parent_network")
    parent_id = fields.Integer(allow_none=True, metadata={"description": "null once the block was released"})
    applied_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class SavedPlanSchema(SavedPlanSummarySchema):
    document = fields.String(attribute="text")
    placements = Placements(
        allow_none=True, metadata={"description": "Where each node lands, as last saved; null when it did not fit"}
    )
    applied = Placements(allow_none=True, metadata={"description": "The placements as last applied"})
    problem = fields.String(metadata={"description": "Why the plan does not fit in its parent now (only then)"})
    problem_path = fields.String(metadata={"description": 'The node the problem concerns ("": the whole plan)'})


class SavedPlanPageSchema(Schema):
    items = fields.List(fields.Nested(SavedPlanSummarySchema))
    meta = fields.Nested(PageMetaSchema)


class PlanValuesSchema(Schema):
    """A saved plan's fields; their rules are the operation's (``ipam.plans.save_plan``)."""

    name = fields.String()
    parent = BlockReference(metadata={"description": "The block to plan in: its id or its prefix"})
    document = PlanDocument()


class PlanCreateSchema(PlanValuesSchema):
    name = fields.String(required=True)
    parent = BlockReference(required=True, metadata={"description": "The block to plan in: its id or its prefix"})
    document = PlanDocument(required=True)


class PlanApplyArgsSchema(Schema):
    repack = fields.Boolean(load_default=False, metadata={"description": "Move the nodes applied before too"})


class AppliedBlockSchema(Schema):
    path = fields.String()
    prefix = fields.String(attribute="net")
    kind = fields.String()


class AppliedPlanSchema(Schema):
    created = fields.List(fields.Nested(AppliedBlockSchema))
    already_registered = fields.Integer(metadata={"description": "Nodes registered before, passed over"})


class ComparedNodeSchema(Schema):
    path = fields.String()
    left = fields.String(allow_none=True)
    right = fields.String(allow_none=True)
    change = fields.String(metadata={"enum": ["same", "moved", "added", "removed"]})


class PlanComparisonSchema(Schema):
    rows = fields.List(fields.Nested(ComparedNodeSchema))
