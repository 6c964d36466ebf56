"""The workflow engine: every workflow (imports, claims, filings, requests, findings) is a table of transitions.

A workflow declares, per (state, action), the next state, who may take it (a policy action, asked with the
object the workflow names), a guard (why not, now), and the audit action. ``apply_transition`` is the only way a
state changes: it checks all of that, moves the state with a conditional UPDATE (of two concurrent moves from the
same state, the second finds the state gone and fails), and writes the audit row with the comment, in the
caller's transaction. ``available_actions`` feeds the buttons of the pages and the API representation.

Declaring a workflow (``importers/workflow.py`` is the model)::

    BATCHES = Workflow(ImportBatch, object_type="import_batch", states=BatchStatus, audit=record_event,
                       organization_of=lambda b: b.carrier_id, subject_of=lambda b: b.carrier, transitions=[
        Transition(BatchStatus.PREVIEWED, "confirm", BatchStatus.PREVIEWED, Action.IMPORT_RECORDS, "import.confirm",
                   guard=_confirmable, label=_l("Load it")),
        ...
    ])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import policy
from core.errors import Conflict, Message
from core.messages import message as _l


class IllegalTransition(Conflict):
    """The action cannot be taken in the object's state (a page message, 409 in the API, a CLI error)."""

    code = "illegal_transition"


Guard = Callable[[Any], Message | None]  # why the action cannot be taken now (None: it can)


@dataclass(frozen=True)
class Transition:
    source: StrEnum
    action: str
    target: StrEnum
    permission: str  # a policy action, asked with the workflow's subject of the object
    audit: str  # the audit action written when it is taken
    guard: Guard | None = None
    label: Message | None = None  # the button's text

    def refusal(self, obj: Any) -> Message | None:
        return self.guard(obj) if self.guard is not None else None


class AuditWriter(Protocol):
    def __call__(self, session: Session, *, actor: Any, action: str, object_type: str, object_id: object,
                 organization_id: int | None, before: dict[str, Any] | None = None,
                 after: dict[str, Any] | None = None, summary: Any = None) -> Any: ...  # fmt: skip


_workflows: dict[type, Workflow] = {}


class Workflow:
    def __init__(
        self,
        model: type,
        *,
        object_type: str,
        states: type[StrEnum],
        transitions: Sequence[Transition],
        audit: AuditWriter,
        organization_of: Callable[[Any], int | None],
        subject_of: Callable[[Any], Any] = lambda obj: obj,
        state_attribute: str = "status",
    ) -> None:
        self.model, self.object_type, self.states = model, object_type, states
        self.transitions = tuple(transitions)
        self.table = {(t.source, t.action): t for t in self.transitions}
        if len(self.table) != len(self.transitions):
            raise ValueError(f"{object_type}: two transitions from one state for one action")
        self.actions = tuple(dict.fromkeys(t.action for t in self.transitions))
        self._audit, self._organization_of, self._subject_of = audit, organization_of, subject_of
        self.state_attribute = state_attribute
        _workflows[model] = self

    def state_of(self, obj: Any) -> StrEnum:
        return self.states(getattr(obj, self.state_attribute))

    def transition(self, obj: Any, action: str) -> Transition:
        """The transition ``action`` takes from the object's state, or IllegalTransition."""
        found = self.table.get((self.state_of(obj), action))
        if found is None:
            raise IllegalTransition(
                _l("This cannot be done now: it is %(state)s.", state=_state_label(self.state_of(obj)))
            )
        return found

    def permitted(self, transition: Transition, obj: Any, actor: Any) -> bool:
        return policy.can(actor, transition.permission, self._subject_of(obj))

    def available(self, obj: Any, user: Any) -> list[Transition]:
        """What ``user`` may do with ``obj`` now, in the table's order."""
        state = self.state_of(obj)
        return [
            t for t in self.transitions
            if t.source is state and self.permitted(t, obj, user) and t.refusal(obj) is None
        ]  # fmt: skip

    def check(self, obj: Any, action: str, *, actor: Any) -> Transition:
        """The transition ``actor`` may take now, or the typed refusal (IllegalTransition, PermissionDenied)."""
        transition = self.transition(obj, action)
        if not self.permitted(transition, obj, actor):
            policy.require(actor, transition.permission, self._subject_of(obj))
        refusal = transition.refusal(obj)
        if refusal is not None:
            raise IllegalTransition(refusal)
        return transition

    def apply(
        self,
        session: Session,
        obj: Any,
        action: str,
        *,
        actor: Any,
        comment: Any = None,
        values: dict[str, Any] | None = None,
        audit_data: dict[str, Any] | None = None,
    ) -> Transition:
        """Take ``action``: check it, move the state (and write ``values`` in the same statement), audit it."""
        transition = self.check(obj, action, actor=actor)
        column = getattr(self.model, self.state_attribute)
        changes = {self.state_attribute: transition.target.value, **(values or {})}
        session.flush()
        moved = session.execute(
            update(self.model)
            .where(self.model.id == obj.id, column == transition.source.value)  # type: ignore[attr-defined]
            .values(**changes)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise IllegalTransition(_l("Someone else changed this at the same moment; reload and try again."))
        for name, value in changes.items():
            set_committed_value(obj, name, value)
        self._audit(
            session, actor=actor, action=transition.audit, object_type=self.object_type, object_id=obj.id,
            organization_id=self._organization_of(obj), before={self.state_attribute: transition.source.value},
            after={self.state_attribute: transition.target.value, **(audit_data or {})}, summary=comment,
        )  # fmt: skip
        return transition


def workflow_of(obj: Any) -> Workflow:
    return _workflows[type(obj)]


def apply_transition(session: Session, obj: Any, action: str, *, actor: Any, comment: Any = None,
                     **options: Any) -> Transition:  # fmt: skip
    """Take ``action`` on ``obj`` in its workflow (see ``Workflow.apply``)."""
    return workflow_of(obj).apply(session, obj, action, actor=actor, comment=comment, **options)


def available_actions(obj: Any, user: Any) -> list[Transition]:
    return workflow_of(obj).available(obj, user)


def registered_workflows() -> Iterable[Workflow]:
    return tuple(_workflows.values())


def _state_label(state: StrEnum) -> str:
    label = getattr(state, "label", None)
    return str(label) if label is not None else state.value
