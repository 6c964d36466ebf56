"""``/api/v1/reconciliations``: start a run (then poll it), read runs, their findings and the diff with the
previous run, and act on a finding. 404 for what the caller may not see, 409 for a step the state does not allow,
422 for invalid values; 403 for a scope the caller may not reconcile. Nothing changes on any error."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from sqlalchemy import Select, false

from accounts.models import User
from accounts.queries import organization_by_code, organization_for_field, user_by_username
from core import policy
from core.api import API_PREFIX, PageArgsSchema, documented_errors
from core.api import ApiBlueprint as Blueprint
from core.errors import ValidationFailed
from core.extensions import db
from core.messages import message as _l
from core.security import allow
from core.web import paginate
from filing import reconciliation, reconciliation_queries
from filing.choices import RunScope
from filing.models import FindingCase, ReconciliationFinding, ReconciliationRun
from filing.permissions import Action
from filing.reconcile import FindingType
from filing.reconciliation_queries import carrier_codes, run_carrier_ids
from filing.reconciliation_schemas import (
    CaseSchema,
    DiffSchema,
    FindingListArgsSchema,
    FindingPageSchema,
    FindingStepSchema,
    RunDetailSchema,
    RunPageSchema,
    RunSchema,
    RunStartSchema,
    shown_finding,
    shown_run,
)
from filing.tasks import run_after_commit
from ipam.api import block_named

blp = Blueprint(
    "reconciliations_api", __name__, url_prefix=f"{API_PREFIX}/reconciliations", description="Reconciliation"
)
CHANGES = ("new", "resolved", "still_open")
STEPS = ("acknowledge", "assign", "reopen")


def _visible(run_id: int) -> ReconciliationRun:
    run = reconciliation_queries.visible_run(db.session, current_user, run_id)
    if run is None:
        abort(404)
    return run


def _url(run: ReconciliationRun) -> str:
    return url_for("reconciliations_api.RunById", run_id=run.id)


def _shown_runs(runs: Sequence[ReconciliationRun]) -> list[dict[str, Any]]:
    codes = carrier_codes(db.session, [i for run in runs for i in run_carrier_ids(run)])
    return [shown_run(run, codes, url=_url(run)) for run in runs]


def _shown_findings(found: Sequence[ReconciliationFinding]) -> list[dict[str, Any]]:
    """A page of findings with their carriers' codes and their cases, each read once for the page."""
    codes = carrier_codes(db.session, [f.carrier_id for f in found])
    cases = reconciliation_queries.cases_by_fingerprint(db.session, [f.fingerprint for f in found])
    return [shown_finding(f, codes, cases.get(f.fingerprint)) for f in found]


def _finding_page(statement: Select[tuple[ReconciliationFinding]], args: dict[str, Any]) -> dict[str, Any]:
    page = paginate(db.session, statement, args["page"], args["per_page"])
    return {"items": _shown_findings(page.items), "meta": page}


def _scope(body: dict[str, Any]) -> dict[str, Any]:
    """The body's scope as ``start_run`` takes it: the carrier an organization, the block a registered block the
    caller may see (another tenant's block is as unknown as one that is not registered)."""
    scope = RunScope(body["scope"])
    values: dict[str, Any] = {"scope": scope}
    if scope is RunScope.CARRIER:
        values["carrier"] = organization_for_field(db.session, body["carrier"], "carrier")
    elif scope is RunScope.BLOCK and body["block"] is not None:
        values["block"] = block_named(body["block"], "block")
        if values["block"] is None:
            raise ValidationFailed.on("block", _l("%(prefix)s is not registered.", prefix=body["block"]))
    return values


@blp.route("")
@allow(Action.VIEW_RECONCILIATION)
class Runs(MethodView):
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, RunPageSchema)
    @documented_errors(blp, 401, 403)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The runs the caller may see, the latest first, a page at a time: every run for regulators, a carrier's
        own runs for a carrier."""
        page = paginate(db.session, reconciliation_queries.visible_runs(current_user), args["page"], args["per_page"])
        return {"items": _shown_runs(page.items), "meta": page}

    @blp.arguments(RunStartSchema)
    @blp.response(202, RunSchema, description="The run, queued; poll its url until it is done or failed.")
    @documented_errors(blp, 401, 403)
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Start a reconciliation of the whole city (regulators), of one carrier (a carrier: itself) or of one
        block. It runs on the job queue once this request commits: the answer is always the run queued."""
        run = reconciliation.start_run(db.session, actor=current_user, **_scope(body))
        run_after_commit(db.session, run.id)
        shown = _shown_runs([run])[0]
        return shown, {"Location": shown["url"]}


@blp.route("/<int(max=2147483647):run_id>")
@allow(Action.VIEW_RECONCILIATION)
class RunById(MethodView):
    @blp.response(200, RunDetailSchema)
    @documented_errors(blp, 401, 403, 404)
    def get(self, run_id: int) -> dict[str, Any]:
        """One run: its state (poll until done or failed), what it compared, its counts by type and by carrier,
        and the previous run of the same scope."""
        run = _visible(run_id)
        previous = reconciliation.previous_run(db.session, run)
        codes = carrier_codes(db.session, run_carrier_ids(run))
        return shown_run(run, codes, url=_url(run), previous=previous.id if previous is not None else None)


@blp.route("/<int(max=2147483647):run_id>/findings")
@allow(Action.VIEW_RECONCILIATION)
class RunFindings(MethodView):
    @blp.arguments(FindingListArgsSchema, location="query")
    @blp.response(200, FindingPageSchema)
    @documented_errors(blp, 401, 403, 404)
    def get(self, args: dict[str, Any], run_id: int) -> dict[str, Any]:
        """The run's findings the caller may see (a carrier: those about its own records and filings), filtered,
        in address order, a page at a time; each with both sides and what reviewers did about it."""
        run = _visible(run_id)
        carrier_id = None
        if args["carrier"]:
            carrier = organization_by_code(db.session, args["carrier"])
            carrier_id = carrier.id if carrier is not None else -1  # an unknown code matches nothing
        flt = reconciliation_queries.FindingFilter(
            type=args["type"], carrier_id=carrier_id, district=args["district"], holder=args["holder"],
            min_working_days=args["min_working_days"], late=args["late"], case_state=args["case"],
        )  # fmt: skip
        return _finding_page(reconciliation_queries.findings(current_user, run, flt), args)


@blp.route("/<int(max=2147483647):run_id>/diff")
@allow(Action.VIEW_RECONCILIATION)
class RunDiff(MethodView):
    @blp.response(200, DiffSchema)
    @documented_errors(blp, 401, 403, 404)
    def get(self, run_id: int) -> dict[str, Any]:
        """How many findings are new since the previous run of the same scope, resolved since, or still open."""
        run = _visible(run_id)
        previous = reconciliation.previous_run(db.session, run)
        if previous is None:
            # Every stored finding is new (a carrier sees only its own scope's runs: all their findings are its own).
            new = sum(n for kind, n in (run.counts or {}).items() if kind != FindingType.MATCHED.value)
            return {"previous": None, "new": new, "resolved": 0, "still_open": 0}
        diff = reconciliation.diff_counts(db.session, previous, run)
        return {"previous": previous.id, "new": diff.new, "resolved": diff.resolved, "still_open": diff.still_open}


@blp.route("/<int(max=2147483647):run_id>/diff/<any(" + ",".join(CHANGES) + "):change>")
@allow(Action.VIEW_RECONCILIATION)
class RunDiffFindings(MethodView):
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, FindingPageSchema)
    @documented_errors(blp, 401, 403, 404)
    def get(self, args: dict[str, Any], run_id: int, change: str) -> dict[str, Any]:
        """The findings new in this run, resolved since the previous run (the previous run's findings), or still
        open, a page at a time. Without a previous run every finding is new."""
        run = _visible(run_id)
        previous = reconciliation.previous_run(db.session, run)
        if previous is None:
            statement = reconciliation_queries.findings(current_user, run)
            if change != "new":
                statement = statement.where(false())
        else:
            # Both runs are of one scope: a carrier sees only its own scope's runs, whose findings are all its own.
            statement = reconciliation.diff_findings(previous.id, run.id, change)
            statement = statement.order_by(statement.selected_columns.id)  # a page needs a total order
        return _finding_page(statement, args)


@blp.route("/findings/<int(max=2147483647):finding_id>/<any(" + ",".join(STEPS) + "):step>")
@allow(Action.ACT_ON_FINDING)
class FindingStep(MethodView):
    @blp.arguments(FindingStepSchema)
    @blp.response(200, CaseSchema)
    @documented_errors(blp, 401, 403, 404, 409)
    def post(self, body: dict[str, Any], finding_id: int, step: str) -> FindingCase:
        """Acknowledge (``comment``), assign (``comment``, ``assignee``: a username) or reopen what the finding is
        about; later runs' findings about the same thing share the case."""
        finding = db.session.get(ReconciliationFinding, finding_id)
        if finding is None or not policy.can(current_user, Action.VIEW_RECONCILIATION, finding):
            abort(404)
        assignee = _assignee(body["assignee"], finding) if step == "assign" else None
        case = reconciliation.act_on_finding(db.session, finding, step, actor=current_user, comment=body["comment"],
                                             assignee=assignee)  # fmt: skip
        db.session.expire(case, ["assignee"])  # the step moved assignee_id; the answer names who it is now
        return case


def _assignee(username: str | None, finding: ReconciliationFinding) -> User | None:
    """The user a body names to assign the finding to: someone who may act on it (else as unknown as a name no one
    has, so a carrier learns nothing of other organizations' users)."""
    if not username or not username.strip():
        return None
    user = user_by_username(db.session, username.strip())
    if user is None or not policy.can(user, Action.ACT_ON_FINDING, finding):
        raise ValidationFailed.on(
            "assignee", _l("No one who may act on this finding has the username %(name)s.", name=username.strip())
        )
    return user
