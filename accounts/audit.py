"""Audit events: every state change writes one in the same transaction as the change."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, Select, String, bindparam, func, insert, select
from sqlalchemy.orm import Session

from accounts.choices import AUTH_SOURCE_LABELS, ORG_KIND_LABELS, ROLE_LABELS
from accounts.models import AuditEvent, User
from core.context import current_origin
from core.db import utcnow
from core.messages import Message, as_message

log = logging.getLogger("v6beian.audit")

SYSTEM_ACTOR = "system"

# What each recorded action is called on the pages (the code stays in the data, the exports and the filters).
ACTION_LABELS = {
    "auth.login": _l("Signed in"), "auth.login_failed": _l("Sign-in failed"), "auth.logout": _l("Signed out"),
    "auth.throttle_clear": _l("Sign-in throttle cleared"),
    "user.create": _l("Account created"), "user.update": _l("Account changed"),
    "user.password_change": _l("Password changed"), "user.password_reset": _l("Password reset"),
    "user.activate": _l("Account reactivated"), "user.deactivate": _l("Account deactivated"),
    "user.sessions_end": _l("Sessions ended"),
    "token.create": _l("API token created"), "token.revoke": _l("API token revoked"), "token.use": _l("API token used"),
    "organization.create": _l("Organization created"), "organization.update": _l("Organization changed"),
    "organization.verify": _l("Organization verified"),
    "prefix.create": _l("Prefix registered"), "prefix.allocate": _l("Prefix allocated"),
    "prefix.update": _l("Prefix changed"), "prefix.release": _l("Prefix released"),
    "prefix.bulk_add": _l("Prefixes added in bulk"),
    "import.check": _l("Import checked"), "import.start": _l("Import started"), "import.load": _l("Import loaded"),
    "import.run": _l("Import taken by the worker"), "import.preview": _l("Import checked, nothing loaded"),
    "import.reject": _l("Import rejected, nothing changed"), "import.fail": _l("Import failed, nothing changed"),
    "import.stop": _l("Import stopped with its worker"), "import.confirm": _l("Checked file confirmed for loading"),
    "import.run_again": _l("Import run again"),
    "claim.create": _l("Block claimed"), "claim.confirm": _l("Claim confirmed"), "claim.reject": _l("Claim rejected"),
    "claim.withdraw": _l("Claim withdrawn"),
}  # fmt: skip


def name_actions(labels: Mapping[str, Any], system_actors: Mapping[str, Any] | None = None) -> None:
    """A package names its audit actions (and its system actors) for the trail's readers."""
    ACTION_LABELS.update(labels)
    SYSTEM_ACTOR_LABELS.update(system_actors or {})


def action_label(action: str) -> str:
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


# Actors that are not people, as the pages name them (the stored name stays in the data and the exports).
SYSTEM_ACTOR_LABELS = {
    SYSTEM_ACTOR: _l("System"), "system:operator": _l("Operator (command line)"),
    "system:import-worker": _l("Import worker"), "system:directory": _l("Directory (LDAP)"),
}  # fmt: skip


# Where a change came from (``core.context.Origin.channel``).
CHANNEL_LABELS = {
    "web": _l("web page"), "api": _l("API"), "cli": _l("command line"), "job": _l("background job"),
    "unknown": _l("unknown"),
}  # fmt: skip


def channel_label(channel: str) -> str:
    label = CHANNEL_LABELS.get(channel)
    return str(label) if label is not None else channel


def actor_label(actor_name: str) -> str:
    label = SYSTEM_ACTOR_LABELS.get(actor_name)
    return str(label) if label is not None else actor_name


@dataclass(frozen=True)
class Vocabulary:
    """How the audit trail names one object type, its fields and their values in the reader's language. Each
    package describes its own objects (``describe``); the audit pages and the history on each object's page read
    them, so no raw column name or stored value (``manual``, ``sparse``, ``False``) reaches a reader."""

    label: Any
    fields: Mapping[str, Any]
    values: Mapping[str, Mapping[Any, Any]] = field(default_factory=dict)


_vocabularies: dict[str, Vocabulary] = {}


def describe(object_type: str, vocabulary: Vocabulary) -> None:
    _vocabularies[object_type] = vocabulary


def describe_values(object_type: str, name: str, labels: Mapping[Any, Any]) -> None:
    """Another package names the values of one field of an object it does not own (value lists it keeps)."""
    vocabulary = _vocabularies[object_type]
    _vocabularies[object_type] = Vocabulary(vocabulary.label, vocabulary.fields, {**vocabulary.values, name: labels})


def object_label(object_type: str) -> str:
    vocabulary = _vocabularies.get(object_type)
    return str(vocabulary.label) if vocabulary is not None else object_type


def field_label(object_type: str, name: str) -> str:
    vocabulary = _vocabularies.get(object_type)
    label = vocabulary.fields.get(name) if vocabulary is not None else None
    return str(label) if label is not None else name


def value_label(object_type: str, name: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(_l("yes") if value else _l("no"))
    if isinstance(value, dict):  # e.g. a reviewer's comments by field
        return "; ".join(f"{field_label(object_type, str(k))}: {value_label(object_type, str(k), v)}"
                         for k, v in value.items())  # fmt: skip
    if isinstance(value, list):
        return ", ".join(value_label(object_type, name, v) for v in value)
    vocabulary = _vocabularies.get(object_type)
    labels = vocabulary.values.get(name, {}) if vocabulary is not None else {}
    label = labels.get(value)
    return str(label) if label is not None else str(value)


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
    summary: Message | str | None = None,
) -> AuditEvent:
    """``summary``: a message (translated when shown) or literal text (an address, a file name)."""
    origin = current_origin()
    summary_template, summary_params = _summary(summary)
    event = AuditEvent(
        actor_id=_actor_id(actor),
        actor_name=_actor_name(actor),
        organization_id=organization_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        changes=diff(before or {}, after or {}),
        remote_addr=origin.remote_addr,
        request_id=origin.request_id,
        channel=origin.channel,
        summary=summary_template,
        summary_params=summary_params,
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


def record_events(session: Session, *, actor: Any, object_type: str, summary: Message | str | None,
                  events: Iterable[tuple[str, object, int | None, dict[str, Any]]]) -> int:  # fmt: skip
    """Many audit rows at once (bulk work): ``(action, object_id, organization_id, changes)`` each."""
    origin, now = current_origin(), utcnow()
    summary_template, summary_params = _summary(summary)
    rows = [
        {"actor_id": _actor_id(actor), "actor_name": _actor_name(actor), "organization_id": organization_id,
         "action": action, "object_type": object_type, "object_id": str(object_id), "changes": changes,
         "remote_addr": origin.remote_addr, "request_id": origin.request_id, "channel": origin.channel,
         "summary": summary_template, "summary_params": summary_params, "occurred_at": now}
        for action, object_id, organization_id, changes in events
    ]  # fmt: skip
    if rows:
        session.execute(insert(AuditEvent.__table__), rows)
    return len(rows)


def record_events_from(session: Session, *, actor: Any, object_type: str, summary: Message | str | None,
                       source: Select[Any]) -> None:  # fmt: skip
    """Audit rows straight from a query of ``(organization_id, action, object_id, changes)`` (a JSON text), for
    changes too many to hold in memory (an import's updates and releases)."""
    origin = current_origin()
    summary_template, summary_params = _summary(summary)
    rows_of = source.subquery()
    organization, action, object_id, changes = rows_of.c
    if session.get_bind().dialect.name == "postgresql":
        changes = func.cast(changes, AuditEvent.__table__.c.changes.type)
    rows = select(
        bindparam("actor_id", _actor_id(actor), type_=Integer), bindparam("actor_name", _actor_name(actor)),
        organization, action, bindparam("object_type", object_type), object_id, changes,
        bindparam("remote_addr", origin.remote_addr, type_=String),
        bindparam("request_id", origin.request_id, type_=String), bindparam("channel", origin.channel),
        bindparam("summary", summary_template, type_=String),
        bindparam("summary_params", summary_params, type_=AuditEvent.__table__.c.summary_params.type),
        bindparam("occurred_at", utcnow(), type_=AuditEvent.__table__.c.occurred_at.type),
    )  # fmt: skip
    columns = ["actor_id", "actor_name", "organization_id", "action", "object_type", "object_id", "changes",
               "remote_addr", "request_id", "channel", "summary", "summary_params", "occurred_at"]  # fmt: skip
    session.execute(insert(AuditEvent.__table__).from_select(columns, rows))


def _summary(summary: Message | str | None) -> tuple[str | None, dict[str, Any] | None]:
    """A summary as stored: a message as its template and parameters, literal text as it is."""
    if summary is None or isinstance(summary, str):
        return summary, None
    return as_message(summary).as_stored()


def _actor_id(actor: Any) -> int | None:
    return actor.id if actor is not None else None


def _actor_name(actor: Any) -> str:
    return actor.username if actor is not None else SYSTEM_ACTOR


describe("organization", Vocabulary(_l("Organization"), {
    "kind": _l("Kind"), "code": _l("Code"), "name": _l("Name"), "name_en": _l("English name"), "uscc": _l("USCC"),
    "division_code": _l("Division"), "address": _l("Address"), "contact_name": _l("Contact"),
    "contact_phone": _l("Phone"), "contact_email": _l("E-mail"), "verified": _l("Verified"),
    "nature": _l("Nature of the organization"), "industry": _l("Industry"),
    "above_designated_size": _l("Above designated size"),
}, {"kind": ORG_KIND_LABELS}))  # fmt: skip
describe("user", Vocabulary(_l("Account"), {
    "username": _l("Username"), "display_name": _l("Display name"), "email": _l("E-mail"),
    "organization_id": _l("Organization"), "role": _l("Role"), "auth_source": _l("Signs in with"),
    "active": _l("Active"),
}, {"role": ROLE_LABELS, "auth_source": AUTH_SOURCE_LABELS}))  # fmt: skip
describe("token", Vocabulary(_l("API token"), {
    "name": _l("Name"), "prefix": _l("Token prefix"), "read_only": _l("Read only"), "expires_at": _l("Expires"),
    "revoked_at": _l("Revoked"),
}))  # fmt: skip
