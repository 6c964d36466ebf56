"""Prefix pages: the tree browser, detail, space map, add, allocate (with preview), edit, release."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from accounts import queries as account_queries
from accounts.models import Organization
from accounts.permissions import Action as AccountAction
from core import policy
from core.errors import DomainError
from core.extensions import db
from core.security import ANY_SIGNED_IN, allow
from core.web import page_number, paginate, run_form_operation
from ipam import claims, operations, queries
from ipam.choices import KIND_LABELS, USAGE_LABELS
from ipam.errors import PrefixOverlap
from ipam.forms import AllocateForm, ClaimDecisionForm, ClaimForm, PrefixEditForm, PrefixForm
from ipam.models import Prefix
from ipam.permissions import Action
from ipam.space import Strategy, format_net

bp = Blueprint("ipam", __name__, url_prefix="/prefixes")
PAGE = 50


def _load(prefix_id: int) -> Prefix:
    prefix = db.session.get(Prefix, prefix_id)
    if prefix is None or not policy.can(current_user, Action.VIEW_PREFIX, prefix):
        abort(404)
    return prefix


def _holder(code: str | None, field: str = "holder") -> Organization | None:
    return account_queries.organization_for_field(db.session, code, field)


def _page_of(stmt: Any) -> tuple[list[Prefix], str | None]:
    items, cursor = queries.keyset_page(db.session, stmt, queries.decode_cursor(request.args.get("after")), PAGE)
    return items, queries.encode_cursor(cursor)


@bp.get("")
@allow(ANY_SIGNED_IN)
def prefix_list() -> str | Response:
    q = request.args.get("q", "").strip()[:64]
    if q:
        try:
            found = queries.most_specific_visible(db.session, q, current_user)
        except ValueError:
            flash(_("%(q)s is not an address or prefix.", q=q), "warning")
        else:
            if found is not None:
                return redirect(url_for("ipam.prefix_detail", prefix_id=found.id))
            flash(_("No registered prefix you can see contains %(q)s.", q=q), "info")
    kind = request.args.get("kind") if request.args.get("kind") in {k.value for k in KIND_LABELS} else None
    usage = request.args.get("usage") if request.args.get("usage") in {u.value for u in USAGE_LABELS} else None
    holder = request.args.get("holder", "").strip()[:32] or None
    filtering = bool(kind or usage or holder)
    flt = queries.PrefixFilter(
        kind=kind,
        usage=usage,
        holder=holder,
        top_level=not filtering and policy.can(current_user, AccountAction.OVERSEE_ALL),
    )
    items, after = _page_of(queries.filtered(current_user, flt, db.session))
    return render_template(
        "ipam/prefix_list.html", items=items, after=after, usage=queries.utilizations(db.session, items),
        child_counts=queries.layout_counts(db.session, items, current_user),
        kinds=KIND_LABELS, usages=USAGE_LABELS, q=q, kind=kind, usage_filter=usage, holder=holder,
        can_add=policy.can(current_user, Action.ADD_PREFIX),
        can_claim=policy.can(current_user, Action.CLAIM_PREFIX),
        can_review_claims=policy.can(current_user, Action.DECIDE_CLAIM),
    )  # fmt: skip


@bp.get("/<int(max=2147483647):prefix_id>")
@allow(ANY_SIGNED_IN)
def prefix_detail(prefix_id: int) -> str:
    prefix = _load(prefix_id)
    children, after = _page_of(queries.filtered(current_user, queries.PrefixFilter(), db.session).where(
        Prefix.parent_id == prefix.id))  # fmt: skip
    from accounts.queries import object_history

    layout_visible = policy.can(current_user, Action.VIEW_LAYOUT, prefix)
    return render_template(
        "ipam/prefix_detail.html",
        prefix=prefix,
        path=[a for a in queries.ancestors(db.session, prefix) if policy.can(current_user, Action.VIEW_PREFIX, a)],
        children=children,
        after=after,
        child_usage=queries.utilizations(db.session, children),
        child_counts=queries.layout_counts(db.session, children, current_user),
        usage=queries.prefix_utilization(db.session, prefix, unit_length=48 if prefix.prefix_len < 48 else 64),
        free=queries.find_available(db.session, prefix, limit=20) if layout_visible else None,
        layout_visible=layout_visible,
        events=object_history(db.session, "prefix", prefix.network, since=prefix.created_at),
        can_allocate=policy.can(current_user, Action.ALLOCATE_FROM, prefix),
        can_change=policy.can(current_user, Action.CHANGE_PREFIX, prefix),
    )


@bp.get("/<int(max=2147483647):prefix_id>/children")
@allow(ANY_SIGNED_IN)
def children_fragment(prefix_id: int) -> str:
    """One page of a prefix's children as table rows, fetched when a tree level is expanded."""
    prefix = _load(prefix_id)
    children, after = _page_of(
        queries.filtered(current_user, queries.PrefixFilter(), db.session).where(Prefix.parent_id == prefix.id)
    )
    return render_template(
        "ipam/_children.html", prefix=prefix, items=children, after=after,
        usage=queries.utilizations(db.session, children), depth=request.args.get("depth", 1, type=int),
        child_counts=queries.layout_counts(db.session, children, current_user),
    )  # fmt: skip


@bp.get("/<int(max=2147483647):prefix_id>/map")
@allow(ANY_SIGNED_IN)
def space_map(prefix_id: int) -> str:
    prefix = _load(prefix_id)
    default = min(prefix.width, prefix.prefix_len + 8)
    length = request.args.get("length", type=int) or default
    length = max(prefix.prefix_len, min(length, prefix.width, prefix.prefix_len + 12))
    # The map shows where the holder's customers sit: only for those who may see the block's layout.
    cells = (
        queries.space_map(db.session, prefix, length) if policy.can(current_user, Action.VIEW_LAYOUT, prefix) else None
    )
    lengths = list(range(prefix.prefix_len + 1, min(prefix.width, prefix.prefix_len + 12) + 1))
    return render_template("ipam/space_map.html", prefix=prefix, cells=cells, length=length, lengths=lengths,
                           format_net=format_net)  # fmt: skip


@bp.route("/new", methods=["GET", "POST"])
@allow(Action.REGISTER_PREFIXES)
def prefix_create() -> str | Response:
    form = PrefixForm()
    if form.validate_on_submit():
        created = run_form_operation(form, _create_from_form, form)
        if created is not None:
            flash(_("%(prefix)s registered.", prefix=created.network), "success")
            return redirect(url_for("ipam.prefix_detail", prefix_id=created.id))
    return render_template("ipam/prefix_form.html", form=form)


def _create_from_form(form: PrefixForm) -> Prefix:
    return operations.add_prefix(
        db.session, form.prefix.data or "", actor=current_user, kind=form.kind.data or "",
        holder=_holder(form.holder.data), usage=form.usage.data or None, description=form.description.data or None,
    )  # fmt: skip


@bp.route("/<int(max=2147483647):prefix_id>/edit", methods=["GET", "POST"])
@allow(Action.REGISTER_PREFIXES)
def prefix_edit(prefix_id: int) -> str | Response:
    prefix = _load(prefix_id)
    policy.require(current_user, Action.CHANGE_PREFIX, prefix)
    form = PrefixEditForm(obj=prefix)
    if request.method == "GET":
        form.holder.data = prefix.holder.code if prefix.holder else ""
        form.default_strategy.data = prefix.default_strategy or ""
        form.usage.data = prefix.usage or ""
    if form.validate_on_submit():
        updated = run_form_operation(form, _update_from_form, prefix, form)
        if updated is not None:
            flash(_("%(prefix)s saved.", prefix=updated.network), "success")
            return redirect(url_for("ipam.prefix_detail", prefix_id=updated.id))
    return render_template("ipam/prefix_edit.html", form=form, prefix=prefix)


def _update_from_form(prefix: Prefix, form: PrefixEditForm) -> Prefix:
    # An empty holder field leaves the holder as it is.
    holder = {"holder": _holder(form.holder.data)} if form.holder.data else {}
    return operations.update_prefix(
        db.session, prefix, actor=current_user, status=form.status.data, **holder,
        usage=form.usage.data or None, description=form.description.data or None,
        child_min_len=form.child_min_len.data, child_max_len=form.child_max_len.data,
        child_default_len=form.child_default_len.data, default_strategy=form.default_strategy.data or None,
        nibble_aligned=bool(form.nibble_aligned.data), pool_strict=bool(form.pool_strict.data),
    )  # fmt: skip


@bp.route("/<int(max=2147483647):prefix_id>/allocate", methods=["GET", "POST"])
@allow(Action.REGISTER_PREFIXES)
def allocate(prefix_id: int) -> str | Response:
    parent = _load(prefix_id)
    policy.require(current_user, Action.ALLOCATE_FROM, parent)
    form = AllocateForm()
    if request.method == "GET":
        form.length.data = parent.child_default_len or (48 if parent.prefix_len < 48 else min(parent.width, 64))
        form.strategy.data = parent.default_strategy_enum.value
        form.kind.data = "subnet" if parent.kind in {"assignment", "subnet"} else "assignment"
    preview: list[str] | None = None
    if form.validate_on_submit():
        if form.preview.data:
            preview = _preview_allocation(parent, form)
        else:
            created = run_form_operation(form, _allocate_from_form, parent, form)
            if created:
                flash(_("Allocated %(n)d prefixes from %(parent)s.", n=len(created), parent=parent.network), "success")
                return redirect(url_for("ipam.prefix_detail", prefix_id=parent.id))
    return render_template("ipam/allocate.html", form=form, parent=parent, preview=preview)


def _preview_allocation(parent: Prefix, form: AllocateForm) -> list[str] | None:
    """The very operation, run in a savepoint and rolled back: exactly what confirming would take now."""
    savepoint = db.session.begin_nested()
    try:
        created = run_form_operation(form, _allocate_from_form, parent, form)
        return [p.network for p in created] if created else None
    finally:
        savepoint.rollback()


def _allocate_from_form(parent: Prefix, form: AllocateForm) -> list[Prefix]:
    request_ = operations.AllocationRequest(
        length=form.length.data or 0, count=form.count.data or 1, strategy=Strategy(form.strategy.data),
        kind=form.kind.data or "assignment", usage=form.usage.data or None, description=form.description.data or None,
    )  # fmt: skip
    return operations.allocate_prefixes(
        db.session, parent, request_, holder=_holder(form.holder.data), actor=current_user
    )


@bp.post("/<int(max=2147483647):prefix_id>/release")
@allow(Action.REGISTER_PREFIXES)
def release(prefix_id: int) -> Response:
    prefix = _load(prefix_id)
    parent_id = prefix.parent_id
    network = prefix.network
    try:
        operations.release_prefix(
            db.session, prefix, actor=current_user, recursive=request.form.get("recursive") == "1"
        )
    except PrefixOverlap as exc:
        flash(str(exc.message), "error")
        return redirect(url_for("ipam.prefix_detail", prefix_id=prefix_id))
    flash(_("%(prefix)s released.", prefix=network), "success")
    return redirect(url_for("ipam.prefix_detail", prefix_id=parent_id) if parent_id else url_for("ipam.prefix_list"))


# --- claims to top-level blocks ----------------------------------------------------------------------------


@bp.route("/claims", methods=["GET", "POST"])
@allow(Action.VIEW_CLAIMS)
def claim_list() -> str | Response:
    """Claims to top-level blocks: carriers file theirs here, regulator administrators decide them."""
    form = ClaimForm() if policy.can(current_user, Action.CLAIM_PREFIX) else None
    if form is not None and form.validate_on_submit():
        claim = run_form_operation(form, claims.claim_prefix, db.session, form.prefix.data or "",
                                   kind=form.kind.data or "", reason=form.reason.data or "", actor=current_user)  # fmt: skip
        if claim is not None:
            flash(_("Your claim to %(prefix)s waits for a regulator administrator.", prefix=claim.network), "success")
            return redirect(url_for("ipam.claim_list"))
    page = paginate(db.session, queries.visible_claims(current_user), page_number())
    return render_template(
        "ipam/claims.html", page=page, form=form,
        actions={c.id: claims.available_actions(c, current_user) for c in page.items},
    )  # fmt: skip


@bp.post("/claims/<int(max=2147483647):claim_id>/<action>")
@allow(Action.VIEW_CLAIMS)
def claim_decide(claim_id: int, action: str) -> Response:
    claim, step = queries.visible_claim(db.session, claim_id, action, current_user) or abort(404)
    form = ClaimDecisionForm()
    try:
        with db.session.begin_nested():
            claims.decide_claim(db.session, claim, step, actor=current_user,
                                note=form.note.data if form.validate_on_submit() else None)  # fmt: skip
    except DomainError as exc:
        flash(str(exc.message), "error")
    else:
        flash(_("Claim to %(prefix)s: %(status)s.", prefix=claim.network, status=claim.status_enum.label), "success")
    return redirect(url_for("ipam.claim_list"))
