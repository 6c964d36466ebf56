"""``/api/v1/filings``: list, draft, read, update a draft, take the workflow's steps, approve several at once.

Errors: 404 for a filing the caller may not see, 409 for a step the state or the caller's role does not allow,
422 for invalid values (``fields`` names them); nothing changes on any error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from sqlalchemy.orm import joinedload

from accounts.queries import organization_by_code
from core.api import API_PREFIX
from core.api import ApiBlueprint as Blueprint
from core.errors import PermissionDenied
from core.extensions import db
from core.messages import message as _l
from core.security import allow
from core.web import paginate
from core.workflow import IllegalTransition
from filing import operations, queries
from filing.models import Filing
from filing.permissions import Action
from filing.schemas import (
    ApprovedSchema,
    ApproveManySchema,
    FilingListArgsSchema,
    FilingPageSchema,
    FilingSchema,
    FilingValuesSchema,
    StepResultSchema,
    StepSchema,
)
from filing.workflow import action_names

blp = Blueprint("filings_api", __name__, url_prefix=f"{API_PREFIX}/filings", description="IP address filings")
STEPS = ("submit", "approve", "return", "reject", "change", "cancel", "withdraw", "delete")


def _shown(filing: Filing) -> Filing:
    filing.actions = action_names(filing, current_user)  # type: ignore[attr-defined]
    return filing


def _visible(filing_id: int) -> Filing:
    filing = queries.visible_filing(db.session, current_user, filing_id)
    if filing is None:
        abort(404)
    return filing


def _filter(args: dict[str, Any]) -> queries.FilingFilter:
    filer = None
    if args.get("filer"):
        organization = organization_by_code(db.session, args["filer"])
        filer = organization.id if organization is not None else -1
    return queries.FilingFilter(
        state=args.get("state"), filing_type=args.get("type"), filer=filer, district=args.get("district"),
        family=args.get("family"), since=args.get("since"), until=args.get("until"), due=args.get("due"),
        q=args.get("q"), queue=args.get("view") == "queue",
    )  # fmt: skip


@blp.route("")
class Filings(MethodView):
    @allow(Action.VIEW_FILING)
    @blp.arguments(FilingListArgsSchema, location="query")
    @blp.response(200, FilingPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The filings the caller may see, filtered, a page at a time (the review queue with ``view=queue``)."""
        stmt = queries.filtered(db.session, current_user, _filter(args), today=operations.today_for(db.session))
        page = paginate(db.session, stmt.options(joinedload(Filing.user_organization)), args["page"], args["per_page"])
        return {"items": [_shown(f) for f in page.items], "meta": page}

    @allow(Action.FILE)
    @blp.arguments(FilingValuesSchema)
    @blp.response(201, FilingSchema)
    def post(self, values: dict[str, Any]) -> Filing:
        """A draft filing of the caller's organization."""
        filing = operations.create_filing(db.session, values, filer=current_user.organization, actor=current_user)
        return _shown(filing)


@blp.route("/<int(max=2147483647):filing_id>")
@allow(Action.VIEW_FILING)
class FilingById(MethodView):
    @blp.response(200, FilingSchema)
    def get(self, filing_id: int) -> Filing:
        """One filing, with what the caller may do with it now."""
        return _shown(_visible(filing_id))

    @blp.arguments(FilingValuesSchema)
    @blp.response(200, FilingSchema)
    def patch(self, values: dict[str, Any], filing_id: int) -> Filing:
        """Update a draft (or correct a returned filing); a submitted or approved filing is changed with
        ``POST …/change``."""
        filing = _visible(filing_id)
        with _as_conflict():
            operations.update_filing(db.session, filing, values, actor=current_user)
        return _shown(filing)


@blp.route("/<int(max=2147483647):filing_id>/<any(" + ",".join(STEPS) + "):step>")
@allow(Action.VIEW_FILING)
class FilingStep(MethodView):
    @blp.arguments(StepSchema)
    @blp.response(200, StepResultSchema)
    def post(self, body: dict[str, Any], filing_id: int, step: str) -> dict[str, Any]:
        """Take a step of the filing's workflow: submit, change (with ``values``), cancel, withdraw, delete (the
        filer); approve, return (``comment``, ``field_comments``), reject (``reason``) (regulators)."""
        filing = _visible(filing_id)
        warnings: list[Any] = []
        text = body.get("reason") or body.get("comment")
        with _as_conflict():
            if step == "submit":
                warnings = operations.submit_filing(db.session, filing, actor=current_user).warnings
            elif step == "change":
                warnings = operations.change_filing(db.session, filing, body.get("values") or {},
                                                    actor=current_user).warnings  # fmt: skip
            elif step == "approve":
                warnings = operations.approve_filing(db.session, filing, actor=current_user,
                                                     comment=body.get("comment")).warnings  # fmt: skip
            elif step == "return":
                operations.return_filing(db.session, filing, actor=current_user, comment=body.get("comment"),
                                         field_comments=body.get("field_comments"))  # fmt: skip
            elif step == "reject":
                operations.reject_filing(db.session, filing, actor=current_user, reason=text)
            elif step == "cancel":
                operations.cancel_filing(db.session, filing, actor=current_user, reason=text)
            elif step == "withdraw":
                operations.withdraw_change(db.session, filing, actor=current_user)
            else:
                operations.delete_draft(db.session, filing, actor=current_user)
                return {"filing": filing, "warnings": []}
        return {"filing": _shown(filing), "warnings": [str(w) for w in warnings]}


@blp.route("/approve")
class ApproveMany(MethodView):
    @allow(Action.VIEW_FILING)
    @blp.arguments(ApproveManySchema)
    @blp.response(200, ApprovedSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Approve several filings, all or nothing: a 409 names each id that cannot be approved and why."""
        with _as_conflict():
            approved = operations.approve_filings(db.session, body["ids"], actor=current_user)
        return {"items": [_shown(f) for f in approved]}


@contextmanager
def _as_conflict() -> Iterator[None]:
    """A step the caller's role does not allow on a filing it can see is a 409, as a step the state does not
    allow (the API's promise: 409 for a transition, 404 for what the caller may not see)."""
    try:
        yield
    except PermissionDenied:
        raise IllegalTransition(_l("Your role does not allow this step on this filing.")) from None
