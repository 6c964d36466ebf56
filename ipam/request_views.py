"""Prefix request pages (``/requests``): the enterprise's requests and form, the allocator's queue with the
requester's holdings and an approval previewed from a pool, and every request read-only for regulators."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import lazyload
from werkzeug.wrappers import Response

from accounts import queries as account_queries
from accounts.permissions import Action as AccountAction
from core import policy
from core.extensions import db
from core.forms import roll_back_request
from core.security import allow
from core.web import page_number, paginate, run_form_operation
from filing.forms import StepForm
from ipam import plans, prefix_requests, request_queries
from ipam.choices import REQUEST_STATE_LABELS, RequestState
from ipam.forms import STRATEGY_LABELS
from ipam.models import PrefixRequest
from ipam.permissions import Action
from ipam.request_forms import ApprovalForm, RejectForm, RequestForm, ReturnForm
from ipam.space import format_net

bp = Blueprint("requests", __name__, url_prefix="/requests")

VIEW, ASK, DECIDE = Action.VIEW_REQUEST.value, Action.REQUEST_PREFIXES.value, Action.DECIDE_REQUEST.value
REQUESTER_STEPS = ("submit", "withdraw")
# Who may take each step, as the workflow's table says; a preview asks what approving asks (and takes nothing).
STEP_PERMISSIONS = {t.action: str(t.permission) for t in prefix_requests.REQUESTS.transitions}
STEP_PERMISSIONS["preview"] = STEP_PERMISSIONS["approve"]
ID = "int(max=2147483647)"


def load_request(request_id: int) -> PrefixRequest:
    found = request_queries.visible_request(db.session, current_user, request_id)
    if found is None:
        abort(404)
    return found


def _detail_url(found: PrefixRequest) -> str:
    return url_for("requests.request_detail", request_id=found.id)


# -- the lists -----------------------------------------------------------------------------------------------------


@bp.get("")
@allow(VIEW)
def request_list() -> str:
    """The requester's own requests; the allocator's queue (``view=all``: every request made to it); every request
    for regulators, filtered by state, requester and provider."""
    overseeing = policy.can(current_user, AccountAction.OVERSEE_ALL)
    deciding = policy.can(current_user, DECIDE)
    queue = deciding and request.args.get("view") != "all"
    flt = _list_filter(queue=queue, overseeing=overseeing)
    # The rows show the organizations (joined with the request), never the blocks.
    stmt = request_queries.visible_requests(current_user, flt).options(lazyload(PrefixRequest.blocks))
    return render_template(
        "requests/request_list.html", page=paginate(db.session, stmt, page_number()), flt=flt, queue=queue,
        deciding=deciding, overseeing=overseeing, states=REQUEST_STATE_LABELS,
        providers=prefix_requests.providers(db.session) if overseeing else [],
        requester_code=request.args.get("requester", "").strip()[:32],
    )  # fmt: skip


def _list_filter(*, queue: bool, overseeing: bool) -> request_queries.RequestFilter:
    """The list's filters from the query string (unknown values are ignored; an unknown requester finds none)."""
    state = request.args.get("state", "")
    flt = request_queries.RequestFilter(queue=queue, state=state if state in set(RequestState) else None)
    if not overseeing:
        return flt
    requester_id = provider_id = None
    code = request.args.get("requester", "").strip()[:32]
    if code:
        requester = account_queries.organization_by_code(db.session, code)
        requester_id = requester.id if requester is not None else 0
    provider = request.args.get("provider", "")
    if provider.isascii() and provider.isdigit() and len(provider) < 10:
        provider_id = int(provider)
    return replace(flt, requester_id=requester_id, provider_id=provider_id)


# -- writing a request ---------------------------------------------------------------------------------------------


def _save(found: PrefixRequest | None, values: dict[str, Any], *, submit: bool) -> PrefixRequest:
    """Create the draft (or save the changes), then with "Save and submit" send it: one post, all or nothing."""
    if found is None:
        found = prefix_requests.create_request(db.session, values, actor=current_user)
    else:
        prefix_requests.update_request(db.session, found, values, actor=current_user)
    if submit:
        prefix_requests.submit_request(db.session, found, actor=current_user)
    return found


def _saved(found: PrefixRequest, *, submitted: bool) -> Response:
    if submitted:
        flash(_("The request was sent to %(provider)s.", provider=found.provider.name), "success")
    else:
        flash(_("The draft was saved."), "success")
    return redirect(_detail_url(found))


def _form_page(form: RequestForm, found: PrefixRequest | None) -> str:
    title = _("Edit request #%(id)d", id=found.id) if found is not None else _("New prefix request")
    return render_template("requests/request_form.html", form=form, req=found, title=title)


@bp.route("/new", methods=["GET", "POST"])
@allow(ASK)
def request_new() -> str | Response:
    form = RequestForm(prefix_requests.providers(db.session))
    if form.validate_on_submit():
        made = run_form_operation(form, _save, None, form.values(), submit=form.submitting)
        if made is not None:
            return _saved(made, submitted=form.submitting)
    return _form_page(form, None)


@bp.route(f"/<{ID}:request_id>/edit", methods=["GET", "POST"])
@allow(ASK)
def request_edit(request_id: int) -> str | Response:
    found = load_request(request_id)
    policy.require(current_user, ASK, found)
    if "update" not in prefix_requests.action_names(found, current_user):
        flash(_("Only a draft or a returned request can be edited."), "warning")
        return redirect(_detail_url(found))
    form = RequestForm(prefix_requests.providers(db.session), data=RequestForm.data_of(found))
    if form.validate_on_submit() and run_form_operation(form, _save, found, form.values(), submit=form.submitting):
        return _saved(found, submitted=form.submitting)
    return _form_page(form, found)


# -- a request and its steps -----------------------------------------------------------------------------------


@bp.get(f"/<{ID}:request_id>")
@allow(VIEW)
def request_detail(request_id: int) -> str:
    return _detail_page(load_request(request_id))


def _detail_page(
    found: PrefixRequest,
    *,
    approval: ApprovalForm | None = None,
    pools: list[prefix_requests.Pool] | None = None,
    preview: list[str] | None = None,
    return_form: ReturnForm | None = None,
    reject_form: RejectForm | None = None,
) -> str:
    names = prefix_requests.action_names(found, current_user)
    deciding = "approve" in names
    if deciding and approval is None:
        pools = prefix_requests.pools_for(db.session, found)
        approval = _fresh_approval(found, pools)
    plan = plans.preview_text(db.session, found.plan_text, parent=None, actor=current_user) if found.plan_text else None
    laid_out = plan.plan if plan is not None else None
    return render_template(
        "requests/request_detail.html", req=found, names=names, deciding=deciding,
        steps=[t for t in prefix_requests.REQUESTS.available(found, current_user) if t.action in REQUESTER_STEPS],
        events=account_queries.object_history(db.session, prefix_requests.OBJECT_TYPE, str(found.id),
                                              since=found.created_at, limit=200),
        plan=plan, plan_parent=format_net(laid_out.parent) if laid_out else None,
        plan_nodes=[(p.path, format_net(p.net)) for p in laid_out.placements if "/" not in p.path] if laid_out else [],
        strategies={s.value: label for s, label in STRATEGY_LABELS.items()},
        holdings=request_queries.holdings(db.session, found.requester_id) if deciding else None,
        pools=pools or [], approval=approval, preview=preview,
        return_form=return_form or ReturnForm(formdata=None), reject_form=reject_form or RejectForm(formdata=None),
        step_form=StepForm(formdata=None),
    )  # fmt: skip


def _fresh_approval(found: PrefixRequest, pools: list[prefix_requests.Pool]) -> ApprovalForm:
    """The approval form as first shown: the roomiest pool that fits, with the strategy it suggests."""
    data = {}
    if pools:
        first = pools[0].prefix
        data = {"pool": str(first.id), "strategy": prefix_requests.default_strategy(found, first).value}
    return ApprovalForm(pools, found.prefix_len, formdata=None, data=data)


@bp.post(f"/<{ID}:request_id>/<any(submit,withdraw,return,reject,preview,approve):step>")
@allow(VIEW)
def request_step(request_id: int, step: str) -> str | Response:
    found = load_request(request_id)
    # Readers (a regulator, an allocator on a requester's step) are refused before anything is read from the form.
    policy.require(current_user, STEP_PERMISSIONS[step], found)
    if ("approve" if step == "preview" else step) not in prefix_requests.action_names(found, current_user):
        # A page left open while the request moved on: say where it is now.
        flash(_("This cannot be done now: it is %(state)s.", state=found.state_enum.label), "warning")
        return redirect(_detail_url(found))
    if step in REQUESTER_STEPS:
        return _requester_step(found, step)
    if step in ("preview", "approve"):
        return _approval_step(found, step)
    return _decision_step(found, step)


def _requester_step(found: PrefixRequest, step: str) -> str | Response:
    step_form = StepForm()
    if not step_form.validate_on_submit():
        abort(400)
    if step == "withdraw":
        if run_form_operation(step_form, prefix_requests.withdraw_request, db.session, found, actor=current_user):
            flash(_("The request was withdrawn."), "success")
        return _back_with_errors(found, step_form.form_errors)
    # What a submission finds missing is shown beside the fields of the request's form.
    form = RequestForm(prefix_requests.providers(db.session), formdata=None, data=RequestForm.data_of(found))
    if run_form_operation(form, prefix_requests.submit_request, db.session, found, actor=current_user):
        return _saved(found, submitted=True)
    if any(field.errors for field in form):
        return _form_page(form, found)
    return _back_with_errors(found, form.form_errors)


def _back_with_errors(found: PrefixRequest, errors: list[str]) -> Response:
    for error in errors:
        flash(error, "danger")
    return redirect(_detail_url(found))


def _decision_step(found: PrefixRequest, step: str) -> str | Response:
    if step == "return":
        return_form = ReturnForm()
        if not return_form.validate_on_submit():
            abort(400)
        done = run_form_operation(return_form, prefix_requests.return_request, db.session, found,
                                  actor=current_user, comment=return_form.comment.data)  # fmt: skip
        if done:
            flash(_("The request was returned to %(requester)s.", requester=found.requester.name), "success")
            return redirect(_detail_url(found))
        return _detail_page(found, return_form=return_form)
    reject_form = RejectForm()
    if not reject_form.validate_on_submit():
        abort(400)
    done = run_form_operation(reject_form, prefix_requests.reject_request, db.session, found,
                              actor=current_user, reason=reject_form.reason.data)  # fmt: skip
    if done:
        flash(_("The request was rejected."), "success")
        return redirect(_detail_url(found))
    return _detail_page(found, reject_form=reject_form)


def _approval_step(found: PrefixRequest, step: str) -> str | Response:
    pools = prefix_requests.pools_for(db.session, found)
    form = ApprovalForm(pools, found.prefix_len)
    if not form.validate_on_submit():
        return _detail_page(found, approval=form, pools=pools)
    if step == "preview":
        return _detail_page(found, approval=form, pools=pools, preview=_preview(found, form))
    created = run_form_operation(
        form, prefix_requests.approve_request, db.session, found, pool=form.chosen_pool,
        strategy=form.chosen_strategy, expected=form.expected.data or [], comment=form.note.data, actor=current_user,
    )  # fmt: skip
    if created is not None:
        flash(_("Approved: %(blocks)s allocated to %(requester)s.", blocks=", ".join(p.network for p in created),
                requester=found.requester.name), "success")  # fmt: skip
        return redirect(_detail_url(found))
    # The free space changed since the preview (or ran out): show what approving would take now.
    preview = None if any(field.errors for field in form) else _preview(found, form)
    form.form_errors = list(dict.fromkeys(form.form_errors))
    return _detail_page(found, approval=form, pools=pools, preview=preview)


def _preview(found: PrefixRequest, form: ApprovalForm) -> list[str] | None:
    """Exactly the blocks approving would allocate now; they travel in the confirm form as ``expected``."""
    nets = run_form_operation(form, prefix_requests.preview_approval, db.session, found, pool=form.chosen_pool,
                              strategy=form.chosen_strategy, actor=current_user)  # fmt: skip
    roll_back_request()  # a preview never commits, whatever the allocation touched on the way
    form.expected.data = [format_net(net) for net in nets] if nets is not None else []
    return form.expected.data if nets is not None else None
