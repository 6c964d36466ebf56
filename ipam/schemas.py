"""API representations of the prefix registry."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from ipam.choices import PrefixKind, PrefixStatus, Usage
from ipam.operations import MAX_ALLOCATION_COUNT
from ipam.space import Strategy

KINDS = [k.value for k in PrefixKind]
USAGES = [u.value for u in Usage]
STRATEGIES = [s.value for s in Strategy]


class PrefixSchema(Schema):
    id = fields.Integer()
    prefix = fields.String(attribute="network")
    family = fields.Integer()
    kind = fields.String()
    status = fields.String()
    holder = fields.Function(lambda p: p.holder.code if p.holder else None)
    parent_id = fields.Integer(allow_none=True)
    usage = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    source = fields.String()
    child_min_len = fields.Integer(allow_none=True)
    child_max_len = fields.Integer(allow_none=True)
    child_default_len = fields.Integer(allow_none=True)
    default_strategy = fields.String(allow_none=True)
    nibble_aligned = fields.Boolean()
    pool_strict = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PrefixListArgsSchema(Schema):
    within = fields.String(load_default=None)
    contains = fields.String(load_default=None)
    holder = fields.String(load_default=None)
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    family = fields.Integer(load_default=None, validate=validate.OneOf([4, 6]))
    usage = fields.String(load_default=None, validate=validate.OneOf(USAGES))
    q = fields.String(load_default=None, metadata={"description": "An address or prefix: its most specific container"})
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class PrefixPageSchema(Schema):
    items = fields.List(fields.Nested(PrefixSchema))
    next_cursor = fields.String(allow_none=True)


class PolicyFieldsMixin(Schema):
    child_min_len = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=128))
    child_max_len = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=128))
    child_default_len = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=128))
    default_strategy = fields.String(allow_none=True, validate=validate.OneOf(STRATEGIES))
    nibble_aligned = fields.Boolean()
    pool_strict = fields.Boolean(metadata={"description": "Imports must keep the policy (else a breach warns)"})


class PrefixCreateSchema(PolicyFieldsMixin):
    prefix = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    holder = fields.String(required=True, metadata={"description": "Code of the holding organization"})
    status = fields.String(
        load_default=PrefixStatus.ACTIVE.value, validate=validate.OneOf([s.value for s in PrefixStatus])
    )
    usage = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(USAGES))
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class PrefixUpdateSchema(PolicyFieldsMixin):
    status = fields.String(validate=validate.OneOf([s.value for s in PrefixStatus]))
    usage = fields.String(allow_none=True, validate=validate.OneOf(USAGES))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    holder = fields.String(allow_none=True)


class ReleaseArgsSchema(Schema):
    recursive = fields.Boolean(load_default=False)


class AvailableArgsSchema(Schema):
    length = fields.Integer(load_default=None, validate=validate.Range(min=0, max=128))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=10_000))


class AvailableSchema(Schema):
    prefix = fields.String()


class AllocateSchema(Schema):
    length = fields.Integer(required=True, validate=validate.Range(min=0, max=128))
    count = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_ALLOCATION_COUNT))
    strategy = fields.String(load_default=None, validate=validate.OneOf(STRATEGIES))
    holder = fields.String(required=True)
    kind = fields.String(load_default=PrefixKind.ASSIGNMENT.value, validate=validate.OneOf(KINDS))
    usage = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(USAGES))
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class UtilizationArgsSchema(Schema):
    unit = fields.Integer(load_default=64, validate=validate.OneOf([48, 56, 64]))


class UtilizationSchema(Schema):
    prefix = fields.String()
    unit = fields.String()
    total_units = fields.String()
    used_units = fields.String()
    free_units = fields.String()
    percent = fields.Float()
    hd_ratio = fields.Float(allow_none=True)
    children = fields.Integer()


def _claim_actions(claim: Any) -> list[str]:
    from flask_login import current_user

    from ipam.claims import available_actions

    return [action.value for action in available_actions(claim, current_user)]


class ClaimSchema(Schema):
    id = fields.Integer()
    prefix = fields.String(attribute="network")
    kind = fields.String()
    claimant = fields.Function(lambda c: c.claimant.code)
    reason = fields.String()
    status = fields.String()
    decision_note = fields.String(allow_none=True)
    prefix_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    actions = fields.Function(
        _claim_actions, metadata={"description": "What the caller may do with it now: POST .../{id}/{action}"}
    )


class ClaimCreateSchema(Schema):
    prefix = fields.String(required=True, validate=validate.Length(max=43))
    kind = fields.String(required=True, validate=validate.OneOf(["aggregate", "allocation"]))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ClaimDecisionSchema(Schema):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
