"""Subnet plan pages (``/plans``): the saved plans, the planner (a tree editor with a live preview, a picture of
the parent and messages beside the failing node), side-by-side comparison, applying, exports."""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from accounts.models import User
from core import policy
from core.errors import DomainError, json_error
from core.extensions import db
from core.forms import roll_back_request
from core.security import allow
from core.web import page_number, paginate, run_form_operation
from ipam import plan_exports, plan_format, plans
from ipam.models import Prefix, SubnetPlan
from ipam.permissions import Action
from ipam.plan_forms import PlanForm, PlanStepForm, parent_choices, plannable_blocks, prefix_id, starting_text
from ipam.planner import Placement, Plan
from ipam.space import Net, format_net, parse_net

bp = Blueprint("plans", __name__, url_prefix="/plans")
PLAN = Action.PLAN_SUBNETS.value
ID = "int(max=2147483647)"
PREVIEW_ROWS = 2000  # nodes the preview table lists; the exports hold every node
CONFIRM_ROWS = 500  # new blocks the confirmation page names
COMPARE_ROWS = 2000
PLAN_CHOICES = 200  # plans offered to compare with
MAP_BITS = 8  # the picture cuts the parent into 2**8 cells (fewer when the parent is that small)
EXISTING, RESERVED = "existing", "reserved"
TREE_ITEMS = 100_000  # values of a document the editor is given; YAML aliases can multiply a small text
TREE_DEPTH = 200
EXPORTS = {
    "csv": ("text/csv", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "json": ("application/json", "json"),
    "yaml": ("application/yaml", "yaml"),
    "arpa": ("text/plain", "ip6.arpa.txt"),
}


def _load(plan_id: int) -> SubnetPlan:
    saved = plans.visible_plan(db.session, current_user, plan_id)
    if saved is None:
        abort(404)
    return saved


# -- the saved plans ---------------------------------------------------------------------------------------------


@bp.get("")
@allow(PLAN)
def plan_list() -> str:
    # Who applied each plan comes in the same statement (no query per row).
    stmt = (
        plans.visible_plans(current_user)
        .outerjoin(User, User.id == SubnetPlan.applied_by_id)
        .add_columns(User.display_name)
    )
    page = paginate(db.session, stmt, page_number())
    return render_template("plans/plan_list.html", page=page, choices=_plan_choices())


def _plan_choices() -> list[Any]:
    """The organization's latest plans, to choose two to compare."""
    stmt = plans.visible_plans(current_user).with_only_columns(SubnetPlan.id, SubnetPlan.name).limit(PLAN_CHOICES)
    return list(db.session.execute(stmt))


@bp.route("/new", methods=["GET", "POST"])
@allow(PLAN)
def plan_new() -> str | Response:
    blocks = plannable_blocks(db.session, current_user)
    form = PlanForm()
    form.parent.choices = parent_choices(blocks)
    if request.method == "GET":
        wanted = prefix_id(request.args.get("parent"))
        chosen = next((b for b in blocks if b.id == wanted), blocks[0] if blocks else None)
        form.parent.data = chosen.id if chosen is not None else None
        form.text.data = starting_text(chosen.net if chosen is not None else None)
    elif form.validate_on_submit():
        result = run_form_operation(
            form, plans.save_plan, db.session, name=form.name.data, text=form.text.data, parent=_posted_parent(form),
            actor=current_user,
        )  # fmt: skip
        if result is not None:
            saved, preview = result
            _flash_saved(preview)
            return redirect(url_for("plans.plan_detail", plan_id=saved.id))
    return _planner_page(form, blocks, None)


@bp.route(f"/<{ID}:plan_id>", methods=["GET", "POST"])
@allow(PLAN)
def plan_detail(plan_id: int) -> str | Response:
    saved = _load(plan_id)
    blocks = plannable_blocks(db.session, current_user)
    if saved.parent is not None and saved.parent not in blocks:
        blocks.insert(0, saved.parent)  # the block it divides stays on offer (a refusal then says why)
    if request.method == "GET":
        form = PlanForm(data={"name": saved.name, "parent": saved.parent_id, "text": saved.text})
    else:
        form = PlanForm()
    form.parent.choices = parent_choices(blocks)
    if form.validate_on_submit():
        result = run_form_operation(
            form, plans.save_plan, db.session, name=form.name.data, text=form.text.data, parent=_posted_parent(form),
            actor=current_user, saved=saved,
        )  # fmt: skip
        if result is not None:
            _flash_saved(result[1])
            return redirect(url_for("plans.plan_detail", plan_id=saved.id))
    return _planner_page(form, blocks, saved)


def _posted_parent(form: PlanForm) -> Prefix | None:
    return db.session.get(Prefix, form.parent.data) if form.parent.data else None


def _flash_saved(preview: plans.Preview) -> None:
    if preview.fits:
        flash(_("The plan was saved."), "success")
    else:
        flash(_("The plan was saved, but it does not fit yet: %(problem)s", problem=str(preview.problem)), "warning")


def _planner_page(form: PlanForm, blocks: list[Prefix], saved: SubnetPlan | None) -> str:
    """The planner: the form and its editor, with the preview of the text shown (as saved, or as just posted)."""
    chosen = next((b for b in blocks if b.id == form.parent.data), None)
    if chosen is not None:
        parent: Net | None = chosen.net
    else:
        parent = parse_net(saved.parent_network) if saved is not None else None
    shown = _show(form.text.data or "", parent, saved) if parent is not None else None
    config = {
        "previewUrl": url_for("plans.plan_preview"),
        "planId": saved.id if saved is not None else None,
        "parents": {str(b.id): b.network for b in blocks},
        "tree": shown.tree if shown is not None else None,
        "strings": _planner_strings(),
    }
    applied_by = db.session.get(User, saved.applied_by_id) if saved is not None and saved.applied_by_id else None
    return render_template(
        "plans/planner.html", form=form, saved=saved, shown=shown, config=config, applied_by=applied_by,
        step_form=PlanStepForm(), choices=[c for c in _plan_choices() if saved is None or c.id != saved.id],
        exports=EXPORTS, ipv6=parent is None or parent.width == 128,
    )  # fmt: skip


def _planner_strings() -> dict[str, str]:
    """The words static/planner.js shows, in the reader's language (it fills in ``%(n)d`` and the like)."""
    return {
        "plan": _("Whole plan"),
        "nibble": _("Round sizes to a nibble (multiples of 4 bits)"),
        "headroom": _("Headroom"),
        "headroomHelp": _("Spare factor of every node sized by its children: 1 is none, 2 doubles."),
        "reserve": _("Reserve"),
        "reserveHelp": _("Prefixes kept out of the plan, separated by spaces."),
        "nodes": _("Nodes"),
        "name": _("Name"),
        "nameHelp": _("One name; or several separated by commas, one node each."),
        "count": _("Count"),
        "countHelp": _("How many copies: site makes site-1, site-2 …"),
        "length": _("Length"),
        "lengthHelp": _("Prefix length; empty: sized by its children."),
        "nodeHeadroom": _("Headroom"),
        "nodeHeadroomHelp": _("Empty: the plan’s."),
        "addChild": _("Add a node inside"),
        "addSibling": _("Add a node beside"),
        "remove": _("Remove"),
        "addTop": _("Add a site"),
        "notEditable": _(
            "The text is not a plan the editor can show; edit the text, or use the editor again to replace it."
        ),
        "checking": _("Checking…"),
        "fits": _("The plan fits."),
        "failed": _("The preview could not be fetched; saving the form still works."),
        "nodesShown": _("%(n)d nodes."),
        "firstShown": _("The first %(n)d of %(total)d nodes; the exports hold every node."),
        "caption": _("The parent in %(n)d blocks of /%(length)d"),
        "existing": _("registered, not this plan’s"),
        "reserved": _("reserved"),
        "free": _("free"),
        "kept": _("kept"),
        "keptHelp": _("Placed when the plan was applied; it stays there."),
        "saveFirst": _("Save the plan first: applying registers the plan as saved."),
    }


# -- the live preview ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shown:
    """A plan's text laid out for the page and the live preview: the table's rows (the first ``PREVIEW_ROWS`` of
    ``total``), the picture of the parent, and the document as the editor rebuilds it (None: not one it can show).
    ``in_document``: the problem is a place in the document (``preview.path`` such as ``nodes[0].length``), not
    a node that does not fit."""

    preview: plans.Preview
    rows: list[dict[str, Any]]
    total: int
    picture: dict[str, Any]
    tree: Any
    in_document: bool

    def as_json(self) -> dict[str, Any]:
        problem = self.preview.problem
        return {
            "ok": self.preview.fits, "nodes": self.rows, "total": self.total,
            "problem": str(problem) if problem is not None else None, "path": self.preview.path,
            "in_document": self.in_document, "tree": self.tree, "map": self.picture,
        }  # fmt: skip


def _show(text: str, parent: Net, saved: SubnetPlan | None) -> _Shown:
    # Once applied, the nodes applied stay in place (in the block the plan was applied to).
    previous = plans.applied_prefixes(saved) if saved is not None and saved.parent_network == str(parent) else None
    preview = plans.preview_text(db.session, text, parent=parent, actor=current_user, previous=previous)
    document: Any = None
    spec = None
    try:
        document = plan_format.load_document(text)
        spec = plan_format.plan_from_document(document, parent=parent)
    except plan_format.PlanFormatError:
        pass  # the preview says what is wrong and where
    placements = preview.plan.placements if preview.plan is not None else ()
    registered = plans.registered_children(db.session, parent, actor=current_user) or []
    return _Shown(
        preview=preview,
        rows=[_row(p) for p in placements[:PREVIEW_ROWS]],
        total=len(placements),
        picture=_picture(parent, placements, registered, spec.reserved if spec is not None else ()),
        tree=_editable(document),
        in_document=spec is None,
    )


def _row(placement: Placement) -> dict[str, Any]:
    size = plan_exports.size_in_64s(placement.net)
    # A part of a /64, or a size a browser's numbers cannot hold exactly, goes as text.
    shown: int | str | None
    if isinstance(size, Fraction):
        shown = f"{size.numerator}/{size.denominator}"
    else:
        shown = size if size is None or size < 2**53 else str(size)
    return {"path": placement.path, "prefix": format_net(placement.net), "size_64s": shown, "kept": placement.kept,
            "depth": placement.path.count("/")}  # fmt: skip


def _picture(parent: Net, placements: Sequence[Placement], registered: Sequence[Net], reserved: Sequence[Net]
             ) -> dict[str, Any]:  # fmt: skip
    """The parent cut into equal cells, each owned by the first site (top-level node) in it, else by a registered
    block that is not the plan's (``existing``), else by a reserved one, else free (None)."""
    length = min(parent.width, parent.length + MAP_BITS)
    step = parent.width - length
    owners: list[str | None] = [None] * (1 << (length - parent.length))
    sites = [(p.net, p.path) for p in placements if "/" not in p.path]
    planned = {net for net, _path in sites}
    layers = [*sites, *((n, EXISTING) for n in registered if n not in planned), *((n, RESERVED) for n in reserved)]
    for net, owner in layers:
        first = (max(net.start, parent.start) - parent.start) >> step
        last = (min(net.last, parent.last) - parent.start) >> step
        for index in range(first, last + 1):
            if owners[index] is None:
                owners[index] = owner
    present = set(owners)
    return {
        "length": length,
        "cells": [
            {"prefix": format_net(Net(parent.start + (index << step), length, parent.width)), "owner": owner}
            for index, owner in enumerate(owners)
        ],
        "sites": [path for _net, path in sites if path in present],
    }


class _NotEditable(Exception):
    pass


def _editable(document: Any) -> Any:
    """The document as JSON for the editor (values JSON has no word for, such as YAML dates, as text), or None
    when it is too large or deep to be a plan one edits."""
    budget = [TREE_ITEMS]

    def plain(value: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0 or depth > TREE_DEPTH:
            raise _NotEditable
        if isinstance(value, Mapping):
            return {str(key): plain(item, depth + 1) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [plain(item, depth + 1) for item in value]
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, float) and math.isfinite(value):
            return value
        return str(value)

    try:
        return plain(document, 0)
    except _NotEditable:
        return None


@bp.post("/preview")
@allow(PLAN)
def plan_preview() -> Response:
    """The live preview of a plan's text: ``{"text", "parent_id", "plan_id"?}`` in, the layout out. Writes
    nothing."""
    roll_back_request()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        return json_error(422, "validation_failed", _("Send the plan's text and the block it divides."),
                          {"text": [_("This field is required.")]})  # fmt: skip
    if len(body["text"]) > plans.MAX_TEXT:
        return json_error(422, "validation_failed", _("The plan's text is too long."),
                          {"text": [_("At most %(n)d characters.", n=plans.MAX_TEXT)]})  # fmt: skip
    saved = None
    if body.get("plan_id") is not None:
        saved = plans.visible_plan(db.session, current_user, prefix_id(body["plan_id"]) or 0)
        if saved is None:
            return json_error(404, "not_found", _("The page or object you asked for does not exist."))
    chosen = prefix_id(body.get("parent_id"))
    parent = db.session.get(Prefix, chosen) if chosen else None
    if parent is None or not policy.can(current_user, Action.ALLOCATE_FROM, parent):
        return json_error(422, "validation_failed", _("Plan in a block your organization holds."),
                          {"parent_id": [_("Plan in a block your organization holds.")]})  # fmt: skip
    return jsonify(_show(body["text"], parent.net, saved).as_json())


# -- applying, deleting, exporting --------------------------------------------------------------------------------


@bp.post(f"/<{ID}:plan_id>/apply")
@allow(PLAN)
def plan_apply(plan_id: int) -> str | Response:
    """Apply in two steps: the first shows the blocks applying creates (the very operation, rolled back);
    confirming applies exactly those, unless the registry changed meanwhile (then the new list is shown)."""
    saved = _load(plan_id)
    form = PlanStepForm()
    if not form.validate_on_submit():
        abort(400)
    savepoint = db.session.begin_nested()
    try:
        applied = plans.apply_saved_plan(db.session, saved, actor=current_user)
    except DomainError as refused:
        savepoint.rollback()
        roll_back_request()
        _flash_refusal(refused)
        return redirect(url_for("plans.plan_detail", plan_id=plan_id))
    confirmed = form.expected.data == applied.digest  # exactly the blocks the confirmation listed
    if not confirmed:
        savepoint.rollback()
        return render_template(
            "plans/apply_confirm.html", saved=saved, applied=applied, shown=applied.created[:CONFIRM_ROWS],
            step_form=PlanStepForm(data={"expected": applied.digest}), changed=bool(form.expected.data),
        )  # fmt: skip
    savepoint.commit()
    flash(
        _("%(created)d blocks created, %(already)d already registered.", created=len(applied.created),
          already=applied.already_registered),
        "success",
    )  # fmt: skip
    return redirect(url_for("plans.plan_detail", plan_id=plan_id))


def _flash_refusal(refused: DomainError) -> None:
    flash(str(refused.message), "danger")
    for messages in refused.fields.values():
        for message in messages:
            if message != refused.message:
                flash(str(message), "danger")


@bp.post(f"/<{ID}:plan_id>/delete")
@allow(PLAN)
def plan_delete(plan_id: int) -> Response:
    saved = _load(plan_id)
    if not PlanStepForm().validate_on_submit():
        abort(400)
    name = saved.name
    plans.delete_plan(db.session, saved, actor=current_user)
    flash(_("The plan %(name)s was deleted; what it registered stays in the registry.", name=name), "success")
    return redirect(url_for("plans.plan_list"))


@bp.get(f"/<{ID}:plan_id>/export/<any(csv,xlsx,json,yaml,arpa):fmt>")
@allow(PLAN)
def plan_export(plan_id: int, fmt: str) -> Response:
    """The saved plan as laid out now (applied nodes in place): for the network team, to re-plan from, or the
    ip6.arpa zones to delegate per site."""
    saved = _load(plan_id)
    preview = plans.preview_saved(db.session, saved, actor=current_user)
    if preview.plan is None:
        flash(_("The plan does not fit, so there is nothing to export: %(problem)s", problem=str(preview.problem)),
              "warning")  # fmt: skip
        return redirect(url_for("plans.plan_detail", plan_id=plan_id))
    if fmt == "arpa" and preview.plan.parent.width != 128:
        flash(_("ip6.arpa zones are for IPv6 plans."), "warning")
        return redirect(url_for("plans.plan_detail", plan_id=plan_id))
    mimetype, extension = EXPORTS[fmt]
    response = Response(_exported(preview.plan, fmt), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="plan-{saved.id}.{extension}"'
    return response


def _exported(result: Plan, fmt: str) -> bytes | str:
    if fmt == "xlsx":
        binary = io.BytesIO()
        plan_exports.write_xlsx(binary, result)
        return binary.getvalue()
    if fmt == "json":
        return plan_exports.as_json_text(result)
    if fmt == "yaml":
        return plan_exports.as_yaml_text(result)
    text = io.StringIO()
    if fmt == "csv":
        text.write("\ufeff")  # Excel reads the names of a plan written in Chinese as UTF-8 only with the mark
        plan_exports.write_csv(text, result)
    else:
        plan_exports.write_arpa(text, result)
    return text.getvalue()


# -- comparing ----------------------------------------------------------------------------------------------------


@bp.get("/compare")
@allow(PLAN)
def plan_compare() -> str | Response:
    """Two plans side by side by path, as last saved: each node the same, moved, added (right only) or removed."""
    left_id, right_id = prefix_id(request.args.get("left")), prefix_id(request.args.get("right"))
    if left_id is None or right_id is None:
        flash(_("Choose two plans to compare."), "warning")
        return redirect(url_for("plans.plan_list"))
    left, right = _load(left_id), _load(right_id)
    changes_only = request.args.get("changes") == "1"
    rows = plans.compare(left.placements, right.placements)
    counts = Counter(row.change for row in rows)
    listed = [row for row in rows if not changes_only or row.change != "same"]
    return render_template(
        "plans/compare.html", left=left, right=right, rows=listed[:COMPARE_ROWS], listed=len(listed), counts=counts,
        changes_only=changes_only,
    )  # fmt: skip
