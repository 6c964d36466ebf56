"""The one place that answers "may this user do ACTION (on OBJECT)?".

Views, the API and operations all ask here. ``actor=None`` is the system itself (CLI commands run by the
operator of the machine, demo loading, migrations), which may do everything.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext as _l

from accounts.choices import Role
from core.errors import PermissionDenied

if TYPE_CHECKING:
    from accounts.models import User

REGULATOR_ROLES = {Role.REGULATOR.value, Role.REGULATOR_ADMIN.value}


class Action(StrEnum):
    VIEW_DASHBOARD = "view_dashboard"
    LIST_ORGANIZATIONS = "list_organizations"
    VIEW_ORGANIZATION = "view_organization"
    MANAGE_ORGANIZATIONS = "manage_organizations"
    MANAGE_USERS = "manage_users"


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
        case Action.MANAGE_ORGANIZATIONS | Action.MANAGE_USERS:
            return user.role == Role.REGULATOR_ADMIN.value
    return False


def require(user: User | None, action: Action, obj: Any = None) -> None:
    if not can(user, action, obj):
        raise PermissionDenied(_l("You do not have permission to do that."))
