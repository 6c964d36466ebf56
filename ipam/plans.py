"""Subnet plans laid out against the registry, and saved plans: drafts of an organization, previewed, compared
side by side and applied through the registry writer (``ipam.plan_apply``).

The planner (``ipam.planner``) is pure; this module feeds it what the registry holds: the parent's registered
children are kept out of the plan, except the nodes the plan's previous application registered (they are the
plan's own, and stay where they are unless the plan is repacked). Operations take the session and the acting
user, flush and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from accounts.audit import record_event, snapshot
from core import policy
from core.db import utcnow
from core.errors import NotFound, ValidationFailed
from core.messages import Message
from core.messages import message as _l
from ipam import plan_apply, queries
from ipam.models import Prefix, SubnetPlan
from ipam.permissions import Action
from ipam.plan_format import PlanFormatError, read_plan
from ipam.planner import Plan, PlanError, PlanSpec, plan
from ipam.space import Net, format_net, parse_net

OBJECT_TYPE = "subnet_plan"
MAX_NAME = 120
MAX_TEXT = 500_000


# -- laying a plan out against the registry -----------------------------------------------------------------------


def registered_children(session: Session, parent: Net, *, actor: Any) -> list[Net] | None:
    """The registry's children of ``parent``; None when the parent is not registered, or when ``actor`` may not
    see how it is used inside (a plan in someone else's block is laid out as in an empty one: how the block is
    divided is its holder's business)."""
    found = queries.get_prefix(session, parent)
    if found is None or not policy.can(actor, Action.VIEW_LAYOUT, found):
        return None
    return [child.net for child in queries.children_within(session, found.id, found.net)]


def kept_out(registered: Sequence[Net] | None, previous: Mapping[str, Net] | None) -> list[Net]:
    """What the planner lays the plan around: the registered children of the parent, except the previous plan's
    own nodes (an applied plan registers its top-level nodes in the parent, where they are the plan's)."""
    placed = set(previous.values()) if previous else set()
    return [net for net in registered or () if net not in placed]


def lay_out(session: Session, spec: PlanSpec, *, actor: Any, previous: Mapping[str, Net] | None = None) -> Plan:
    """The plan of ``spec`` in its parent as the registry holds it now, as far as ``actor`` may see it (PlanError
    when it does not fit)."""
    existing = kept_out(registered_children(session, spec.parent, actor=actor), previous)
    return plan(spec, existing=existing, previous=previous)


@dataclass(frozen=True)
class Preview:
    """A plan's text laid out: the plan, or the problem and the node it concerns (``path``; "" for the whole
    document, or the place in the document for a format error)."""

    plan: Plan | None
    problem: Message | None = None
    path: str = ""

    @property
    def fits(self) -> bool:
        return self.plan is not None


def preview_text(session: Session, text: str, *, parent: Net | None, actor: Any,
                 previous: Mapping[str, Net] | None = None) -> Preview:  # fmt: skip
    """Read and lay out a plan's text (``parent`` replaces the document's own); never raises for a bad plan."""
    try:
        spec = read_plan(text, parent=parent)
    except PlanFormatError as problem:
        return Preview(None, problem.message, problem.where)
    if previous is not None and any(net.width != spec.parent.width for net in previous.values()):
        previous = None
    try:
        return Preview(lay_out(session, spec, actor=actor, previous=previous))
    except PlanError as problem:
        return Preview(None, problem.message, problem.path)


# -- saved plans -------------------------------------------------------------------------------------------------


def visible_plans(user: Any) -> Select[tuple[SubnetPlan]]:
    """The saved plans of the user's organization, the latest first."""
    return (
        select(SubnetPlan)
        .where(SubnetPlan.organization_id == user.organization_id)
        .order_by(SubnetPlan.updated_at.desc(), SubnetPlan.id.desc())
    )


def visible_plan(session: Session, user: Any, plan_id: int) -> SubnetPlan | None:
    found = session.get(SubnetPlan, plan_id)
    if found is None or not policy.can(user, Action.PLAN_SUBNETS, found):
        return None
    return found


def applied_prefixes(saved: SubnetPlan) -> dict[str, Net] | None:
    """Path → prefix of the plan as last applied (the previous plan of a re-plan), or None."""
    if not saved.applied:
        return None
    return {path: parse_net(prefix) for path, prefix in saved.applied}


def preview_saved(session: Session, saved: SubnetPlan, *, actor: Any, repack: bool = False) -> Preview:
    """The saved plan laid out now; once applied, every node applied stays in place unless ``repack``."""
    previous = None if repack else applied_prefixes(saved)
    return preview_text(session, saved.text, parent=parse_net(saved.parent_network), actor=actor, previous=previous)


def _placements(result: Plan) -> list[list[str]]:
    return [[p.path, format_net(p.net)] for p in result.placements]


def _checked_values(session: Session, name: str | None, text: str | None, parent: Prefix | None, actor: Any
                    ) -> dict[str, list[Message]]:  # fmt: skip
    errors: dict[str, list[Message]] = {}
    if not (name or "").strip():
        errors["name"] = [_l("This field is required.")]
    elif len(name or "") > MAX_NAME:
        errors["name"] = [_l("At most %(n)d characters.", n=MAX_NAME)]
    if not (text or "").strip():
        errors["text"] = [_l("This field is required.")]
    elif len(text or "") > MAX_TEXT:
        errors["text"] = [_l("At most %(n)d characters.", n=MAX_TEXT)]
    if parent is None:
        errors["parent"] = [_l("This field is required.")]
    elif not policy.can(actor, Action.ALLOCATE_FROM, parent):
        errors["parent"] = [_l("Plan in a block your organization holds.")]
    return errors


def save_plan(
    session: Session,
    *,
    name: str | None,
    text: str | None,
    parent: Prefix | None,
    actor: Any,
    saved: SubnetPlan | None = None,
) -> tuple[SubnetPlan, Preview]:
    """Create (or, given ``saved``, update) a draft plan of the actor's organization in ``parent``. The text must
    be a plan; one that does not fit yet is saved, with its problem returned beside it."""
    policy.require(actor, Action.PLAN_SUBNETS, saved)
    errors = _checked_values(session, name, text, parent, actor)
    if saved is not None and parent is not None and saved.applied and parent.network != saved.parent_network:
        errors.setdefault("parent", []).append(_l("An applied plan stays in the block it was applied to."))
    if errors:
        raise ValidationFailed(_l("Please correct the marked fields."), fields=errors)
    assert parent is not None and text is not None and name is not None
    try:
        read_plan(text, parent=parent.net)
    except PlanFormatError as problem:
        raise ValidationFailed.on("text", problem.located) from None
    previous = applied_prefixes(saved) if saved is not None else None
    preview = preview_text(session, text, parent=parent.net, actor=actor, previous=previous)
    before = snapshot(saved) if saved is not None else None
    if saved is None:
        saved = SubnetPlan(organization_id=actor.organization_id, created_by_id=getattr(actor, "id", None))
        session.add(saved)
    saved.name, saved.text = name.strip(), text
    saved.parent_id, saved.parent_network = parent.id, parent.network
    saved.placements = _placements(preview.plan) if preview.plan is not None else None
    session.flush()
    record_event(session, actor=actor, action="plan.update" if before else "plan.create", object_type=OBJECT_TYPE,
                 object_id=saved.id, organization_id=saved.organization_id, before=before, after=snapshot(saved),
                 summary=saved.name)  # fmt: skip
    return saved, preview


def delete_plan(session: Session, saved: SubnetPlan, *, actor: Any) -> None:
    """Delete a saved plan (what it registered stays in the registry)."""
    policy.require(actor, Action.PLAN_SUBNETS, saved)
    record_event(session, actor=actor, action="plan.delete", object_type=OBJECT_TYPE, object_id=saved.id,
                 organization_id=saved.organization_id, before=snapshot(saved), summary=saved.name)  # fmt: skip
    session.delete(saved)
    session.flush()


def apply_saved_plan(session: Session, saved: SubnetPlan, *, actor: Any, repack: bool = False
                     ) -> plan_apply.AppliedPlan:  # fmt: skip
    """Register the saved plan's blocks under its parent for the plan's organization, all or none; a re-plan of an
    applied plan creates only what is new. Refused (PlanError) when the plan does not fit."""
    policy.require(actor, Action.PLAN_SUBNETS, saved)
    parent = saved.parent
    if parent is None:
        raise NotFound(_l("The block this plan divides is no longer registered."))
    result = preview_saved(session, saved, actor=actor, repack=repack)
    if result.plan is None:
        raise ValidationFailed.on("text", result.problem or _l("The plan does not fit."))
    applied = plan_apply.apply_plan(session, result.plan, parent=parent, holder=saved.organization, actor=actor)
    placements = _placements(result.plan)
    saved.placements, saved.applied = placements, placements
    saved.applied_at, saved.applied_by_id = utcnow(), getattr(actor, "id", None)
    session.flush()
    record_event(session, actor=actor, action="plan.apply", object_type=OBJECT_TYPE, object_id=saved.id,
                 organization_id=saved.organization_id, after={"created": len(applied.created),
                 "already_registered": applied.already_registered}, summary=saved.name)  # fmt: skip
    return applied


# -- comparing -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparedNode:
    path: str
    left: str | None
    right: str | None

    @property
    def change(self) -> str:
        """``same``, ``moved`` (a different prefix), ``added`` (only right) or ``removed`` (only left)."""
        if self.left is None:
            return "added"
        if self.right is None:
            return "removed"
        return "same" if self.left == self.right else "moved"


def compare(left: Sequence[Sequence[str]] | None, right: Sequence[Sequence[str]] | None) -> list[ComparedNode]:
    """Two plans' placements side by side by path: the left plan's order, then what only the right has."""
    left_map = {path: prefix for path, prefix in left or ()}
    right_map = {path: prefix for path, prefix in right or ()}
    rows = [ComparedNode(path, prefix, right_map.get(path)) for path, prefix in left_map.items()]
    rows += [ComparedNode(path, None, prefix) for path, prefix in right_map.items() if path not in left_map]
    return rows
