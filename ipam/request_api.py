"""``/api/v1/requests``: prefix requests, created, listed, read, edited and moved along their workflow
(``ipam.prefix_requests.REQUESTS``), with the approval previewed from a pool before it allocates.

Errors: 404 for a request the caller may not see, 409 for a step the state or the caller's role does not allow
(or free space that changed since the preview), 422 for invalid values (``fields`` names them); nothing changes
on any error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Response, jsonify
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from sqlalchemy.orm import selectinload

from accounts.queries import organization_by_code, organization_for_field
from core import policy
from core.api import API_PREFIX, documented_errors, named_as_in_the_body, refused_step_as_conflict
from core.api import ApiBlueprint as Blueprint
from core.errors import ValidationFailed
from core.extensions import db
from core.forms import roll_back_request
from core.messages import message as _l
from core.security import allow
from core.web import paginate
from ipam import prefix_requests, request_queries
from ipam.api import block_named
from ipam.models import PrefixRequest
from ipam.permissions import Action
from ipam.request_schemas import (
    PrefixRequestListArgsSchema,
    PrefixRequestPageSchema,
    PrefixRequestSchema,
    RequestApprovalSchema,
    RequestStepSchema,
    RequestValuesSchema,
)
from ipam.space import Strategy, format_net

blp = Blueprint("requests_api", __name__, url_prefix=f"{API_PREFIX}/requests", description="Prefix requests")
STEPS = ("submit", "withdraw", "return", "reject")  # approve has its own route: its body names the pool
# The operations name a field as the model does; the API as its body does.
BODY_NAMES = {"plan_text": "plan"}


@contextmanager
def _as_conflict() -> Iterator[None]:
    refused = _l("Your role does not allow this step on this request.")
    with refused_step_as_conflict(refused), named_as_in_the_body(BODY_NAMES):
        yield


def _shown(request: PrefixRequest) -> PrefixRequest:
    request.actions = prefix_requests.action_names(request, current_user)  # type: ignore[attr-defined]
    return request


def _visible(request_id: int) -> PrefixRequest:
    request = request_queries.visible_request(db.session, current_user, request_id)
    if request is None:
        abort(404)
    return request


def _organization_id(code: str | None) -> int | None:
    if not code:
        return None
    organization = organization_by_code(db.session, code)
    return organization.id if organization is not None else -1  # an unknown code matches nothing


def _values(body: dict[str, Any]) -> dict[str, Any]:
    """The body's values as the operations take them: the provider an organization, not its code."""
    if "provider" in body:
        body["provider"] = organization_for_field(db.session, body["provider"], "provider")
    return body


@blp.route("")
class Requests(MethodView):
    @allow(Action.VIEW_REQUEST)
    @blp.arguments(PrefixRequestListArgsSchema, location="query")
    @blp.response(200, PrefixRequestPageSchema)
    @documented_errors(blp, 401, 403)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The requests the caller may see, the latest first, a page at a time (with ``view=queue``: those waiting
        for the caller's organization's decision, the oldest first)."""
        flt = request_queries.RequestFilter(
            state=args["state"],
            requester_id=_organization_id(args["requester"]),
            provider_id=_organization_id(args["provider"]),
            queue=args["view"] == "queue",
        )
        stmt = request_queries.visible_requests(current_user, flt).options(selectinload(PrefixRequest.pool))
        page = paginate(db.session, stmt, args["page"], args["per_page"])
        return {"items": [_shown(r) for r in page.items], "meta": page}

    @allow(Action.REQUEST_PREFIXES)
    @blp.arguments(RequestValuesSchema)
    @blp.response(201, PrefixRequestSchema)
    @documented_errors(blp, 401, 403)
    def post(self, body: dict[str, Any]) -> PrefixRequest:
        """A draft request of the caller's organization to a carrier or an allocator (``provider``)."""
        with named_as_in_the_body(BODY_NAMES):
            request = prefix_requests.create_request(db.session, _values(body), actor=current_user)
        return _shown(request)


@blp.route("/<int(max=2147483647):request_id>")
@allow(Action.VIEW_REQUEST)
class RequestById(MethodView):
    @blp.response(200, PrefixRequestSchema)
    @documented_errors(blp, 401, 403, 404)
    def get(self, request_id: int) -> PrefixRequest:
        """One request, with what the caller may do with it now."""
        return _shown(_visible(request_id))

    @blp.arguments(RequestValuesSchema)
    @blp.response(200, PrefixRequestSchema)
    @documented_errors(blp, 401, 403, 404, 409)
    def patch(self, body: dict[str, Any], request_id: int) -> PrefixRequest:
        """Edit a draft, or correct a returned request (any other state: 409)."""
        request = _visible(request_id)
        with _as_conflict():
            prefix_requests.update_request(db.session, request, _values(body), actor=current_user)
        return _shown(request)


@blp.route("/<int(max=2147483647):request_id>/<any(" + ",".join(STEPS) + "):step>")
@allow(Action.VIEW_REQUEST)
class RequestStep(MethodView):
    @blp.arguments(RequestStepSchema)
    @blp.response(200, PrefixRequestSchema)
    @documented_errors(blp, 401, 403, 404, 409)
    def post(self, body: dict[str, Any], request_id: int, step: str) -> PrefixRequest:
        """Take a step of the request's workflow: submit, withdraw (the requester); return (``comment``), reject
        (``reason``) (the allocator asked)."""
        request = _visible(request_id)
        with _as_conflict():
            if step == "submit":
                prefix_requests.submit_request(db.session, request, actor=current_user)
            elif step == "withdraw":
                prefix_requests.withdraw_request(db.session, request, actor=current_user)
            elif step == "return":
                prefix_requests.return_request(db.session, request, actor=current_user, comment=body["comment"])
            else:
                prefix_requests.reject_request(db.session, request, actor=current_user, reason=body["reason"])
        return _shown(request)


@blp.route("/<int(max=2147483647):request_id>/approve")
@allow(Action.VIEW_REQUEST)
class RequestApproval(MethodView):
    @blp.arguments(RequestApprovalSchema)
    @blp.response(
        200,
        PrefixRequestSchema,
        description='The request approved, with its blocks; with "preview": '
        '{"prefixes": […]}, the blocks approving would allocate now, and nothing is written.',
    )
    @documented_errors(blp, 401, 403, 404, 409)
    def post(self, body: dict[str, Any], request_id: int) -> PrefixRequest | Response:
        """Approve (the allocator asked): allocate the blocks from ``pool`` to the requester. With ``preview``,
        only say which blocks that would be; with ``expected`` (a preview's prefixes), allocate nothing if the
        free space changed since (409)."""
        request = _visible(request_id)
        with _as_conflict():
            # Who may decide is answered before the pool is looked up: a requester learns nothing of the pools.
            policy.require(current_user, Action.DECIDE_REQUEST, request)
            pool = block_named(body["pool"], "pool")
            if pool is None:
                raise ValidationFailed.on("pool", _l("Choose one of your organization's aggregates or allocations."))
            strategy = (
                Strategy(body["strategy"]) if body["strategy"] else prefix_requests.default_strategy(request, pool)
            )
            if body["preview"]:
                found = prefix_requests.preview_approval(
                    db.session, request, pool=pool, strategy=strategy, actor=current_user
                )
                roll_back_request()  # a preview writes nothing, whatever the allocation touched on the way
                return jsonify({"prefixes": [format_net(net) for net in found]})
            prefix_requests.approve_request(
                db.session,
                request,
                pool=pool,
                strategy=strategy,
                actor=current_user,
                expected=body["expected"],
                comment=body["comment"],
            )
        return _shown(request)
