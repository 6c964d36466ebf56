"""Who may do what with organizations, accounts and the audit trail; and the role facts the other packages'
rules are written with (``is_regulator``, ``allocates``, ``holds`` …). Registered with ``core.policy``."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from accounts.choices import OrgKind, Role
from core.policy import rule, system_actor

REGULATOR_ROLES = frozenset({Role.REGULATOR.value, Role.REGULATOR_ADMIN.value})
ALLOCATING_ROLES = frozenset({Role.CARRIER.value, Role.ALLOCATOR.value})


class Action(StrEnum):
    VIEW_DASHBOARD = "view_dashboard"
    OVERSEE_ALL = "oversee_all"  # see every organization's records (lists are not narrowed to one's own)
    LIST_ORGANIZATIONS = "list_organizations"
    VIEW_ORGANIZATION = "view_organization"
    MANAGE_ORGANIZATIONS = "manage_organizations"
    MANAGE_USERS = "manage_users"
    VIEW_AUDIT = "view_audit"
    ISSUE_TOKENS = "issue_tokens"  # make API tokens for another's account (people make their own)
    VERIFY_ORGANIZATION = "verify_organization"  # confirm a holder a carrier's import named (unverified till then)


# -- the facts rules are written with ---------------------------------------------------------------------


def is_regulator(user: Any) -> bool:
    return user.role in REGULATOR_ROLES


def is_administrator(user: Any) -> bool:
    return user.role == Role.REGULATOR_ADMIN.value


def allocates(user: Any) -> bool:
    """Carriers and lower-level allocators: they hold blocks and hand them out."""
    return user.role in ALLOCATING_ROLES


def is_enterprise(user: Any) -> bool:
    return user.role == Role.ENTERPRISE.value


def is_registry(user: Any) -> bool:
    return user.organization is not None and user.organization.kind == OrgKind.REGISTRY.value


def holds(user: Any, obj: Any) -> bool:
    """``obj`` (a prefix) is held by the user's organization."""
    return obj is not None and getattr(obj, "holder_id", None) == user.organization_id


def is_own(user: Any, organization: Any) -> bool:
    return organization is not None and organization.id == user.organization_id


# -- rules ------------------------------------------------------------------------------------------------


@rule(Action.VIEW_DASHBOARD)
def _anyone(user: Any, obj: Any) -> bool:
    return True


@rule(Action.OVERSEE_ALL, Action.LIST_ORGANIZATIONS)
def _regulators(user: Any, obj: Any) -> bool:
    return is_regulator(user)


@rule(Action.VIEW_ORGANIZATION)
def _view_organization(user: Any, organization: Any) -> bool:
    return is_regulator(user) or is_own(user, organization)


@rule(Action.VERIFY_ORGANIZATION)
def _verify_organization(user: Any, origin: Any) -> bool:
    # obj: the organization's origin (``accounts.queries.HolderOrigin``; None: may verify any at all). Regulators
    # verify any holder; a carrier or allocator those its own imports named, which it knows from its records.
    if is_regulator(user):
        return True
    return allocates(user) and (origin is None or getattr(origin, "named_by_id", None) == user.organization_id)


@rule(Action.ISSUE_TOKENS)
def _operator_only(user: Any, obj: Any) -> bool:
    return False  # scripts' tokens are made by the machine's operator (``flask token create``)


@rule(Action.MANAGE_ORGANIZATIONS, Action.MANAGE_USERS, Action.VIEW_AUDIT)
def _administrators(user: Any, obj: Any) -> bool:
    return is_administrator(user)


# Following the directory (a member who left its groups loses their sessions) is the directory's act.
DIRECTORY = system_actor("directory", [Action.MANAGE_USERS])
