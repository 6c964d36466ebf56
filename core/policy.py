"""The one place that answers "may this actor do ACTION (on OBJECT)?", knowing no domain.

Each package declares its actions and their rules in its own ``permissions.py`` (``accounts``, ``ipam``,
``importers``, later ``filing``) and registers them here with ``@rule``. Views, templates (``can('…')``), the API,
operations and workflow transitions all ask ``can`` or ``require``; nothing else compares roles.

Actors are signed-in users or named system actors. Background jobs, scheduled tasks and the machine's operator
(CLI commands, demo data) act as a ``SystemActor`` with the actions they need; an absent actor may do nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from core.errors import PermissionDenied
from core.messages import message as _l


class Actor(Protocol):
    """Who acts: a signed-in user (``accounts.models.User``) or a ``SystemActor``."""

    id: Any
    username: str
    organization_id: Any

    @property
    def is_authenticated(self) -> bool: ...

    @property
    def is_active(self) -> bool: ...


@dataclass(frozen=True)
class SystemActor:
    """A named actor for work no person does at that moment. ``actions``: what it may do (None: everything, for
    the machine's operator only). It has no account, so its audit rows carry its name and no user id."""

    name: str
    actions: frozenset[str] | None
    id: None = None
    organization_id: None = None
    is_authenticated: bool = True
    is_active: bool = True

    @property
    def username(self) -> str:
        return f"system:{self.name}"

    def may(self, action: str) -> bool:
        return self.actions is None or action in self.actions


def system_actor(name: str, actions: Iterable[str] | None) -> SystemActor:
    return SystemActor(name, None if actions is None else frozenset(str(a) for a in actions))


# Commands run by whoever runs the machine (the CLI, demo data, benchmarks): the operator may do everything.
OPERATOR = system_actor("operator", None)

Rule = Callable[[Any, Any], bool]
_rules: dict[str, Rule] = {}


def rule(*actions: str) -> Callable[[Rule], Rule]:
    """Register ``predicate(user, obj)`` as the rule of ``actions`` (each action has exactly one rule)."""

    def register(predicate: Rule) -> Rule:
        for action in actions:
            name = str(action)
            if name in _rules and _rules[name] is not predicate:
                raise RuntimeError(f"two rules for the action {name!r}")
            _rules[name] = predicate
        return predicate

    return register


def known_actions() -> frozenset[str]:
    return frozenset(_rules)


def can(actor: Actor | None, action: str, obj: Any = None) -> bool:
    name = str(action)
    if name not in _rules:
        raise LookupError(f"no rule declares the action {name!r}")
    if actor is None:
        return False
    if isinstance(actor, SystemActor):
        return actor.may(name)
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return False
    return _rules[name](actor, obj)


def require(actor: Actor | None, action: str, obj: Any = None) -> None:
    if not can(actor, action, obj):
        raise PermissionDenied(_l("You do not have permission to do that."))


def route_check(user: Any, action: str) -> bool:
    """Route-level answer for ``core.security``: may this user reach a route that requires ``action``?"""
    return can(user, action)
