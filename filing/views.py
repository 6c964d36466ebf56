"""Filing pages: my filings and the review queue, a filing with its history and review, writing and the steps."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from accounts.permissions import Action as AccountAction
from core import policy
from core.errors import DomainError
from core.extensions import db
from core.i18n import current_language
from core.security import allow
from core.web import page_number, paginate, run_form_operation
from filing import attachments, checks, operations, queries
from filing.audit import FIELD_LABELS
from filing.blueprint import bp
from filing.choices import STATE_LABELS, TYPE_LABELS, FilingState
from filing.exports import filter_from_args
from filing.forms import FilingForm, ReviewForm, StepForm
from filing.history import events, version_diffs
from filing.models import FILED_FIELDS, Filing
from filing.permissions import Action
from filing.workflow import FILINGS, offered
from ipam.models import Prefix

VIEW, FILE, REVIEW = Action.VIEW_FILING.value, Action.FILE.value, Action.REVIEW_FILING.value
FILER_STEPS = ("submit", "delete", "cancel", "withdraw")
REVIEW_STEPS = ("approve", "return", "reject")


def load_filing(filing_id: int) -> Filing:
    filing = queries.visible_filing(db.session, current_user, filing_id)
    if filing is None:
        abort(404)
    return filing


def _own_organization() -> Any:
    return current_user.organization


@bp.get("")
@allow(VIEW)
def filing_list() -> str:
    """My filings (filers) or every filing (regulators), filtered; ``view=queue`` is the review queue."""
    flt = filter_from_args(request.args)
    today = operations.today_for(db.session)
    page = paginate(db.session, queries.filtered(db.session, current_user, flt, today=today), page_number())
    filer = policy.can(current_user, FILE) and not policy.can(current_user, AccountAction.OVERSEE_ALL)
    return render_template(
        "filing/filing_list.html", page=page, flt=flt, today=today, states=STATE_LABELS, types=TYPE_LABELS,
        unfiled=queries.count_unfiled(db.session, current_user.organization_id) if filer else None,
        filers=queries.filer_choices(db.session) if policy.can(current_user, AccountAction.OVERSEE_ALL) else [],
        can_review=policy.can(current_user, REVIEW), can_file=policy.can(current_user, FILE), step_form=StepForm(),
        names=queries.choice_names(db.session, chinese=current_language() == "zh_CN"),
    )  # fmt: skip


@bp.get("/queue")
@allow(REVIEW)
def review_queue() -> Response:
    return redirect(
        url_for("filing.filing_list", view="queue", **{k: v for k, v in request.args.items() if k != "view"})
    )


@bp.get("/unfiled")
@allow(FILE)
def unfiled() -> str:
    """The registry blocks my organization must file and has not."""
    unfiled_rows = queries.unfiled_prefixes(current_user.organization_id).subquery()
    page = paginate(
        db.session, select(unfiled_rows).order_by(unfiled_rows.c.family, unfiled_rows.c.start), page_number()
    )
    return render_template("filing/unfiled.html", page=page, types=TYPE_LABELS, step_form=StepForm())


@bp.post("/unfiled")
@allow(FILE)
def file_unfiled() -> Response:
    """Pre-filled drafts for every unfiled block, in one step."""
    if not StepForm().validate_on_submit():
        abort(400)
    count = operations.file_unfiled_blocks(db.session, filer=_own_organization(), actor=current_user)
    flash(_("%(n)d drafts were made from the registry; check and submit them.", n=count), "success")
    return redirect(url_for("filing.filing_list", state=FilingState.DRAFT.value))


@bp.route("/new", methods=["GET", "POST"])
@allow(FILE)
def filing_new() -> str | Response:
    prefix_id = request.args.get("prefix", "")
    if prefix_id.isdigit() and len(prefix_id) < 10 and request.method == "POST":
        prefix = db.session.get(Prefix, int(prefix_id))
        if prefix is None:
            abort(404)
        if not StepForm().validate_on_submit():
            abort(400)
        try:
            filing = operations.start_from_prefix(db.session, prefix, filer=_own_organization(), actor=current_user)
        except DomainError as refused:
            flash(str(refused.message), "warning")
            return redirect(url_for("filing.unfiled"))
        flash(_("A draft was made from the registry; check it, then submit it."), "success")
        return redirect(url_for("filing.filing_edit", filing_id=filing.id))
    form = FilingForm(db.session)
    if form.validate_on_submit():
        made = run_form_operation(
            form, operations.create_filing, db.session, form.values(), filer=_own_organization(), actor=current_user
        )
        if made is not None:
            flash(_("The draft was saved."), "success")
            return redirect(url_for("filing.filing_detail", filing_id=made.id))
    return render_template("filing/filing_form.html", form=form, filing=None, title=_("New filing"))


@bp.get("/<int(max=2147483647):filing_id>")
@allow(VIEW)
def filing_detail(filing_id: int) -> str:
    filing = load_filing(filing_id)
    reviewing = policy.can(current_user, REVIEW) and filing.state_enum.under_review
    errors, warnings = operations.review_findings(db.session, filing) if reviewing else ({}, [])
    return render_template(
        "filing/filing_detail.html", filing=filing, steps=offered(filing, current_user),
        versions=version_diffs(db.session, filing), events=events(db.session, filing), fields=FILED_FIELDS, review_form=ReviewForm(),
        step_form=StepForm(), reviewing=reviewing, errors=errors, warnings=warnings,
        registry=checks.registry_view(db.session, filing) if policy.can(current_user, REVIEW) else None,
        attachments=queries.attachments(db.session, filing),
        can_attach=attachments.may_attach(current_user, filing),
        can_edit=policy.can(current_user, FILE, filing) and filing.state_enum.with_filer,
        next_in_queue=queries.next_in_queue(db.session, current_user, filing) if reviewing else None,
        names=queries.choice_names(db.session, chinese=current_language() == "zh_CN"),
        today=operations.today_for(db.session),
    )  # fmt: skip


@bp.get("/<int(max=2147483647):filing_id>/print")
@allow(VIEW)
def filing_print(filing_id: int) -> str:
    filing = load_filing(filing_id)
    return render_template(
        "filing/filing_print.html", filing=filing, fields=FILED_FIELDS,
        names=queries.choice_names(db.session, chinese=current_language() == "zh_CN"),
    )  # fmt: skip


@bp.route("/<int(max=2147483647):filing_id>/edit", methods=["GET", "POST"])
@allow(FILE)
def filing_edit(filing_id: int) -> str | Response:
    filing = load_filing(filing_id)
    policy.require(current_user, FILE, filing)
    form = FilingForm(db.session, obj=filing)
    saved = form.validate_on_submit() and run_form_operation(
        form, operations.update_filing, db.session, filing, form.values(), actor=current_user
    )
    if saved:
        flash(_("The filing was saved."), "success")
        return redirect(url_for("filing.filing_detail", filing_id=filing.id))
    return render_template("filing/filing_form.html", form=form, filing=filing, title=_("Edit the filing"))


@bp.route("/<int(max=2147483647):filing_id>/change", methods=["GET", "POST"])
@allow(FILE)
def filing_change(filing_id: int) -> str | Response:
    """File a change of an approved filing: the form is the change; saving submits it for review."""
    filing = load_filing(filing_id)
    FILINGS.check(filing, "change", actor=current_user)
    form = FilingForm(db.session, obj=filing)
    if form.validate_on_submit():
        outcome = run_form_operation(form, operations.change_filing, db.session, filing, form.values(),
                                     actor=current_user)  # fmt: skip
        if outcome is not None:
            _flash_warnings(outcome.warnings)
            flash(_("The change was submitted for review."), "success")
            return redirect(url_for("filing.filing_detail", filing_id=filing.id))
    return render_template("filing/filing_form.html", form=form, filing=filing, title=_("File a change"),
                           changing=True)  # fmt: skip


@bp.post("/<int(max=2147483647):filing_id>/<any(submit,delete,cancel,withdraw,approve,return,reject):step>")
@allow(VIEW)
def filing_step(filing_id: int, step: str) -> str | Response:
    filing = load_filing(filing_id)
    form = ReviewForm() if step in REVIEW_STEPS else StepForm()
    if not form.validate_on_submit():
        abort(400)
    comment = form.comment.data
    try:
        if step == "submit":
            _flash_warnings(operations.submit_filing(db.session, filing, actor=current_user).warnings)
            flash(_("The filing was submitted for review."), "success")
        elif step == "delete":
            operations.delete_draft(db.session, filing, actor=current_user)
            flash(_("The draft was deleted."), "success")
            return redirect(url_for("filing.filing_list"))
        elif step == "cancel":
            operations.cancel_filing(db.session, filing, actor=current_user, reason=comment)
            flash(_("The filing was cancelled."), "success")
        elif step == "withdraw":
            operations.withdraw_change(db.session, filing, actor=current_user)
            flash(_("The change was withdrawn; the approved version stands."), "success")
        elif step == "approve":
            operations.approve_filing(db.session, filing, actor=current_user, comment=comment)
            flash(_("Approved: filing number %(number)s.", number=filing.number), "success")
        elif step == "return":
            assert isinstance(form, ReviewForm)
            operations.return_filing(db.session, filing, actor=current_user, comment=comment,
                                     field_comments=form.field_comments(request.form))  # fmt: skip
            flash(_("The filing was returned to its filer."), "success")
        else:
            operations.reject_filing(db.session, filing, actor=current_user, reason=comment)
            flash(_("The filing was rejected."), "success")
    except DomainError as refused:
        db.session.rollback()
        _flash_refusal(refused)
        return redirect(url_for("filing.filing_detail", filing_id=filing_id))
    if step in REVIEW_STEPS and request.form.get("next"):
        nxt = request.form["next"]
        if nxt.isdigit() and len(nxt) < 10:
            return redirect(url_for("filing.filing_detail", filing_id=int(nxt)))
    return redirect(url_for("filing.filing_detail", filing_id=filing.id))


@bp.post("/approve")
@allow(REVIEW)
def approve_many() -> Response:
    """The queue's "approve several": all or nothing."""
    if not StepForm().validate_on_submit():
        abort(400)
    ids = [int(v) for v in request.form.getlist("ids") if v.isdigit() and len(v) < 10]
    try:
        approved = operations.approve_filings(db.session, ids, actor=current_user)
    except DomainError as refused:
        db.session.rollback()
        _flash_refusal(refused)
    else:
        flash(_("%(n)d filings were approved.", n=len(approved)), "success")
    return redirect(url_for("filing.filing_list", view="queue"))


def _flash_warnings(warnings: list[Any]) -> None:
    for warning in warnings:
        flash(str(warning), "warning")


def _flash_refusal(refused: DomainError) -> None:
    flash(str(refused.message), "danger")
    for name, messages in refused.fields.items():
        label = _field_label(name)
        for message in messages:
            flash(f"{label}: {message}", "danger")


def _field_label(name: str) -> str:
    label = FIELD_LABELS.get(name)
    return str(label) if label is not None else f"#{name}"
