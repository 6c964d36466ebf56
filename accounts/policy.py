"""The one place that answers "may this user do ACTION (on OBJECT)?".

Views, the API and operations all ask here. ``actor=None`` is the system itself (CLI commands run by the
operator of the machine, demo loading, migrations), which may do everything.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext as _l

from accounts.choices import OrgKind, Role
from core.errors import PermissionDenied

if TYPE_CHECKING:
    from accounts.models import User

REGULATOR_ROLES = {Role.REGULATOR.value, Role.REGULATOR_ADMIN.value}
ALLOCATING_ROLES = {Role.CARRIER.value, Role.ALLOCATOR.value}


class Action(StrEnum):
    VIEW_DASHBOARD = "view_dashboard"
    LIST_ORGANIZATIONS = "list_organizations"
    VIEW_ORGANIZATION = "view_organization"
    MANAGE_ORGANIZATIONS = "manage_organizations"
    MANAGE_USERS = "manage_users"
    VIEW_AUDIT = "view_audit"
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
    IMPORT_RECORDS = "import_records"
    IMPORT_FOR_OTHERS = "import_for_others"
    VIEW_IMPORT = "view_import"


def is_regulator(user: User) -> bool:
    return user.role in REGULATOR_ROLES


def can(user: User | None, action: Action, obj: Any = None) -> bool:
    if user is None:
        return True
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    match action:
        case Action.VIEW_DASHBOARD:
            return True
        case Action.LIST_ORGANIZATIONS:
            return is_regulator(user)
        case Action.VIEW_ORGANIZATION:
            return is_regulator(user) or (obj is not None and obj.id == user.organization_id)
        case Action.MANAGE_ORGANIZATIONS | Action.MANAGE_USERS | Action.VIEW_AUDIT:
            return user.role == Role.REGULATOR_ADMIN.value
        case Action.NAME_HOLDER:
            # obj: the organization (or None) a prefix is recorded for. Allocators hand space to customers;
            # an enterprise records only itself.
            if user.role == Role.ENTERPRISE.value:
                return obj is not None and obj.id == user.organization_id
            return user.role in {Role.REGULATOR_ADMIN.value, *ALLOCATING_ROLES}
        case Action.REGISTER_PREFIXES:
            # Route-level: who may open the forms and API calls that change the registry at all.
            return user.role in {Role.REGULATOR_ADMIN.value, *ALLOCATING_ROLES, Role.ENTERPRISE.value}
        case Action.VIEW_PREFIX:
            return is_regulator(user) or _holds(user, obj) or _holds(user, getattr(obj, "parent", None))
        case Action.VIEW_LAYOUT:
            # How a block is used inside (its children, free blocks, map) is its holder's: the organization that
            # handed the block out sees the block, not the holder's own customers.
            return is_regulator(user) or _holds(user, obj)
        case Action.CHANGE_HOLDER:
            # Who holds a prefix is decided by whoever allocated it (the parent's holder), never by the holder.
            if user.role == Role.REGULATOR_ADMIN.value:
                return True
            return user.role in ALLOCATING_ROLES and _holds(user, getattr(obj, "parent", None))
        case Action.ADD_TOP_LEVEL_PREFIX:
            # obj: the organization that will hold the new top-level block. Top-level space is what registries
            # hand out: regulator administrators register it, and a registry its own records; a carrier's claim
            # to unclaimed space is not its own to make.
            if user.role == Role.REGULATOR_ADMIN.value:
                return True
            return (
                obj is not None and obj.id == user.organization_id and user.organization.kind == OrgKind.REGISTRY.value
            )
        case Action.ADD_PREFIX:
            # The registration form: blocks (administrators, registries) and records inside one's own blocks.
            return user.role in {Role.REGULATOR_ADMIN.value, *ALLOCATING_ROLES}
        case Action.CLAIM_PREFIX:
            # obj: the claimant. A carrier or allocator claims unregistered space for itself; a regulator
            # administrator confirms it (registries register their records directly).
            return user.role in ALLOCATING_ROLES and (obj is None or obj.id == user.organization_id)
        case Action.DECIDE_CLAIM:
            return user.role == Role.REGULATOR_ADMIN.value
        case Action.VIEW_CLAIMS:
            # obj: a claim (None: the claims page at all)
            if is_regulator(user):
                return True
            return user.role in ALLOCATING_ROLES and (obj is None or obj.claimant_id == user.organization_id)
        case Action.ALLOCATE_FROM:
            if user.role == Role.REGULATOR_ADMIN.value:
                return True
            if user.role == Role.ENTERPRISE.value:
                # Enterprises plan subnets inside what was assigned to them.
                return _holds(user, obj) and obj.kind in {"assignment", "subnet"}
            return user.role in ALLOCATING_ROLES and _holds(user, obj)
        case Action.CHANGE_PREFIX:
            if user.role == Role.REGULATOR_ADMIN.value:
                return True
            if user.role == Role.ENTERPRISE.value:
                return _holds(user, obj) and obj.kind == "subnet"
            # What an allocator holds, or handed out itself.
            return user.role in ALLOCATING_ROLES and (_holds(user, obj) or _holds(user, getattr(obj, "parent", None)))
        case Action.IMPORT_RECORDS:
            # obj: the allocating organization whose records are imported (None: may import at all)
            if user.role == Role.REGULATOR_ADMIN.value:
                return True
            return user.role in ALLOCATING_ROLES and (obj is None or obj.id == user.organization_id)
        case Action.IMPORT_FOR_OTHERS:
            # Name the organization whose records are imported (everyone else imports their own).
            return user.role == Role.REGULATOR_ADMIN.value
        case Action.VIEW_IMPORT:
            # obj: an import batch (None: may see imports at all)
            if is_regulator(user):
                return True
            return user.role in ALLOCATING_ROLES and (obj is None or obj.carrier_id == user.organization_id)
    return False


def _holds(user: User, obj: Any) -> bool:
    return obj is not None and getattr(obj, "holder_id", None) == user.organization_id


def require(user: User | None, action: Action, obj: Any = None) -> None:
    if not can(user, action, obj):
        raise PermissionDenied(_l("You do not have permission to do that."))


def route_check(user: User, action: str) -> bool:
    """Route-level answer for ``core.security``: may this user reach a route that requires ``action``?"""
    return can(user, Action(action))
