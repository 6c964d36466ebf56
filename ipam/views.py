"""Prefix pages: the tree browser, detail, space map, add, allocate (with preview), edit, release, export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from accounts import queries as account_queries
from accounts.models import Organization
from accounts.validators import division_name
from core import policy
from core.errors import DomainError
from core.extensions import db
from core.i18n import current_language
from core.security import ANY_SIGNED_IN, allow
from core.web import csv_response, page_number, paginate, run_form_operation
from importers.permissions import Action as ImportAction
from ipam import claims, operations, queries
from ipam.choices import KIND_LABELS, STATUS_LABELS, USAGE_LABELS, PrefixKind, Source, may_contain
from ipam.errors import PrefixOverlap
from ipam.forms import (
    STRATEGY_LABELS,
    AllocateForm,
    ClaimDecisionForm,
    ClaimForm,
    PrefixEditForm,
    PrefixForm,
    ReleaseForm,
    kind_choices,
)
from ipam.models import Prefix
from ipam.permissions import Action
from ipam.space import Net, Strategy, enclosing_blocks, format_net, parse_net

bp = Blueprint("ipam", __name__, url_prefix="/prefixes")
PAGE = 50
FREE_PAGE = 20
RELEASE_PAGE = 200  # prefixes a release page lists at a time
ALLOCATED_SHOWN = 50  # new prefixes named on the parent's page after an allocation
HOLDER_CHOICES = 15
MAP_STEP = 8  # a map divides its block into 256 cells unless asked for finer or coarser ones


def _load(prefix_id: int) -> Prefix:
    prefix = db.session.get(Prefix, prefix_id)
    if prefix is None or not policy.can(current_user, Action.VIEW_PREFIX, prefix):
        abort(404)
    return prefix


def _holder(code: str | None, field: str = "holder") -> Organization | None:
    return account_queries.organization_for_field(db.session, code, field)


def _page_of(stmt: Any, family: int | None = None) -> tuple[list[Prefix], str | None]:
    """A page of ``stmt`` after the ``after`` cursor (``family``: all of its rows are of that family)."""
    after = queries.decode_cursor(request.args.get("after"))
    items, cursor = queries.keyset_page(db.session, stmt, after, PAGE, family=family)
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
    flt = _list_filter()
    filtering = bool(flt.kind or flt.usage or flt.holder)
    # Unfiltered, the list is the user's tree: the prefixes without a visible ancestor, each opening onto the
    # level below it. Filtered, it is the flat list of matches (each once, no tree to open).
    stmt = queries.filtered(current_user, flt, db.session) if filtering else queries.tree_roots(current_user)
    items, after = _page_of(stmt)
    return render_template(
        "ipam/prefix_list.html", items=items, after=after, usage=queries.utilizations(db.session, items),
        child_counts={} if filtering else queries.tree_child_counts(db.session, items, current_user),
        kinds=KIND_LABELS, usages=USAGE_LABELS, q=q, kind=flt.kind, usage_filter=flt.usage, holder=flt.holder,
        filtering=filtering,
        export_args={name: value for name, value in (("kind", flt.kind), ("usage", flt.usage), ("holder", flt.holder))
                     if value},
        can_add=policy.can(current_user, Action.ADD_PREFIX),
        can_claim=policy.can(current_user, Action.CLAIM_PREFIX),
        can_review_claims=policy.can(current_user, Action.DECIDE_CLAIM),
    )  # fmt: skip


def _list_filter() -> queries.PrefixFilter:
    """The list's filters from the query string (unknown values are ignored)."""
    kind = request.args.get("kind") if request.args.get("kind") in {k.value for k in KIND_LABELS} else None
    usage = request.args.get("usage") if request.args.get("usage") in {u.value for u in USAGE_LABELS} else None
    holder = request.args.get("holder", "").strip()[:32] or None
    return queries.PrefixFilter(kind=kind, usage=usage, holder=holder)


@bp.get("/<int(max=2147483647):prefix_id>")
@allow(ANY_SIGNED_IN)
def prefix_detail(prefix_id: int) -> str:
    prefix = _load(prefix_id)
    children, after = _page_of(queries.tree_children(current_user, prefix), prefix.family)
    layout_visible = policy.can(current_user, Action.VIEW_LAYOUT, prefix)
    can_change = policy.can(current_user, Action.CHANGE_PREFIX, prefix)
    origin = queries.provenance(db.session, prefix)
    allocated = _just_allocated(prefix)
    shown = {p.id for p in children}
    return render_template(
        "ipam/prefix_detail.html",
        prefix=prefix,
        path=[a for a in queries.ancestors(db.session, prefix) if policy.can(current_user, Action.VIEW_PREFIX, a)],
        children=children,
        after=after,
        child_usage=queries.utilizations(db.session, children),
        child_counts=queries.tree_child_counts(db.session, children, current_user),
        usage=queries.prefix_utilization(db.session, prefix, unit_length=48 if prefix.prefix_len < 48 else 64),
        free=queries.free_block_page(db.session, prefix, request.args.get("free_after"), FREE_PAGE)
        if layout_visible
        else None,
        layout_visible=layout_visible,
        events=queries.prefix_history(db.session, prefix),
        strategy=STRATEGY_LABELS[prefix.default_strategy_enum] if prefix.default_strategy else None,
        provenance=origin,
        batch_visible=origin is not None and policy.can(current_user, ImportAction.VIEW_IMPORT, origin.batch),
        allocated={p.id for p in allocated},
        allocated_elsewhere=[p for p in allocated if p.id not in shown],
        can_allocate=policy.can(current_user, Action.ALLOCATE_FROM, prefix) and _allocatable_kinds(prefix) != [],
        can_change=can_change,
        # With prefixes below it (whoever's they are), releasing goes through the page that lists them.
        release_lists=can_change and queries.has_children(db.session, prefix),
    )


def _just_allocated(parent: Prefix) -> list[Prefix]:
    """The prefixes an allocation from ``parent`` just made (``?allocated=`` ids, as the allocation redirects)."""
    ids = [int(text) for text in request.args.get("allocated", "").split(",")[:ALLOCATED_SHOWN] if text.isdigit()]
    if not ids:
        return []
    found = db.session.scalars(
        queries.tree_children(current_user, parent)
        .where(Prefix.id.in_([i for i in ids if i <= 2147483647]))
        .order_by(Prefix.family, Prefix.start, Prefix.prefix_len)
    )
    return list(found)


@bp.get("/<int(max=2147483647):prefix_id>/children")
@allow(ANY_SIGNED_IN)
def children_fragment(prefix_id: int) -> str:
    """One page of a level of the user's tree as table rows, fetched when a row is expanded."""
    prefix = _load(prefix_id)
    children, after = _page_of(queries.tree_children(current_user, prefix), prefix.family)
    return render_template(
        "ipam/_children.html", prefix=prefix, items=children, after=after,
        usage=queries.utilizations(db.session, children), depth=request.args.get("depth", 1, type=int),
        child_counts=queries.tree_child_counts(db.session, children, current_user),
    )  # fmt: skip


@bp.get("/<int(max=2147483647):prefix_id>/map")
@allow(ANY_SIGNED_IN)
def space_map(prefix_id: int) -> str:
    prefix = _load(prefix_id)
    block = _map_block(prefix)
    length = request.args.get("length", type=int) or min(block.width, block.length + MAP_STEP)
    length = max(block.length, min(length, block.width, block.length + queries.MAX_MAP_STEP))
    # The map shows where the holder's customers sit: only for those who may see the block's layout.
    cells = (
        queries.space_map(db.session, prefix, length, within=block)
        if policy.can(current_user, Action.VIEW_LAYOUT, prefix)
        else None
    )
    return render_template(
        "ipam/space_map.html",
        prefix=prefix,
        block=block,
        cells=cells,
        length=length,
        lengths=list(range(block.length + 1, min(block.width, block.length + queries.MAX_MAP_STEP) + 1)),
        zoomed=block != prefix.net,
        way_out=enclosing_blocks(prefix.net, block, MAP_STEP),
        format_net=format_net,
        # Translated once, not once per cell: the lookup cost more than the rest of a cell's markup.
        used_share=_("%(share)d%% used"),
    )


def _map_block(prefix: Prefix) -> Net:
    """The block of ``prefix`` its map shows: ``within`` (a CIDR block inside it, as a cell of its map links to),
    else all of it; anything else shows all of it, saying so."""
    text = request.args.get("within", "").strip()[:64]
    if not text:
        return prefix.net
    try:
        block = parse_net(text)
    except ValueError:
        block = None
    if block is None or not prefix.net.contains(block):
        flash(
            _(
                "%(block)s is not a block inside %(prefix)s: the map shows all of it.",
                block=text,
                prefix=prefix.network,
            ),
            "warning",
        )
        return prefix.net
    return block


@bp.route("/new", methods=["GET", "POST"])
@allow(Action.ADD_PREFIX)
def prefix_create() -> str | Response:
    form = PrefixForm()
    # Nothing contains an aggregate: offered only to those who may register top-level blocks.
    if not (
        policy.can(current_user, Action.ADD_TOP_LEVEL_PREFIX)
        or policy.can(current_user, Action.ADD_TOP_LEVEL_PREFIX, current_user.organization)
    ):
        form.kind.choices = kind_choices(k for k in PrefixKind if k is not PrefixKind.AGGREGATE)
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
    # Who holds a prefix is decided by whoever allocated it: the field is offered to them only.
    if not policy.can(current_user, Action.CHANGE_HOLDER, prefix):
        del form.holder
    if request.method == "GET":
        if "holder" in form:
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
    # An empty (or withheld) holder field leaves the holder as it is.
    holder = {"holder": _holder(form.holder.data)} if "holder" in form and form.holder.data else {}
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
    kinds = _allocatable_kinds(parent)
    if not kinds:
        abort(403)  # a reserved block holds nothing
    form = AllocateForm()
    form.kind.choices = kind_choices(kinds)
    if request.method == "GET":
        form.length.data = parent.child_default_len or (48 if parent.prefix_len < 48 else min(parent.width, 64))
        form.strategy.data = parent.default_strategy_enum.value
        form.kind.data = next((k.value for k in (PrefixKind.ASSIGNMENT, PrefixKind.SUBNET) if k in kinds), kinds[0])
        if parent.kind in {PrefixKind.ASSIGNMENT, PrefixKind.SUBNET} and parent.holder is not None:
            form.holder.data = parent.holder.code  # subnets of a site are usually the site's own
    preview: list[str] | None = None
    if form.validate_on_submit():
        if form.preview.data:
            preview = _preview_allocation(parent, form)
        else:
            created = run_form_operation(form, _allocate_from_form, parent, form)
            if created:
                flash(_allocated_message(parent, created), "success")
                ids = ",".join(str(p.id) for p in created[:ALLOCATED_SHOWN])
                return redirect(url_for("ipam.prefix_detail", prefix_id=parent.id, allocated=ids))
    return render_template("ipam/allocate.html", form=form, parent=parent, preview=preview)


def _allocatable_kinds(parent: Prefix) -> list[PrefixKind]:
    return [k for k in PrefixKind if may_contain(parent.kind, k)]


def _allocated_message(parent: Prefix, created: list[Prefix]) -> str:
    named = ", ".join(p.network for p in created[:10])
    if len(created) > 10:
        return _(
            "Allocated %(n)d prefixes from %(parent)s: %(names)s and %(more)d more.",
            n=len(created),
            parent=parent.network,
            names=named,
            more=len(created) - 10,
        )
    return _("Allocated from %(parent)s: %(names)s.", parent=parent.network, names=named)


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


@bp.get("/<int(max=2147483647):prefix_id>/release")
@allow(Action.REGISTER_PREFIXES)
def release_confirm(prefix_id: int) -> str:
    """What releasing the prefix takes with it: every prefix below it, whoever holds it, a page at a time."""
    prefix = _load(prefix_id)
    policy.require(current_user, Action.CHANGE_PREFIX, prefix)
    return _release_page(prefix)


def _release_page(prefix: Prefix, changed: bool = False) -> str:
    items, after = queries.keyset_page(
        db.session, queries.descendants(prefix), queries.decode_cursor(request.args.get("after")), RELEASE_PAGE
    )
    return render_template(
        "ipam/release.html",
        prefix=prefix,
        items=items,
        after=queries.encode_cursor(after),
        total=queries.descendant_count(db.session, prefix),
        form=ReleaseForm(),
        changed=changed,
    )


@bp.post("/<int(max=2147483647):prefix_id>/release")
@allow(Action.REGISTER_PREFIXES)
def release(prefix_id: int) -> str | Response:
    prefix = _load(prefix_id)
    form = ReleaseForm()
    if not form.validate_on_submit():
        abort(400)
    parent_id = prefix.parent_id
    network = prefix.network
    recursive = form.recursive.data == "1"
    if recursive:
        policy.require(current_user, Action.CHANGE_PREFIX, prefix)
        if str(queries.descendant_count(db.session, prefix)) != form.expected.data:
            # The subtree changed since the list was shown: show what would go now.
            return _release_page(prefix, changed=True)
    try:
        released = operations.release_prefix(db.session, prefix, actor=current_user, recursive=recursive)
    except PrefixOverlap:
        # It has prefixes below it: the page that lists them offers releasing them together.
        return redirect(url_for("ipam.release_confirm", prefix_id=prefix_id))
    if released > 1:
        flash(
            _("%(prefix)s and the %(n)d prefixes inside it were released.", prefix=network, n=released - 1), "success"
        )
    else:
        flash(_("%(prefix)s released.", prefix=network), "success")
    return redirect(url_for("ipam.prefix_detail", prefix_id=parent_id) if parent_id else url_for("ipam.prefix_list"))


# --- exports and the holder picker ---------------------------------------------------------------------------


@bp.get("/export.csv")
@allow(ANY_SIGNED_IN)
def export_csv() -> Response:
    """The prefixes the user sees, with the list's filters (``within``: inside one prefix), streamed."""
    flt = _list_filter()
    within_id = request.args.get("within", type=int)
    stmt = queries.filtered(current_user, flt, db.session)
    name = "prefixes.csv"
    if within_id is not None:
        within = _load(within_id) if 0 < within_id <= 2147483647 else abort(404)
        stmt = stmt.where(
            Prefix.family == within.family,
            Prefix.start >= within.start,
            Prefix.start <= within.last,
            Prefix.prefix_len >= within.prefix_len,
        )
        name = f"prefixes-{within.network.replace(':', '-').replace('/', '_')}.csv"
    return csv_response(name, _export_header(), stream_with_context(_export_lines(stmt)))


def _export_header() -> list[str]:
    return [
        _("Prefix"), _("Kind"), _("Status"), _("Holder"), _("Short code"), _("Unified Social Credit Code"),
        _("Division code"), _("Division name"), _("Usage"), _("Assigned on"), _("Source"), _("Import number"),
        _("File"), _("Imported on"), _("Description"),
    ]  # fmt: skip


def _export_lines(stmt: Any) -> Iterator[list[object]]:
    chinese = current_language() == "zh_CN"
    kinds = {k.value: str(label) for k, label in KIND_LABELS.items()}
    statuses = {s.value: str(label) for s, label in STATUS_LABELS.items()}
    usages = {u.value: str(label) for u, label in USAGE_LABELS.items()}
    sources = {s.value: s.label for s in Source}
    for prefix, batch in queries.export_rows(db.session, stmt):
        holder = prefix.holder
        division = holder.division_code if holder is not None else None
        # The file an import came from is the importing carrier's (and the regulators') to see.
        shown = batch if batch is not None and policy.can(current_user, ImportAction.VIEW_IMPORT, batch) else None
        yield [
            prefix.network,
            kinds.get(prefix.kind, prefix.kind),
            statuses.get(prefix.status, prefix.status),
            holder.name if holder is not None else "",
            holder.code if holder is not None else "",
            (holder.uscc if holder is not None else None) or "",
            division or "",
            division_name(division, chinese=chinese) if division else "",
            usages.get(prefix.usage, prefix.usage) if prefix.usage else "",
            prefix.assigned_on.isoformat() if prefix.assigned_on else "",
            sources.get(prefix.source, prefix.source),
            batch.id if batch is not None else "",
            shown.file_name if shown is not None else "",
            shown.created_at.date().isoformat() if shown is not None else "",
            prefix.description or "",
        ]


@bp.get("/holders")
@allow(Action.REGISTER_PREFIXES)
def holder_choices() -> Response:
    """Organizations the user may name as a holder, matching ``q`` in the code, name or USCC (for the picker)."""
    found = queries.holder_choices(db.session, current_user, request.args.get("q", "")[:64], HOLDER_CHOICES)
    return jsonify(
        {
            "items": [
                {
                    "code": org.code,
                    "name": org.name,
                    "uscc": org.uscc,
                    "kind": org.kind_enum.label,
                    "division": division_name(org.division_code, chinese=current_language() == "zh_CN")
                    if org.division_code
                    else None,
                }
                for org in found
            ]
        }
    )


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
