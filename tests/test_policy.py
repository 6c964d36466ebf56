"""The permission policy as one table: every (role, action, whose object) answer, so that no rule a package
declares (``accounts``, ``ipam``, ``importers``, ``filing`` ``permissions.py``) can change unnoticed. Pure: stand-in users and objects, no database."""

from __future__ import annotations

from enum import StrEnum
from types import SimpleNamespace
from typing import Any

import pytest

from accounts.permissions import Action as AccountAction
from core.errors import PermissionDenied
from core.policy import OPERATOR, can, known_actions, require, system_actor
from filing.permissions import FILING_REMINDER
from filing.permissions import Action as FilingAction
from importers.permissions import IMPORT_WORKER
from importers.permissions import Action as ImportAction
from ipam.permissions import Action as PrefixAction

Action = StrEnum(
    "Action", {a.name: a.value for enum in (AccountAction, PrefixAction, ImportAction, FilingAction) for a in enum}
)

MINE, THEIRS = 1, 2
ROLES = ("regulator", "regulator-admin", "carrier", "allocator", "enterprise")
ORG_KIND = {"regulator": "regulator", "regulator-admin": "regulator", "carrier": "carrier", "allocator": "allocator",
            "enterprise": "enterprise"}  # fmt: skip


def user(role: str, *, active: bool = True, authenticated: bool = True, org_kind: str | None = None) -> Any:
    organization = SimpleNamespace(id=MINE, kind=org_kind or ORG_KIND[role])
    return SimpleNamespace(role=role, organization_id=MINE, organization=organization, is_active=active,
                           is_authenticated=authenticated)  # fmt: skip


def org(owner: int) -> Any:
    return SimpleNamespace(id=owner)


def prefix(holder: int | None, *, parent_holder: int | None = None, kind: str = "assignment") -> Any:
    parent = None if parent_holder is None else SimpleNamespace(holder_id=parent_holder, parent=None)
    return SimpleNamespace(holder_id=holder, parent=parent, kind=kind)


def filing(filer: int, *, user_org: int | None = None, state: str = "submitted") -> Any:
    return SimpleNamespace(filer_id=filer, user_organization_id=user_org, state=state)


def request(requester: int, provider: int, *, state: str = "submitted") -> Any:
    sent = None if state == "draft" else "2026-12-01"
    return SimpleNamespace(requester_id=requester, provider_id=provider, state=state, submitted_at=sent)


def allowed(action: Action, obj: Any = None) -> set[str]:
    return {role for role in ROLES if can(user(role), action, obj)}


EVERYONE = set(ROLES)
REGULATORS = {"regulator", "regulator-admin"}
ADMIN = {"regulator-admin"}
ALLOCATORS = {"carrier", "allocator"}

# (action, object, the roles that may) — "mine" objects belong to the user's organization.
TABLE: list[tuple[Action, Any, set[str]]] = [
    (Action.VIEW_DASHBOARD, None, EVERYONE),
    (Action.OVERSEE_ALL, None, REGULATORS),
    (Action.ISSUE_TOKENS, None, set()),
    (Action.LIST_ORGANIZATIONS, None, REGULATORS),
    (Action.VIEW_ORGANIZATION, org(MINE), EVERYONE),
    (Action.VIEW_ORGANIZATION, org(THEIRS), REGULATORS),
    (Action.VIEW_ORGANIZATION, None, REGULATORS),
    (Action.MANAGE_ORGANIZATIONS, None, ADMIN),
    (Action.MANAGE_USERS, None, ADMIN),
    (Action.VIEW_AUDIT, None, ADMIN),
    (Action.VERIFY_ORGANIZATION, None, REGULATORS | ALLOCATORS),
    (Action.VERIFY_ORGANIZATION, SimpleNamespace(named_by_id=MINE), REGULATORS | ALLOCATORS),
    (Action.VERIFY_ORGANIZATION, SimpleNamespace(named_by_id=THEIRS), REGULATORS),
    (Action.VERIFY_ORGANIZATION, SimpleNamespace(named_by_id=None), REGULATORS),
    (Action.NAME_HOLDER, org(MINE), EVERYONE - {"regulator"}),
    (Action.NAME_HOLDER, org(THEIRS), ADMIN | ALLOCATORS),
    (Action.NAME_HOLDER, None, ADMIN | ALLOCATORS),
    (Action.REGISTER_PREFIXES, None, EVERYONE - {"regulator"}),
    (Action.VIEW_PREFIX, prefix(MINE), EVERYONE),
    (Action.VIEW_PREFIX, prefix(THEIRS, parent_holder=MINE), EVERYONE),
    (Action.VIEW_PREFIX, prefix(THEIRS, parent_holder=THEIRS), REGULATORS),
    (Action.VIEW_PREFIX, prefix(THEIRS), REGULATORS),
    (Action.VIEW_PREFIX, None, REGULATORS),
    (Action.VIEW_LAYOUT, org(MINE), REGULATORS),  # an object that holds nothing is nobody's block
    (Action.VIEW_LAYOUT, prefix(MINE), EVERYONE),
    (Action.VIEW_LAYOUT, prefix(THEIRS, parent_holder=MINE), REGULATORS),
    (Action.CHANGE_HOLDER, prefix(MINE, parent_holder=THEIRS), ADMIN),
    (Action.CHANGE_HOLDER, prefix(THEIRS, parent_holder=MINE), ADMIN | ALLOCATORS),
    (Action.CHANGE_HOLDER, prefix(MINE), ADMIN),
    (Action.CHANGE_HOLDER, None, ADMIN),
    (Action.ADD_TOP_LEVEL_PREFIX, org(MINE), ADMIN),
    (Action.ADD_PREFIX, None, ADMIN | ALLOCATORS),
    (Action.CLAIM_PREFIX, None, ALLOCATORS),
    (Action.CLAIM_PREFIX, org(MINE), ALLOCATORS),
    (Action.CLAIM_PREFIX, org(THEIRS), set()),
    (Action.DECIDE_CLAIM, None, ADMIN),
    (Action.VIEW_CLAIMS, None, REGULATORS | ALLOCATORS),
    (Action.VIEW_CLAIMS, SimpleNamespace(claimant_id=MINE), REGULATORS | ALLOCATORS),
    (Action.VIEW_CLAIMS, SimpleNamespace(claimant_id=THEIRS), REGULATORS),
    (Action.ALLOCATE_FROM, prefix(MINE, kind="allocation"), ADMIN | ALLOCATORS),
    (Action.ALLOCATE_FROM, prefix(MINE, kind="assignment"), ADMIN | ALLOCATORS | {"enterprise"}),
    (Action.ALLOCATE_FROM, prefix(MINE, kind="subnet"), ADMIN | ALLOCATORS | {"enterprise"}),
    (Action.ALLOCATE_FROM, prefix(THEIRS, parent_holder=MINE), ADMIN),
    (Action.ALLOCATE_FROM, prefix(THEIRS, kind="assignment"), ADMIN),
    (Action.CHANGE_PREFIX, prefix(MINE, kind="subnet"), ADMIN | ALLOCATORS | {"enterprise"}),
    (Action.CHANGE_PREFIX, prefix(MINE, kind="assignment"), ADMIN | ALLOCATORS),
    (Action.CHANGE_PREFIX, prefix(THEIRS, parent_holder=MINE), ADMIN | ALLOCATORS),
    (Action.CHANGE_PREFIX, prefix(THEIRS, parent_holder=MINE, kind="subnet"), ADMIN | ALLOCATORS),
    (Action.CHANGE_PREFIX, prefix(THEIRS, parent_holder=THEIRS), ADMIN),
    (Action.CHANGE_PREFIX, None, ADMIN),
    (Action.IMPORT_RECORDS, None, ADMIN | ALLOCATORS),
    (Action.IMPORT_RECORDS, org(MINE), ADMIN | ALLOCATORS),
    (Action.IMPORT_RECORDS, org(THEIRS), ADMIN),
    (Action.IMPORT_FOR_OTHERS, None, ADMIN),
    (Action.VIEW_IMPORT, None, REGULATORS | ALLOCATORS),
    (Action.VIEW_IMPORT, SimpleNamespace(carrier_id=MINE), REGULATORS | ALLOCATORS),
    (Action.VIEW_IMPORT, SimpleNamespace(carrier_id=THEIRS), REGULATORS),
    (Action.RUN_IMPORT, None, set()),
    (Action.SWEEP_IMPORTS, None, set()),
    (Action.VIEW_FILING, None, EVERYONE),
    (Action.VIEW_FILING, filing(MINE), EVERYONE),
    (Action.VIEW_FILING, filing(THEIRS), REGULATORS),
    (Action.VIEW_FILING, filing(THEIRS, user_org=MINE), EVERYONE),
    (Action.VIEW_FILING, filing(THEIRS, user_org=MINE, state="draft"), REGULATORS),
    (Action.FILE, None, ALLOCATORS | {"enterprise"}),
    (Action.FILE, filing(MINE), ALLOCATORS | {"enterprise"}),
    (Action.FILE, filing(THEIRS, user_org=MINE), set()),
    (Action.REVIEW_FILING, None, REGULATORS),
    (Action.REPORT_FILINGS, None, REGULATORS),
    (Action.VIEW_FILING_STATISTICS, None, REGULATORS),
    (Action.MANAGE_FILING_SETTINGS, None, ADMIN),
    (Action.REMIND_FILERS, None, set()),
    (Action.VIEW_RECONCILIATION, None, REGULATORS | ALLOCATORS),
    (Action.VIEW_RECONCILIATION, SimpleNamespace(carrier_id=MINE), REGULATORS | ALLOCATORS),
    (Action.VIEW_RECONCILIATION, SimpleNamespace(carrier_id=THEIRS), REGULATORS),
    (Action.VIEW_RECONCILIATION, SimpleNamespace(carrier_id=None), REGULATORS),
    (Action.ACT_ON_FINDING, SimpleNamespace(carrier_id=MINE), REGULATORS | ALLOCATORS),
    (Action.ACT_ON_FINDING, SimpleNamespace(carrier_id=THEIRS), REGULATORS),
    (Action.START_RECONCILIATION, None, REGULATORS),
    (Action.START_RECONCILIATION, org(MINE), REGULATORS | ALLOCATORS),
    (Action.START_RECONCILIATION, org(THEIRS), REGULATORS),
    (Action.EXECUTE_RECONCILIATION, None, set()),
    (Action.VIEW_REQUEST, None, EVERYONE),
    (Action.VIEW_REQUEST, request(MINE, THEIRS), EVERYONE),
    (Action.VIEW_REQUEST, request(THEIRS, MINE), REGULATORS | ALLOCATORS),
    (Action.VIEW_REQUEST, request(THEIRS, MINE, state="draft"), REGULATORS),
    (Action.VIEW_REQUEST, request(THEIRS, THEIRS), REGULATORS),
    (Action.REQUEST_PREFIXES, None, {"enterprise"}),
    (Action.REQUEST_PREFIXES, request(MINE, THEIRS), {"enterprise"}),
    (Action.REQUEST_PREFIXES, request(THEIRS, MINE), set()),
    (Action.DECIDE_REQUEST, None, ALLOCATORS),
    (Action.DECIDE_REQUEST, request(THEIRS, MINE), ALLOCATORS),
    (Action.DECIDE_REQUEST, request(MINE, THEIRS), set()),
    (Action.PLAN_SUBNETS, None, ALLOCATORS | {"enterprise"}),
    (Action.PLAN_SUBNETS, SimpleNamespace(organization_id=MINE), ALLOCATORS | {"enterprise"}),
    (Action.PLAN_SUBNETS, SimpleNamespace(organization_id=THEIRS), set()),
]


@pytest.mark.parametrize(("action", "obj", "roles"), TABLE, ids=lambda v: str(v) if isinstance(v, Action) else "")
def test_who_may_do_what(action: Action, obj: Any, roles: set[str]) -> None:
    assert allowed(action, obj) == roles


def test_every_action_is_in_the_table() -> None:
    assert {action for action, _obj, _roles in TABLE} == set(Action)
    assert {str(a) for a in Action} == known_actions()


def test_a_registry_registers_its_own_top_level_blocks_only() -> None:
    registrar = user("carrier", org_kind="registry")
    assert can(registrar, Action.ADD_TOP_LEVEL_PREFIX, org(MINE))
    assert not can(registrar, Action.ADD_TOP_LEVEL_PREFIX, org(THEIRS))
    assert not can(registrar, Action.ADD_TOP_LEVEL_PREFIX, None)


@pytest.mark.parametrize("action", list(Action))
def test_inactive_or_anonymous_users_may_do_nothing(action: Action) -> None:
    for nobody in (user("regulator-admin", active=False), user("regulator-admin", authenticated=False),
                   SimpleNamespace(role="regulator-admin", organization_id=MINE, is_active=True)):  # fmt: skip
        assert not can(nobody, action, org(MINE))


def test_no_actor_may_do_nothing() -> None:
    assert not any(can(None, action, org(MINE)) for action in Action)


def test_the_operator_of_the_machine_may_do_everything() -> None:
    assert all(can(OPERATOR, action, org(THEIRS)) for action in Action)


def test_a_system_actor_may_do_what_it_is_named_for_only() -> None:
    assert {a for a in Action if can(IMPORT_WORKER, a, org(THEIRS))} == {
        Action.RUN_IMPORT,
        Action.IMPORT_RECORDS,
        Action.SWEEP_IMPORTS,
    }
    assert {a for a in Action if can(FILING_REMINDER, a, org(THEIRS))} == {Action.REMIND_FILERS, Action.VIEW_FILING}
    assert not can(system_actor("reports", []), Action.VIEW_AUDIT)


def test_an_undeclared_action_is_a_programming_error() -> None:
    with pytest.raises(LookupError):
        can(OPERATOR, "fly_to_the_moon")


def test_a_refusal_says_so_in_one_message() -> None:
    with pytest.raises(PermissionDenied) as refused:
        require(user("enterprise"), Action.MANAGE_USERS)
    assert str(refused.value.message) == "You do not have permission to do that."
    assert refused.value.status == 403
    require(user("regulator-admin"), Action.MANAGE_USERS)
