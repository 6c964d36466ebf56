"""Reconciliation pages (``/filings/reconciliations``): the runs and starting one, a run's counts by type and by
carrier, its findings filtered and exported, the diff with the previous run, and one finding beside both sides
with what reviewers did about it.

The chart of a run's counts by carrier travels to ``static/reconciliation.js`` as a JSON data block (the
Content-Security-Policy allows no inline script); the table beside it holds the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import Select, select
from werkzeug.wrappers import Response

from accounts.models import Organization
from accounts.queries import object_history, organization_users
from core import policy
from core.errors import ValidationFailed
from core.extensions import db
from core.forms import Form
from core.messages import message as _l
from core.security import allow
from core.web import csv_response, page_number, paginate, run_form_operation
from filing import tasks
from filing.blueprint import bp
from filing.choices import FINDING_TYPE_LABELS, CaseState, RunScope, RunState
from filing.exports import xlsx_response
from filing.models import Filing, FindingCase, ReconciliationFinding, ReconciliationRun
from filing.permissions import Action
from filing.reconcile import FindingType
from filing.reconciliation import (
    CASE_OBJECT,
    CASES,
    act_on_finding,
    case_for,
    diff_counts,
    diff_findings,
    previous_run,
    scope_text,
    start_run,
)
from filing.reconciliation_exports import export_filename, finding_rows, header
from filing.reconciliation_forms import DISCREPANCIES, CaseForm, FindingFilterForm, StartRunForm
from filing.reconciliation_queries import (
    carrier_names,
    cases_by_fingerprint,
    findings,
    latest_city_run,
    unfiled_by_carrier,
    visible_run,
    visible_runs,
)
from filing.rules import normalized_name
from ipam.api import block_named
from ipam.models import Prefix
from ipam.permissions import Action as IpamAction
from ipam.prefix_requests import providers

VIEW, START, ACT = Action.VIEW_RECONCILIATION.value, Action.START_RECONCILIATION.value, Action.ACT_ON_FINDING.value
ID = "int(max=2147483647)"
REFRESH_SECONDS = 3  # a queued or running run's page reloads itself this often
# The columns of the runs list: the types most runs are about; the rest are summed as "other".
LISTED_TYPES = (FindingType.MATCHED.value, FindingType.UNFILED.value, FindingType.FILED_NOT_ASSIGNED.value,
                FindingType.HOLDER_MISMATCH.value, FindingType.SIZE_MISMATCH.value)  # fmt: skip
OTHER_TYPES = tuple(t.value for t in FindingType if t.value not in LISTED_TYPES)
TYPE_TONES = {
    "unfiled": "orange", "filed-not-assigned": "purple", "holder-mismatch": "red", "size-mismatch": "yellow",
    "overlapping-filings": "cyan", "outside-aggregate": "dark",
}  # fmt: skip
ACTION_DONE = {
    "acknowledge": _l("The finding was acknowledged."),
    "assign": _l("The finding was assigned."),
    "reopen": _l("The finding was reopened."),
}


def load_run(run_id: int) -> ReconciliationRun:
    found = visible_run(db.session, current_user, run_id)
    if found is None:
        abort(404)
    return found


def load_finding(finding_id: int) -> ReconciliationFinding:
    found = db.session.get(ReconciliationFinding, finding_id)
    if found is None or not policy.can(current_user, VIEW, found):
        abort(404)
    return found


# -- the runs ------------------------------------------------------------------------------------------------------


def _start_form() -> Form | None:
    """Regulators choose any scope; a carrier or allocator starts a run of its own records (a form without
    fields); others start none."""
    if policy.can(current_user, START):
        return StartRunForm(providers(db.session))
    if policy.can(current_user, START, current_user.organization):
        return Form()
    return None


def _start(form: Form) -> ReconciliationRun:
    """Start the run the form describes (a carrier's: its own) and queue it for when the request commits."""
    if not isinstance(form, StartRunForm):
        scope, carrier, block = RunScope.CARRIER, current_user.organization, None
    else:
        scope, carrier, block = form.scope_value, form.chosen_carrier, None
        if scope is RunScope.BLOCK and form.block_text:
            block = block_named(form.block_text, "block")
            if block is None:
                message = _l("No registered block %(block)s that you may see.", block=form.block_text)
                raise ValidationFailed.on("block", message)
    run = start_run(db.session, scope=scope, actor=current_user, carrier=carrier, block=block)
    tasks.run_after_commit(db.session, run.id)
    return run


def other_count(run: ReconciliationRun) -> int:
    return sum(run.counts.get(kind, 0) for kind in OTHER_TYPES)


@bp.route("/reconciliations", methods=["GET", "POST"])
@allow(VIEW)
def reconciliation_list() -> str | Response:
    """The runs the user may see, the latest first, and the form that starts one."""
    form = _start_form()
    if request.method == "POST":
        if form is None:
            abort(403)
        if form.validate_on_submit():
            started = run_form_operation(form, _start, form)
            if started is not None:
                flash(_("The reconciliation is queued; this page shows it when it is done."), "success")
                return redirect(url_for("filing.reconciliation_detail", run_id=started.id))
    page = paginate(db.session, visible_runs(current_user), page_number())
    return render_template(
        "reconciliation/run_list.html", page=page, form=form, choose_scope=policy.can(current_user, START),
        listed_types=LISTED_TYPES, other_count=other_count, type_labels=FINDING_TYPE_LABELS, scope_text=scope_text,
    )  # fmt: skip


# -- a run ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CarrierRow:
    carrier_id: int | None
    name: str
    counts: dict[str, int]  # discrepancy type → how many

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def carrier_rows(run: ReconciliationRun, names: dict[int, str]) -> list[CarrierRow]:
    """The run's discrepancies by carrier, the most first."""
    rows = []
    for key, counts in run.carrier_counts.items():
        carrier_id = int(key) if key.isdigit() else None
        name = names.get(carrier_id, f"#{key}") if carrier_id is not None else _("No carrier")
        rows.append(CarrierRow(carrier_id, name, {kind: counts.get(kind, 0) for kind in DISCREPANCIES}))
    return sorted(rows, key=lambda row: (-row.total, row.name))


def carrier_chart(run: ReconciliationRun, rows: list[CarrierRow]) -> dict[str, Any]:
    """A stacked bar per carrier, a segment per discrepancy type, each linking to those findings."""

    def link(row: CarrierRow, kind: str) -> str | None:
        if row.carrier_id is None:
            return None
        return url_for("filing.reconciliation_detail", run_id=run.id, carrier=row.carrier_id, type=kind,
                       _anchor="findings")  # fmt: skip

    return {
        "labels": [row.name for row in rows],
        "datasets": [
            {"label": str(FINDING_TYPE_LABELS[kind]), "tone": TYPE_TONES[kind],
             "data": [row.counts[kind] for row in rows], "links": [link(row, kind) for row in rows]}
            for kind in DISCREPANCIES
        ],
    }  # fmt: skip


@dataclass(frozen=True)
class Listing:
    """The findings a run's table (and its exports) show under the query string's filters."""

    filters: FindingFilterForm
    previous: ReconciliationRun | None  # the previous finished run of the same scope
    change: str | None  # new, resolved or still_open: the diff's lists (with a previous run only)
    statement: Select[tuple[ReconciliationFinding]]
    carriers: dict[int, str]  # the names of the carriers the findings name


def listing(run: ReconciliationRun) -> Listing:
    """The run's findings, filtered; with ``change``, those new since the previous run or still open, or those
    resolved (the previous run's, gone from this one)."""
    session = db.session
    carriers = carrier_names(session, run)
    filters = FindingFilterForm(carriers, formdata=request.args)
    filters.validate()  # a value that names nothing is left out of the filter
    flt = filters.finding_filter()
    previous = previous_run(session, run) if run.state == RunState.DONE.value else None
    change = filters.change_value if previous is not None else None
    if previous is None or change is None:
        return Listing(filters, previous, None, findings(current_user, run, flt), carriers)
    source = previous if change == "resolved" else run
    changed = diff_findings(previous.id, run.id, change).order_by(None).subquery()
    statement = findings(current_user, source, flt).where(ReconciliationFinding.id.in_(select(changed.c.id)))
    if source is not run:
        carriers = {**carrier_names(session, source), **carriers}
    return Listing(filters, previous, change, statement, carriers)


@bp.get(f"/reconciliations/<{ID}:run_id>")
@allow(VIEW)
def reconciliation_detail(run_id: int) -> str:
    run = load_run(run_id)
    session = db.session
    shown = listing(run)
    page = paginate(session, shown.statement, page_number())
    rows = carrier_rows(run, shown.carriers)
    return render_template(
        "reconciliation/run_detail.html", run=run, scope=scope_text(run), done=run.state == RunState.DONE.value,
        refresh=REFRESH_SECONDS if run.state in (RunState.QUEUED.value, RunState.RUNNING.value) else None,
        type_labels=FINDING_TYPE_LABELS, discrepancies=DISCREPANCIES, carriers=rows, chart=carrier_chart(run, rows),
        previous=shown.previous, change=shown.change, filters=shown.filters, filter_args=shown.filters.query_args(),
        diff=diff_counts(session, shown.previous, run) if shown.previous is not None else None,
        page=page, names=shown.carriers,
        cases=cases_by_fingerprint(session, [finding.fingerprint for finding in page.items]),
    )  # fmt: skip


@bp.get(f"/reconciliations/<{ID}:run_id>/findings.<any(csv, xlsx):extension>")
@allow(VIEW)
def reconciliation_export(run_id: int, extension: str) -> Response:
    """The findings as the table filters them, streamed: every finding the reader may see, not one page."""
    run = load_run(run_id)
    shown = listing(run)
    rows = finding_rows(db.session, shown.statement, shown.carriers)
    filename = export_filename(run, extension)
    if extension == "xlsx":
        return xlsx_response(filename, _("Findings"), [header()], rows)
    return csv_response(filename, header(), stream_with_context(rows))


# -- a finding -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One side of a finding as the comparison shows it: the registry's record, or a filing."""

    title: str
    block: str | None
    name: str | None
    uscc: str | None
    organization: str | None  # the record's carrier, the filing's filer
    organization_id: int | None
    allocated_on: date | None
    url: str | None  # the record or filing, when the reader may open it
    key: str  # names the side in the page: record, filing, other
    missing: str | None = None  # why there is nothing on this side


@dataclass(frozen=True)
class CompareRow:
    key: str  # the Side attribute shown
    label: str
    values: list[Any]
    differs: bool


def _record_side(finding: ReconciliationFinding, prefix: Prefix | None, carriers: dict[int, str]) -> Side:
    details = finding.details
    if finding.prefix_id is None:
        return Side(
            _("Registry record"),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            "record",
            missing=_("Nothing in the registry"),
        )
    holder = details.get("holder") or {}
    url = (url_for("ipam.prefix_detail", prefix_id=prefix.id)
           if prefix is not None and policy.can(current_user, IpamAction.VIEW_PREFIX, prefix) else None)  # fmt: skip
    carrier = carriers.get(finding.carrier_id) if finding.carrier_id is not None else None
    return Side(_("Registry record"), details.get("record_block"), holder.get("name"), holder.get("uscc"), carrier,
                finding.carrier_id, finding.allocated_on, url, "record")  # fmt: skip


def _filing_side(key: str, title: str, filing_id: int | None, filing: Filing | None, block: str | None,
                 user: dict[str, Any] | None, filer: dict[str, Any] | None) -> Side:  # fmt: skip
    if filing_id is None:
        return Side(title, None, None, None, None, None, None, None, key, missing=_("No standing filing"))
    user, filer = user or {}, filer or {}
    url = (url_for("filing.filing_detail", filing_id=filing.id)
           if filing is not None and policy.can(current_user, Action.VIEW_FILING, filing) else None)  # fmt: skip
    return Side(title, block, user.get("name"), user.get("uscc"), filer.get("name"), filer.get("id"),
                filing.allocated_on if filing is not None else None, url, key)  # fmt: skip


def finding_sides(finding: ReconciliationFinding, carriers: dict[int, str]) -> list[Side]:
    """The record and the filing (overlapping filings: both filings) as the run found them; a filing's date of
    allocation as it stands now."""
    session, details = db.session, finding.details
    prefix = session.get(Prefix, finding.prefix_id) if finding.prefix_id is not None else None
    filing = session.get(Filing, finding.filing_id) if finding.filing_id is not None else None
    sides = [
        _record_side(finding, prefix, carriers),
        _filing_side("filing", _("Filing"), finding.filing_id, filing, details.get("filing_block"), details.get("user"),
                     details.get("filer")),
    ]  # fmt: skip
    if finding.other_filing_id is not None:
        other = session.get(Filing, finding.other_filing_id)
        sides.append(_filing_side("other", _("Overlapping filing"), finding.other_filing_id, other, details.get("other_block"),
                                  details.get("other_user"), details.get("other_filer")))  # fmt: skip
    if finding.prefix_id is None and finding.type == FindingType.OVERLAPPING_FILINGS.value:
        sides.pop(0)  # two filings, no record between them
    return sides


def compare_rows(sides: list[Side]) -> list[CompareRow]:
    """Field by field across the sides; a field differs when two sides that have it disagree (names as people
    write them, carriers by organization)."""
    fields = (
        (_("Block"), "block", lambda side: side.block),
        (_("Holder or user"), "name", lambda side: normalized_name(side.name)),
        (_("USCC"), "uscc", lambda side: side.uscc),
        (_("Carrier or filer"), "organization", lambda side: side.organization_id or side.organization),
        (_("Allocated on"), "allocated_on", lambda side: side.allocated_on),
    )
    rows = []
    for label, attribute, key in fields:
        present = {key(side) for side in sides if side.missing is None and getattr(side, attribute)}
        rows.append(CompareRow(attribute, label, [getattr(side, attribute) for side in sides], len(present) > 1))
    return rows


def _assignees(finding: ReconciliationFinding) -> list[Any]:
    """Whom a finding can be assigned to: the people of the reader's organization and of the carrier concerned who
    may act on it."""
    people = organization_users(db.session, current_user.organization)
    if finding.carrier_id is not None and finding.carrier_id != current_user.organization_id:
        carrier = db.session.get(Organization, finding.carrier_id)
        if carrier is not None:
            people += organization_users(db.session, carrier)
    return [person for person in people if person.active and policy.can(person, ACT, finding)]


def _case_page(finding: ReconciliationFinding, form: CaseForm) -> str:
    session = db.session
    run = session.get(ReconciliationRun, finding.run_id)
    carriers = carrier_names(session, run) if run is not None else {}
    sides = finding_sides(finding, carriers)
    case = case_for(session, finding)
    # Before anyone acted, the finding is open: what may be done is read from the table as for an open case.
    standing = case or FindingCase(state=CaseState.OPEN.value, carrier_id=finding.carrier_id)
    others = finding.details.get("others") or []
    other_records = [prefix for prefix in session.scalars(select(Prefix).where(Prefix.id.in_(others)))
                     if policy.can(current_user, IpamAction.VIEW_PREFIX, prefix)] if others else []  # fmt: skip
    return render_template(
        "reconciliation/finding_detail.html", finding=finding, run=run, sides=sides, rows=compare_rows(sides),
        type_labels=FINDING_TYPE_LABELS, case=case, steps=CASES.available(standing, current_user), form=form,
        events=object_history(session, CASE_OBJECT, str(case.id), limit=200) if case is not None else [],
        run_visible=run is not None and policy.can(current_user, VIEW, run), other_records=other_records,
        carrier=carriers.get(finding.carrier_id) if finding.carrier_id is not None else None,
    )  # fmt: skip


@bp.route(f"/reconciliations/findings/<{ID}:finding_id>", methods=["GET", "POST"])
@allow(VIEW)
def finding_detail(finding_id: int) -> str | Response:
    """A finding beside its record and filing, and its case: acknowledge, assign or reopen it with a comment."""
    finding = load_finding(finding_id)
    may_act = policy.can(current_user, ACT, finding)
    form = CaseForm(_assignees(finding) if may_act else [])
    if request.method == "POST":
        if not may_act:
            abort(403)
        if form.validate_on_submit():
            action = form.action.data
            done = run_form_operation(form, act_on_finding, db.session, finding, action, actor=current_user,
                                      comment=form.comment.data, assignee=form.chosen_assignee)  # fmt: skip
            if done is not None:
                flash(str(ACTION_DONE[action]), "success")
                return redirect(url_for("filing.finding_detail", finding_id=finding.id))
        elif form.action.errors:
            abort(400)
    return _case_page(finding, form)


# -- the regulators' dashboard -------------------------------------------------------------------------------------


@bp.app_template_global()
def latest_reconciliation() -> dict[str, Any]:
    """The latest run of the whole city and its unfiled and late blocks by carrier, for the regulators'
    dashboard (``templates/reconciliation/_dashboard.html``)."""
    run = latest_city_run(db.session)
    return {"run": run, "rows": unfiled_by_carrier(db.session, run) if run is not None else []}
