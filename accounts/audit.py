"""Audit events: every state change writes one in the same transaction as the change."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from accounts.models import AuditEvent, User
from core.context import current_origin

log = logging.getLogger("v6beian.audit")

SYSTEM_ACTOR = "system"


def snapshot(obj: Any, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The audited fields of ``obj`` as JSON-ready values."""
    return {name: _jsonable(getattr(obj, name)) for name in (fields or obj.AUDITED)}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value changed."""
    return {
        name: [before.get(name), after.get(name)]
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def record_event(
    session: Session,
    *,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: object,
    organization_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    summary: str | None = None,
) -> AuditEvent:
    origin = current_origin()
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
        actor_name=actor.username if actor is not None else SYSTEM_ACTOR,
        organization_id=organization_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        changes=diff(before or {}, after or {}),
        remote_addr=origin.remote_addr,
        request_id=origin.request_id,
        channel=origin.channel,
        summary=summary,
    )
    session.add(event)
    log.info(
        "audit action=%s object=%s:%s actor=%s channel=%s request=%s",
        action, object_type, object_id, event.actor_name, origin.channel, origin.request_id,
    )  # fmt: skip
    return event


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
