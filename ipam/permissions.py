"""Who may do what in the prefix registry, registered with ``core.policy``."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from accounts.permissions import allocates, holds, is_administrator, is_enterprise, is_own, is_registry, is_regulator
from core.policy import rule


class Action(StrEnum):
    VIEW_PREFIX = "view_prefix"
    VIEW_LAYOUT = "view_layout"
    CHANGE_HOLDER = "change_holder"
    ADD_TOP_LEVEL_PREFIX = "add_top_level_prefix"
    ADD_PREFIX = "add_prefix"
    CLAIM_PREFIX = "claim_prefix"
    DECIDE_CLAIM = "decide_claim"
    VIEW_CLAIMS = "view_claims"
    ALLOCATE_FROM = "allocate_from"
    CHANGE_PREFIX = "change_prefix"
    REGISTER_PREFIXES = "register_prefixes"
    NAME_HOLDER = "name_holder"
    VIEW_REQUEST = "view_request"
    REQUEST_PREFIXES = "request_prefixes"  # write, submit, correct and withdraw one's own organization's requests
    DECIDE_REQUEST = "decide_request"  # approve (allocating), return, reject the requests made to one's organization
    PLAN_SUBNETS = "plan_subnets"  # save, compare and apply subnet plans of the blocks one's organization holds


@rule(Action.NAME_HOLDER)
def _name_holder(user: Any, organization: Any) -> bool:
    # obj: the organization (or None) a prefix is recorded for. Allocators hand space to customers; an enterprise
    # records only itself.
    if is_enterprise(user):
        return is_own(user, organization)
    return is_administrator(user) or allocates(user)


@rule(Action.REGISTER_PREFIXES)
def _register_prefixes(user: Any, obj: Any) -> bool:
    # Route-level: who may open the forms and API calls that change the registry at all.
    return is_administrator(user) or allocates(user) or is_enterprise(user)


@rule(Action.VIEW_PREFIX)
def _view_prefix(user: Any, prefix: Any) -> bool:
    return is_regulator(user) or holds(user, prefix) or holds(user, getattr(prefix, "parent", None))


@rule(Action.VIEW_LAYOUT)
def _view_layout(user: Any, prefix: Any) -> bool:
    # How a block is used inside (its children, free blocks, map) is its holder's: the organization that handed
    # the block out sees the block, not the holder's own customers.
    return is_regulator(user) or holds(user, prefix)


@rule(Action.CHANGE_HOLDER)
def _change_holder(user: Any, prefix: Any) -> bool:
    # Who holds a prefix is decided by whoever allocated it (the parent's holder), never by the holder.
    return is_administrator(user) or (allocates(user) and holds(user, getattr(prefix, "parent", None)))


@rule(Action.ADD_TOP_LEVEL_PREFIX)
def _add_top_level(user: Any, organization: Any) -> bool:
    # obj: the organization that will hold the new top-level block. Top-level space is what registries hand out:
    # regulator administrators register it, and a registry its own records; a carrier's claim to unclaimed space
    # is not its own to make.
    return is_administrator(user) or (is_own(user, organization) and is_registry(user))


@rule(Action.ADD_PREFIX)
def _add_prefix(user: Any, obj: Any) -> bool:
    # The registration form: blocks (administrators, registries) and records inside one's own blocks.
    return is_administrator(user) or allocates(user)


@rule(Action.CLAIM_PREFIX)
def _claim_prefix(user: Any, claimant: Any) -> bool:
    # obj: the claimant. A carrier or allocator claims unregistered space for itself; a regulator administrator
    # confirms it (registries register their records directly).
    return allocates(user) and (claimant is None or is_own(user, claimant))


@rule(Action.DECIDE_CLAIM)
def _decide_claim(user: Any, obj: Any) -> bool:
    return is_administrator(user)


@rule(Action.VIEW_CLAIMS)
def _view_claims(user: Any, claim: Any) -> bool:
    # obj: a claim (None: the claims page at all)
    if is_regulator(user):
        return True
    return allocates(user) and (claim is None or claim.claimant_id == user.organization_id)


@rule(Action.ALLOCATE_FROM)
def _allocate_from(user: Any, prefix: Any) -> bool:
    if is_administrator(user):
        return True
    if is_enterprise(user):
        # Enterprises plan subnets inside what was assigned to them.
        return holds(user, prefix) and prefix.kind in {"assignment", "subnet"}
    return allocates(user) and holds(user, prefix)


@rule(Action.CHANGE_PREFIX)
def _change_prefix(user: Any, prefix: Any) -> bool:
    if is_administrator(user):
        return True
    if is_enterprise(user):
        return holds(user, prefix) and prefix.kind == "subnet"
    # What an allocator holds, or handed out itself.
    return allocates(user) and (holds(user, prefix) or holds(user, getattr(prefix, "parent", None)))


@rule(Action.VIEW_REQUEST)
def _view_request(user: Any, request: Any) -> bool:
    # obj: a prefix request (None: the requests pages at all). Regulators read every request; the requester its
    # own; the allocator those made to it once submitted (a draft is the requester's own business).
    if is_regulator(user):
        return True
    if request is None:
        return allocates(user) or is_enterprise(user)
    if request.requester_id == user.organization_id:
        return True
    # A request the requester never submitted (a draft, or one withdrawn as a draft) was never sent.
    return allocates(user) and request.provider_id == user.organization_id and request.submitted_at is not None


@rule(Action.REQUEST_PREFIXES)
def _request_prefixes(user: Any, request: Any) -> bool:
    return is_enterprise(user) and (request is None or request.requester_id == user.organization_id)


@rule(Action.DECIDE_REQUEST)
def _decide_request(user: Any, request: Any) -> bool:
    return allocates(user) and (request is None or request.provider_id == user.organization_id)


@rule(Action.PLAN_SUBNETS)
def _plan_subnets(user: Any, plan: Any) -> bool:
    # obj: a saved plan (None: the planner at all). Enterprises plan the blocks assigned to them, allocators their
    # customers' sites; a plan is its organization's. Regulators hold no blocks to plan.
    if not (is_enterprise(user) or allocates(user)):
        return False
    return plan is None or plan.organization_id == user.organization_id
