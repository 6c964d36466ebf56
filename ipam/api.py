"""``/api/v1/prefixes``: the registry over HTTP."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from accounts import queries as account_queries
from accounts.models import Organization
from core import policy
from core.api import API_PREFIX, documented_errors
from core.api import ApiBlueprint as Blueprint
from core.extensions import db
from core.security import ANY_SIGNED_IN, allow
from ipam import claims, operations, queries
from ipam.choices import Source
from ipam.models import Prefix, PrefixClaim
from ipam.permissions import Action
from ipam.schemas import (
    AllocateSchema,
    AvailableArgsSchema,
    AvailableSchema,
    ClaimCreateSchema,
    ClaimDecisionSchema,
    ClaimSchema,
    PrefixCreateSchema,
    PrefixListArgsSchema,
    PrefixPageSchema,
    PrefixSchema,
    PrefixUpdateSchema,
    ReleaseArgsSchema,
    UtilizationArgsSchema,
    UtilizationSchema,
)
from ipam.space import Strategy, format_net

blp = Blueprint("ipam_api", __name__, url_prefix=f"{API_PREFIX}/prefixes", description="The prefix registry")
ERRORS = (401, 403, 404, 409, 422)
_documented_errors = documented_errors(blp, *ERRORS)


def load_visible(prefix_id: int) -> Prefix:
    """The prefix, or 404 when it does not exist or belongs to another tenant."""
    prefix = db.session.get(Prefix, prefix_id)
    if prefix is None or not policy.can(current_user, Action.VIEW_PREFIX, prefix):
        abort(404)
    return prefix


def holder_by_code(code: str | None, field: str = "holder") -> Organization | None:
    return account_queries.organization_for_field(db.session, code, field)


@blp.route("")
@allow(ANY_SIGNED_IN)
class Prefixes(MethodView):
    @blp.arguments(PrefixListArgsSchema, location="query")
    @blp.response(200, PrefixPageSchema)
    @_documented_errors
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Prefixes visible to the caller in address order, with cursor pagination."""
        if args["q"]:
            try:
                found = queries.most_specific_visible(db.session, args["q"], current_user)
            except ValueError:  # not an address or prefix: nothing contains it
                found = None
            return {"items": [found] if found is not None else [], "next_cursor": None}
        flt = queries.PrefixFilter(
            within=operations.parse_prefix(args["within"], "within") if args["within"] else None,
            contains=operations.parse_prefix(args["contains"], "contains") if args["contains"] else None,
            holder=args["holder"], kind=args["kind"], family=args["family"], usage=args["usage"],
        )  # fmt: skip
        items, cursor = queries.keyset_page(
            db.session, queries.filtered(current_user, flt, db.session), queries.decode_cursor(args["cursor"]),
            args["limit"],
        )  # fmt: skip
        return {"items": items, "next_cursor": queries.encode_cursor(cursor)}

    @allow(Action.REGISTER_PREFIXES)
    @blp.arguments(PrefixCreateSchema)
    @blp.response(201, PrefixSchema)
    @_documented_errors
    def post(self, data: dict[str, Any]) -> Prefix:
        """Register a prefix where it belongs in the tree."""
        holder = holder_by_code(data.pop("holder"))
        text = data.pop("prefix")
        return operations.add_prefix(
            db.session, text, actor=current_user, holder=holder, source=Source.API.value, **data
        )


@blp.route("/<int(max=2147483647):prefix_id>")
@allow(ANY_SIGNED_IN)
class PrefixById(MethodView):
    @blp.response(200, PrefixSchema)
    @_documented_errors
    def get(self, prefix_id: int) -> Prefix:
        """One prefix."""
        return load_visible(prefix_id)

    @allow(Action.REGISTER_PREFIXES)
    @blp.arguments(PrefixUpdateSchema)
    @blp.response(200, PrefixSchema)
    @_documented_errors
    def patch(self, data: dict[str, Any], prefix_id: int) -> Prefix:
        """Change status, usage, description, holder or pool policy."""
        prefix = load_visible(prefix_id)
        if "holder" in data:
            data["holder"] = holder_by_code(data["holder"])
        return operations.update_prefix(db.session, prefix, actor=current_user, **data)

    @allow(Action.REGISTER_PREFIXES)
    @blp.arguments(ReleaseArgsSchema, location="query")
    @blp.response(204)
    @_documented_errors
    def delete(self, args: dict[str, Any], prefix_id: int) -> None:
        """Release the prefix (with ``recursive=true``, its whole subtree)."""
        operations.release_prefix(db.session, load_visible(prefix_id), actor=current_user, recursive=args["recursive"])


@blp.route("/<int(max=2147483647):prefix_id>/available")
@allow(ANY_SIGNED_IN)
class Available(MethodView):
    @blp.arguments(AvailableArgsSchema, location="query")
    @blp.response(200, AvailableSchema(many=True))
    @_documented_errors
    def get(self, args: dict[str, Any], prefix_id: int) -> list[dict[str, str]]:
        """Free blocks, or with ``length`` the free /length candidates in first-fit order."""
        prefix = load_visible(prefix_id)
        policy.require(current_user, Action.VIEW_LAYOUT, prefix)
        found = queries.find_available(db.session, prefix, args["length"], args["limit"])
        return [{"prefix": format_net(n)} for n in found]


@blp.route("/<int(max=2147483647):prefix_id>/allocate")
@allow(ANY_SIGNED_IN)
class Allocate(MethodView):
    @allow(Action.REGISTER_PREFIXES)
    @blp.arguments(AllocateSchema)
    @blp.response(201, PrefixSchema(many=True))
    @_documented_errors
    def post(self, data: dict[str, Any], prefix_id: int) -> list[Prefix]:
        """Allocate ``count`` prefixes of ``length`` (all or none); 409 when the space runs out."""
        parent = load_visible(prefix_id)
        strategy = Strategy(data["strategy"]) if data["strategy"] else parent.default_strategy_enum
        request = operations.AllocationRequest(
            data["length"], data["count"], strategy, data["kind"], data["usage"], data["description"]
        )
        return operations.allocate_prefixes(
            db.session,
            parent,
            request,
            holder=holder_by_code(data["holder"]),
            actor=current_user,
            source=Source.API.value,
        )


@blp.route("/<int(max=2147483647):prefix_id>/utilization")
@allow(ANY_SIGNED_IN)
class UtilizationView(MethodView):
    @blp.arguments(UtilizationArgsSchema, location="query")
    @blp.response(200, UtilizationSchema)
    @_documented_errors
    def get(self, args: dict[str, Any], prefix_id: int) -> dict[str, Any]:
        """Used and free space in /48, /56 or /64 units, exact, and the RFC 3194 HD ratio."""
        prefix = load_visible(prefix_id)
        usage = queries.prefix_utilization(db.session, prefix, unit_length=args["unit"])
        return {
            "prefix": prefix.network,
            "unit": f"/{usage.unit_length}",
            "total_units": str(usage.units(usage.total)),
            "used_units": str(usage.used_units),
            "free_units": str(usage.free_units),
            "percent": usage.percent,
            "hd_ratio": usage.hd_ratio,
            "children": queries.visible_child_count(db.session, prefix, current_user),
        }


claims_blp = Blueprint(
    "claims_api", __name__, url_prefix=f"{API_PREFIX}/prefix-claims", description="Claims to top-level blocks"
)


@claims_blp.route("")
@allow(Action.VIEW_CLAIMS)
class Claims(MethodView):
    @claims_blp.response(200, ClaimSchema(many=True))
    @claims_blp.alt_response(403, schema="ApiError")
    def get(self) -> list[PrefixClaim]:
        """The 200 most recent claims the caller may see, waiting ones first."""
        return list(db.session.scalars(queries.visible_claims(current_user).limit(200)))

    @allow(Action.CLAIM_PREFIX)
    @claims_blp.arguments(ClaimCreateSchema)
    @claims_blp.response(201, ClaimSchema)
    @claims_blp.alt_response(403, schema="ApiError")
    @claims_blp.alt_response(422, schema="ApiError")
    def post(self, data: dict[str, Any]) -> PrefixClaim:
        """Claim a top-level block for the caller's organization; a regulator administrator decides it."""
        return claims.claim_prefix(db.session, data["prefix"], kind=data["kind"], reason=data["reason"],
                                   actor=current_user)  # fmt: skip


@claims_blp.route("/<int(max=2147483647):claim_id>/<action>")
@allow(Action.VIEW_CLAIMS)
class ClaimDecision(MethodView):
    @claims_blp.arguments(ClaimDecisionSchema)
    @claims_blp.response(200, ClaimSchema)
    @claims_blp.alt_response(403, schema="ApiError")
    @claims_blp.alt_response(404, schema="ApiError")
    @claims_blp.alt_response(409, schema="ApiError")
    def post(self, data: dict[str, Any], claim_id: int, action: str) -> PrefixClaim:
        """Confirm, reject or withdraw a claim (``action``), as the claims' transition table allows."""
        claim, step = queries.visible_claim(db.session, claim_id, action, current_user) or abort(404)
        return claims.decide_claim(db.session, claim, step, actor=current_user, note=data["note"])


def block_named(reference: int | str, field: str) -> Prefix | None:
    """The registered block a body names by id or by network text, if the caller may see it (else None: a block
    of another tenant is as unknown as one that does not exist)."""
    if isinstance(reference, int):
        found = db.session.get(Prefix, reference)
    else:
        found = queries.get_prefix(db.session, operations.parse_prefix(reference, field))
    return found if found is not None and policy.can(current_user, Action.VIEW_PREFIX, found) else None
