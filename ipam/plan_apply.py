"""Applying a subnet plan: its blocks registered under the plan's parent, through ipam's bulk writer, all or none.

Every node of the plan is registered, each level inside the one above, with kinds that follow the registry's
nesting rule (``ipam.choices.may_contain``): under an assignment (what an enterprise holds) every level is a subnet
(a site's block holds its zones, a zone its VLANs); under an allocation or an aggregate (a carrier planning for a
customer) the sites are the holder's assignments and the levels below them subnets. Each block's description is
its path in the plan.

Re-applying is safe: a node already registered with its planned prefix is that node and is passed over, so a
re-plan creates only what is new. Anything else in the way, or any rule broken, refuses the whole plan before a
row is written.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts.audit import record_event
from accounts.models import Organization, User
from core import policy
from core.errors import ValidationFailed
from core.messages import message as _l
from ipam import queries
from ipam.changes import ChangeSet, drop_tables
from ipam.choices import PrefixKind, Source, may_contain
from ipam.errors import PrefixOverlap, SpaceTaken
from ipam.models import Prefix
from ipam.operations import enforce, placement_breaches
from ipam.permissions import Action
from ipam.planner import Placement, Plan
from ipam.rules import NO_POLICY, PoolPolicy
from ipam.space import Net, format_net


@dataclass(frozen=True, slots=True)
class AppliedBlock:
    path: str
    net: Net
    kind: str


@dataclass(frozen=True, slots=True)
class AppliedPlan:
    """What applying did: the blocks created and the nodes already registered (passed over)."""

    created: tuple[AppliedBlock, ...]
    already_registered: int

    @property
    def digest(self) -> str:
        """The blocks created, as a short key: a confirmation shown before applying names exactly these."""
        listed = "\n".join(f"{block.path} {format_net(block.net)} {block.kind}" for block in self.created)
        return hashlib.sha256(listed.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class _Planned:
    """A block this plan creates, as the rules see a container (``placement_breaches`` reads these three)."""

    net: Net
    kind: str
    pool_policy: PoolPolicy = NO_POLICY


@dataclass(frozen=True, slots=True)
class _Container:
    block: Any  # the plan's parent or a registered block (a Prefix), or a block this plan creates (_Planned)
    depth: int  # 0: registered; else the change set's creation depth


def block_kinds(plan: Plan, parent_kind: str) -> list[str]:
    """The kind each placement is registered as: sites are assignments where the parent hands out assignments,
    everything else (and everything under an assignment) a subnet."""
    placements = plan.placements
    assigns = may_contain(parent_kind, PrefixKind.ASSIGNMENT.value)
    kinds: list[str] = []
    for index, placement in enumerate(placements):
        following = placements[index + 1].path if index + 1 < len(placements) else ""
        inner = following.startswith(placement.path + "/")
        site = inner and "/" not in placement.path
        kinds.append(PrefixKind.ASSIGNMENT.value if site and assigns else PrefixKind.SUBNET.value)
    return kinds


def apply_plan(
    session: Session,
    plan: Plan,
    *,
    parent: Prefix,
    holder: Organization,
    actor: User | Any,
    usage: str | None = None,
    source: str = Source.MANUAL.value,
) -> AppliedPlan:
    """Register every block of ``plan`` under ``parent`` for ``holder``, or none: a refusal raises before anything
    is written (the caller rolls back)."""
    policy.require(actor, Action.ALLOCATE_FROM, parent)
    policy.require(actor, Action.NAME_HOLDER, holder)
    if plan.parent != parent.net:
        raise ValidationFailed.on(
            "parent",
            _l("The plan divides %(plan)s, not %(parent)s.", plan=format_net(plan.parent), parent=parent.network),
        )
    registered = {prefix.net: prefix for prefix in session.scalars(queries.descendants(parent))}
    in_the_way = _InTheWay(registered, {p.net for p in plan.placements})
    changes = ChangeSet(session, [parent.net])
    created: list[AppliedBlock] = []
    already = 0
    stack: list[tuple[Placement, _Container]] = []  # the placement's ancestors, with what each registers
    for placement, kind in zip(plan.placements, block_kinds(plan, parent.kind), strict=True):
        while stack and not placement.path.startswith(stack[-1][0].path + "/"):
            stack.pop()
        container = stack[-1][1] if stack else _Container(parent, 0)
        net = placement.net
        existing = registered.get(net)
        if existing is not None:  # applied before (or registered by hand): the node's blocks go inside it
            already += 1
            stack.append((placement, _Container(existing, 0)))
            continue
        in_the_way.refuse_overlap(net, parent)
        enforce(*placement_breaches(container.block, net, kind))
        depth = container.depth + 1
        changes.create(
            net,
            container.block.net,
            depth,
            kind=kind,
            holder_id=holder.id,
            usage=usage,
            description=placement.path,
            assigned_on=None,
        )
        created.append(AppliedBlock(placement.path, net, kind))
        stack.append((placement, _Container(_Planned(net, kind), depth)))
    if created:
        summary = _l("%(n)d blocks of a subnet plan created under %(parent)s", n=len(created), parent=parent.network)
        try:
            with session.begin_nested():
                changes.apply(actor=actor, source=source, batch_id=None, summary=summary)
        except IntegrityError:
            raise SpaceTaken() from None
        record_event(
            session,
            actor=actor,
            action="prefix.bulk_add",
            object_type="prefix",
            object_id=parent.network,
            organization_id=holder.id,
            summary=summary,
        )
        session.flush()
    drop_tables(session.connection())  # the change set's temporary tables: the connection goes back to a pool
    return AppliedPlan(tuple(created), already)


class _InTheWay:
    """The registered blocks below the parent, to refuse a new block that would overlap one: a block that is not
    a node of the plan anywhere it meets, or a registered node inside a new one (it would have to move)."""

    def __init__(self, registered: dict[Net, Prefix], planned: set[Net]) -> None:
        self.keys = sorted((net.start, net.length) for net in registered)
        starts: list[int] = []
        ends: list[int] = []
        for net in sorted(net for net in registered if net not in planned):  # merged: blocks nest or are apart
            if ends and net.start <= ends[-1]:
                ends[-1] = max(ends[-1], net.last)
            else:
                starts.append(net.start)
                ends.append(net.last)
        self.foreign_starts, self.foreign_ends = starts, ends

    def refuse_overlap(self, net: Net, parent: Prefix) -> None:
        at = bisect_left(self.keys, (net.start, net.length + 1))
        inside = at < len(self.keys) and self.keys[at][0] <= net.last
        at = bisect_right(self.foreign_starts, net.last) - 1
        foreign = at >= 0 and self.foreign_ends[at] >= net.start
        if inside or foreign:
            raise PrefixOverlap(
                _l("%(prefix)s overlaps another prefix in %(parent)s.", prefix=format_net(net), parent=parent.network)
            )
