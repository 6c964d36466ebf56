"""The audit trail as its readers read it: each event one sentence saying who did what to which object, with names
and links where the stored changes keep ids (``holder_id: 5`` reads "津沽智能", linked to its page), and long values
(a checksum, a file name) shortened with the whole value in their title, so that no page grows wider than the
window. The names a page of events needs are read in one query (``lines``)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import Select, String, cast, literal_column, or_, select, union_all
from sqlalchemy.orm import Session

from accounts.audit import action_label, actor_label, field_label, value_label
from accounts.models import AuditEvent, Organization
from accounts.permissions import Action
from core import policy

# Fields of the stored changes whose values are ids of another object, and what they refer to.
REFERENCES = {
    "holder_id": "organization", "organization_id": "organization", "claimant_id": "organization",
    "filer_id": "organization", "user_organization_id": "organization", "provider_id": "organization",
    "parent_id": "prefix", "prefix_id": "prefix",
    "next_batch_id": "import_batch", "same_content_as_id": "import_batch",
    "source_filing_id": "filing",
}  # fmt: skip

# Objects named by their id whose pages the trail links.
WITH_PAGES = ("import_batch", "filing", "prefix_request", "subnet_plan")
# What an act is, said as a sentence; an act without one reads "who: what, which object".
SENTENCES = {
    "prefix.create": _l("%(actor)s registered %(object)s"),
    "prefix.allocate": _l("%(actor)s allocated %(object)s"),
    "prefix.update": _l("%(actor)s changed %(object)s"),
    "prefix.release": _l("%(actor)s released %(object)s"),
    "organization.create": _l("%(actor)s added the organization %(object)s"),
    "organization.update": _l("%(actor)s changed the organization %(object)s"),
    "organization.verify": _l("%(actor)s verified the organization %(object)s"),
    "user.create": _l("%(actor)s created the account %(object)s"),
    "import.check": _l("%(actor)s uploaded %(object)s to check it"),
    "import.start": _l("%(actor)s uploaded %(object)s to load it"),
    "request.submit": _l("%(actor)s submitted the prefix request %(object)s"),
    "request.approve": _l("%(actor)s approved the prefix request %(object)s and allocated its blocks"),
    "plan.apply": _l("%(actor)s applied the subnet plan %(object)s to the registry"),
}
# The same acts when the event names the organization the prefix went to.
SENTENCES_WITH_HOLDER = {
    "prefix.create": _l("%(actor)s registered %(object)s for %(holder)s"),
    "prefix.allocate": _l("%(actor)s allocated %(object)s to %(holder)s"),
}
ANY_ACT = _l("%(actor)s: %(action)s, %(object)s")
ANY_ACT_WITHOUT_OBJECT = _l("%(actor)s: %(action)s")
GONE = _l("(no longer registered)")

FOLDED_AFTER = 4  # changes shown at once; more are folded under "Details"
SHORTENED_HEAD, SHORTENED_TAIL = 16, 8
# A run of characters a line cannot break inside (CJK text breaks between any two characters).
UNBREAKABLE = re.compile(r"[^\s\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]{33,}")


@dataclass(frozen=True)
class Named:
    """An object the trail names: its id and key (a code, a network), what it is called, its page or None."""

    id: int | None
    key: str | None
    label: str
    url: str | None = None


@dataclass(frozen=True)
class Target:
    """How the trail names objects of one type: ``rows(ids, keys)`` selects ``(id, key, label)`` of the objects with
    these ids or keys; ``url(named)`` is the page of one for the current reader, or None."""

    rows: Callable[[set[int], set[str]], Select[Any]]
    url: Callable[[Named], str | None]


@dataclass(frozen=True)
class Change:
    field: str
    before: Markup
    after: Markup


@dataclass(frozen=True)
class Line:
    """One event as a reader reads it."""

    event: AuditEvent
    sentence: Markup
    changes: tuple[Change, ...]
    first_values: bool  # the changes are the object's first values (it was created or named)
    folded: bool  # first values, or too many changes to read at a glance: shown on request
    note: Markup | None  # the event's summary, when it says more than the sentence


def _organization_rows(ids: set[int], keys: set[str]) -> Select[Any]:
    return select(Organization.id, Organization.code, Organization.name).where(
        or_(Organization.id.in_(ids), Organization.code.in_(keys))
    )


def _organization_url(named: Named) -> str | None:
    if named.key is None or not policy.can(current_user, Action.VIEW_ORGANIZATION, named):
        return None
    return url_for("accounts.organization_detail", code=named.key)


def _prefix_url(named: Named) -> str | None:
    # The list page's search opens the most specific prefix the reader may see (no link to a page they may not).
    return url_for("ipam.prefix_list", q=named.key) if named.key else None


@functools.cache
def targets() -> dict[str, Target]:
    """The objects the trail names, by type (read when first needed: the packages depend on accounts)."""
    from filing.models import Filing
    from filing.permissions import Action as FilingAction
    from importers.models import ImportBatch
    from importers.permissions import Action as ImportAction
    from ipam.models import Prefix, PrefixRequest, SubnetPlan
    from ipam.permissions import Action as PrefixAction

    def url_if(action: str, endpoint: str, argument: str) -> Callable[[Named], str | None]:
        return lambda named: url_for(endpoint, **{argument: named.id}) if policy.can(current_user, action) else None

    return {
        "organization": Target(_organization_rows, _organization_url),
        "prefix": Target(
            lambda ids, keys: select(Prefix.id, cast(Prefix.network, String), cast(Prefix.network, String)).where(
                Prefix.id.in_(ids)
            ),
            _prefix_url,
        ),
        "import_batch": Target(
            lambda ids, keys: select(ImportBatch.id, cast(ImportBatch.id, String), ImportBatch.file_name).where(
                ImportBatch.id.in_(ids)
            ),
            url_if(ImportAction.VIEW_IMPORT, "imports.import_detail", "batch_id"),
        ),
        "filing": Target(
            lambda ids, keys: select(Filing.id, cast(Filing.id, String), Filing.block).where(Filing.id.in_(ids)),
            url_if(FilingAction.VIEW_FILING, "filing.filing_detail", "filing_id"),
        ),
        "prefix_request": Target(
            lambda ids, keys: select(
                PrefixRequest.id, cast(PrefixRequest.id, String), "#" + cast(PrefixRequest.id, String)
            ).where(PrefixRequest.id.in_(ids)),
            url_if(PrefixAction.VIEW_REQUEST, "requests.request_detail", "request_id"),
        ),
        "subnet_plan": Target(
            lambda ids, keys: select(SubnetPlan.id, cast(SubnetPlan.id, String), SubnetPlan.name).where(
                SubnetPlan.id.in_(ids)
            ),
            url_if(PrefixAction.PLAN_SUBNETS, "plans.plan_detail", "plan_id"),
        ),
    }


# -- reading the names a page needs ---------------------------------------------------------------------------

Wanted = dict[str, tuple[set[int], set[str]]]
Names = dict[tuple[str, int | str], Named]


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _wanted(events: Sequence[AuditEvent]) -> Wanted:
    wanted: Wanted = {}

    def want(target: str, value: Any, *, key: bool = False) -> None:
        ids, keys = wanted.setdefault(target, (set(), set()))
        if key:
            keys.add(str(value))
        elif _is_id(value):
            ids.add(value)

    for event in events:
        if event.object_id is not None:
            if event.object_type == "organization":
                want("organization", event.object_id, key=True)
            elif event.object_type in WITH_PAGES and event.object_id.isdigit():
                want(event.object_type, int(event.object_id))
        for name, change in (event.changes or {}).items():
            target = REFERENCES.get(name)
            if target is not None and isinstance(change, list):
                for value in change:
                    want(target, value)
    return wanted


def _read_names(session: Session, wanted: Wanted) -> Names:
    """Every object ``wanted`` names, in one query (a union of one select per type)."""
    known = targets()
    parts = []
    for object_type, (ids, keys) in sorted(wanted.items()):
        if (ids or keys) and object_type in known:
            rows = known[object_type].rows(ids, keys).subquery()
            id_, key, label = rows.c
            parts.append(
                select(
                    literal_column(f"'{object_type}'", String).label("type"),
                    id_.label("id"),
                    cast(key, String).label("key"),
                    cast(label, String).label("label"),
                )
            )
    if not parts:
        return {}
    statement = parts[0] if len(parts) == 1 else union_all(*parts)
    names: Names = {}
    for object_type, id_, key, label in session.execute(statement):
        named = Named(id_, key, label)
        names[(object_type, id_)] = names[(object_type, key)] = replace(named, url=known[object_type].url(named))
    return names


# -- writing the lines ------------------------------------------------------------------------------------------


def shortened(text: str) -> Markup:
    """``text``, or, when it holds a run no line can break (a checksum, a long file name), its ends with the whole
    text in the title."""
    if not UNBREAKABLE.search(text):
        return escape(text)
    short = f"{text[:SHORTENED_HEAD]}…{text[-SHORTENED_TAIL:]}"
    return Markup('<span title="{}">{}</span>').format(text, short)


def link(named: Named) -> Markup:
    text = shortened(named.label)
    return Markup('<a href="{}">{}</a>').format(named.url, text) if named.url else text


def _say(template: Any, **params: Any) -> Markup:
    """A sentence from a catalog template: its words translated, every parameter escaped unless it is markup."""
    return escape(str(template)) % params


def _object_of(event: AuditEvent, names: Names) -> Named | None:
    object_type, object_id = event.object_type, event.object_id
    if object_id is None:
        return None
    found = names.get((object_type, object_id)) or (
        names.get((object_type, int(object_id))) if object_id.isdigit() else None
    )
    if found is not None:
        return found
    if object_type == "prefix":
        return Named(None, object_id, object_id, _prefix_url(Named(None, object_id, object_id)))
    if object_type == "user":
        may = policy.can(current_user, Action.MANAGE_USERS)
        return Named(None, object_id, object_id, url_for("accounts.user_detail", username=object_id) if may else None)
    literal = event.summary if event.summary and event.summary_params is None else None
    return Named(None, object_id, literal or object_id)


def _value(event: AuditEvent, name: str, value: Any, names: Names) -> Markup:
    target = REFERENCES.get(name)
    if target is not None and _is_id(value):
        named = names.get((target, value))
        return link(named) if named is not None else escape(str(GONE))
    return shortened(value_label(event.object_type, name, value))


def _sentence(event: AuditEvent, names: Names, subject: Named | None) -> Markup:
    actor = actor_label(event.actor_name)
    if subject is None:
        return _say(ANY_ACT_WITHOUT_OBJECT, actor=actor, action=action_label(event.action))
    holder = (event.changes or {}).get("holder_id")
    holder_id = holder[1] if isinstance(holder, list) and len(holder) == 2 else None
    named_holder = names.get(("organization", holder_id)) if _is_id(holder_id) else None
    if event.action in SENTENCES_WITH_HOLDER and named_holder is not None:
        return _say(SENTENCES_WITH_HOLDER[event.action], actor=actor, object=link(subject), holder=link(named_holder))
    if event.action in SENTENCES:
        return _say(SENTENCES[event.action], actor=actor, object=link(subject))
    return _say(ANY_ACT, actor=actor, action=action_label(event.action), object=link(subject))


def _line(event: AuditEvent, names: Names) -> Line:
    subject = _object_of(event, names)
    stored = event.changes or {}
    changes = tuple(
        Change(
            field_label(event.object_type, name),
            _value(event, name, change[0], names),
            _value(event, name, change[1], names),
        )
        for name, change in stored.items()
        if isinstance(change, list) and len(change) == 2
    )
    first_values = bool(stored) and all(isinstance(c, list) and c[0] is None for c in stored.values())
    summary = event.summary_text
    # A literal summary that is the object's own name (an address, a file name) says nothing more.
    repeats = event.summary_params is None and subject is not None and summary in (subject.label, subject.key)
    note = shortened(summary) if summary and not repeats else None
    folded = first_values or len(changes) > FOLDED_AFTER
    return Line(event, _sentence(event, names, subject), changes, first_values, folded, note)


def lines(session: Session, events: Sequence[AuditEvent]) -> list[Line]:
    """The events as sentences, in their order; the names they need read in one query."""
    names = _read_names(session, _wanted(events))
    return [_line(event, names) for event in events]
