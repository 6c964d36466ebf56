"""``/api/v1/plans``: subnet plans from YAML or JSON: previewed without saving, saved as drafts, read, updated,
compared and applied through the registry writer.

Errors: 404 for a plan (or parent) the caller may not see, 409 for space taken meanwhile, 422 for a document that
is not a plan or a plan that does not fit (``fields`` names the node); nothing changes on any error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from core.api import API_PREFIX, PageArgsSchema, documented_errors, named_as_in_the_body
from core.api import ApiBlueprint as Blueprint
from core.errors import ValidationFailed
from core.extensions import db
from core.messages import message as _l
from core.security import allow
from core.web import paginate
from ipam import plan_apply, plan_format, plans
from ipam.api import block_named
from ipam.models import Prefix, SubnetPlan
from ipam.permissions import Action
from ipam.plan_format import PlanFormatError
from ipam.planner import Plan, PlanError
from ipam.request_schemas import (
    AppliedPlanSchema,
    PlanApplyArgsSchema,
    PlanComparisonSchema,
    PlanCreateSchema,
    PlanPreviewArgsSchema,
    PlanPreviewSchema,
    PlanValuesSchema,
    SavedPlanPageSchema,
    SavedPlanSchema,
)
from ipam.space import format_net

blp = Blueprint("plans_api", __name__, url_prefix=f"{API_PREFIX}/plans", description="Subnet plans")
BODY_NAMES = {"text": "document"}  # the operations' name of the plan's text → the body's


@contextmanager
def _plan_problems(field: str = "") -> Iterator[None]:
    """A document that is not a plan, or a plan that does not fit, refused as a value: ``fields`` names the place
    in the document (``nodes[0].length``) or the node (``binhai-2/ot``); the whole document is ``document``.
    ``field``: the body's field read, when it is not the plan itself (``previous``)."""
    try:
        yield
    except PlanFormatError as problem:
        where = ".".join(part for part in (field, problem.where) if part) or "document"
        raise ValidationFailed(problem.located, fields={where: [problem.message]}) from None
    except PlanError as problem:
        raise ValidationFailed(problem.message, fields={problem.path or "document": [problem.message]}) from None


def _visible(plan_id: int) -> SubnetPlan:
    saved = plans.visible_plan(db.session, current_user, plan_id)
    if saved is None:
        abort(404)
    return saved


def _parent(reference: int | str) -> Prefix:
    parent = block_named(reference, "parent")
    if parent is None:
        abort(404)
    return parent


def _shown(saved: SubnetPlan, preview: plans.Preview) -> SubnetPlan:
    """The saved plan, with why it does not fit its parent now (when it does not)."""
    if not preview.fits:
        saved.problem = preview.problem  # type: ignore[attr-defined]
        saved.problem_path = preview.path  # type: ignore[attr-defined]
    return saved


@blp.route("/preview")
class PlanPreview(MethodView):
    @allow(Action.PLAN_SUBNETS)
    @blp.arguments(PlanPreviewArgsSchema)
    @blp.response(200, PlanPreviewSchema)
    @documented_errors(blp, 401, 403)
    def post(self, body: dict[str, Any]) -> Plan:
        """Where each node of ``document`` lands in its parent (or ``parent``), around the parent's registered
        children; with ``previous`` (a preview's answer), the nodes it placed keep their prefixes unless
        ``repack``. Nothing is written."""
        with _plan_problems():
            spec = plan_format.read_plan(body["document"], parent=body["parent"])
        previous = None
        if body["previous"] is not None and not body["repack"]:
            with _plan_problems("previous"):
                earlier = plan_format.read_previous(body["previous"])
            if earlier.parent != spec.parent:
                raise ValidationFailed.on(
                    "previous",
                    _l(
                        "The previous plan divides %(previous)s, not %(parent)s.",
                        previous=format_net(earlier.parent),
                        parent=format_net(spec.parent),
                    ),
                )
            previous = earlier.prefixes
        with _plan_problems():
            return plans.lay_out(db.session, spec, actor=current_user, previous=previous)


@blp.route("")
@allow(Action.PLAN_SUBNETS)
class Plans(MethodView):
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, SavedPlanPageSchema)
    @documented_errors(blp, 401, 403)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The saved plans of the caller's organization, the latest first, a page at a time."""
        page = paginate(db.session, plans.visible_plans(current_user), args["page"], args["per_page"])
        return {"items": page.items, "meta": page}

    @blp.arguments(PlanCreateSchema)
    @blp.response(201, SavedPlanSchema)
    @documented_errors(blp, 401, 403, 404)
    def post(self, body: dict[str, Any]) -> SubnetPlan:
        """Save a plan of a block the caller's organization may plan in; one that does not fit yet is saved, with
        ``problem`` and ``problem_path`` saying why."""
        parent = _parent(body["parent"])
        with named_as_in_the_body(BODY_NAMES):
            saved, preview = plans.save_plan(
                db.session, name=body["name"], text=body["document"], parent=parent, actor=current_user
            )
        return _shown(saved, preview)


@blp.route("/<int(max=2147483647):plan_id>")
@allow(Action.PLAN_SUBNETS)
class PlanById(MethodView):
    @blp.response(200, SavedPlanSchema)
    @documented_errors(blp, 401, 403, 404)
    def get(self, plan_id: int) -> SubnetPlan:
        """One saved plan, with why it does not fit its parent now (when it does not)."""
        saved = _visible(plan_id)
        return _shown(saved, plans.preview_saved(db.session, saved, actor=current_user))

    @blp.arguments(PlanValuesSchema)
    @blp.response(200, SavedPlanSchema)
    @documented_errors(blp, 401, 403, 404)
    def patch(self, body: dict[str, Any], plan_id: int) -> SubnetPlan:
        """Change the name, the document or the parent (an applied plan stays in its parent)."""
        saved = _visible(plan_id)
        parent = _parent(body["parent"]) if "parent" in body else saved.parent
        with named_as_in_the_body(BODY_NAMES):
            saved, preview = plans.save_plan(
                db.session,
                name=body.get("name", saved.name),
                text=body.get("document", saved.text),
                parent=parent,
                actor=current_user,
                saved=saved,
            )
        return _shown(saved, preview)

    @blp.response(204)
    @documented_errors(blp, 401, 403, 404)
    def delete(self, plan_id: int) -> None:
        """Delete the saved plan; what it registered stays in the registry."""
        plans.delete_plan(db.session, _visible(plan_id), actor=current_user)


@blp.route("/<int(max=2147483647):plan_id>/apply")
@allow(Action.PLAN_SUBNETS)
class PlanApplication(MethodView):
    @blp.arguments(PlanApplyArgsSchema)
    @blp.response(200, AppliedPlanSchema)
    @documented_errors(blp, 401, 403, 404, 409)
    def post(self, body: dict[str, Any], plan_id: int) -> plan_apply.AppliedPlan:
        """Register the plan's blocks under its parent for the plan's organization, every level inside the one
        above, all or none; a re-plan creates only what is new (the nodes applied before stay in place unless
        ``repack``). 422 when the plan does not fit, 409 when its space was taken meanwhile."""
        saved = _visible(plan_id)
        with named_as_in_the_body(BODY_NAMES):
            return plans.apply_saved_plan(db.session, saved, actor=current_user, repack=body["repack"])


@blp.route("/<int(max=2147483647):plan_id>/compare/<int(max=2147483647):other_id>")
@allow(Action.PLAN_SUBNETS)
class PlanComparison(MethodView):
    @blp.response(200, PlanComparisonSchema)
    @documented_errors(blp, 401, 403, 404)
    def get(self, plan_id: int, other_id: int) -> dict[str, Any]:
        """Two saved plans side by side by node path: ``same``, ``moved``, ``added`` (only the other has it) or
        ``removed`` (only this one has it)."""
        left, right = _visible(plan_id), _visible(other_id)
        return {"rows": plans.compare(left.placements, right.placements)}
