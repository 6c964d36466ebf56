"""Every change of a filing: write a draft, submit it, review it, change and cancel it, and make drafts in bulk.

Operations take the session and the acting user, check the policy and the rule set, flush and never commit.
Each step goes through the workflow table (``filing.workflow.FILINGS``), which moves the state with a
conditional UPDATE and writes the audit row; what a step changes besides the state is audited with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts.audit import record_event, record_events
from accounts.models import Organization
from accounts.validators import normalize_uscc
from core import policy
from core.db import utcnow
from core.errors import Conflict, Message, NotFound, PermissionDenied, ValidationFailed
from core.messages import message as _l
from core.workflow import IllegalTransition
from filing import checks, queries
from filing.blocks import Block, parse_block
from filing.calendar import CACHE_KEY, DeadlineRules, deadline_rules
from filing.choices import FilingState, FilingType, VersionOutcome
from filing.models import FILED_FIELDS, Filing, FilingSequence, FilingVersion
from filing.permissions import Action
from filing.reports import REPORT_LOCK
from filing.rules import field_errors, submission_errors, submission_warnings
from filing.workflow import FILINGS
from ipam.models import Prefix, to_key

OBJECT_TYPE = "filing"
T = TypeVar("T")
UNFILED_LOCK = 6_200_000_000  # + the filer's id: pg_advisory_xact_lock key of "file all my unfiled blocks"
TEXT_FIELDS = tuple(name for name in FILED_FIELDS if name not in ("filing_type", "block", "allocated_on"))


@dataclass
class Outcome:
    """A step taken, with the warnings the filer (or reviewer) should read: shown, never blocking."""

    filing: Filing
    warnings: list[Message]


def today_for(session: Session) -> date:
    return date.today()


def _cached(session: Session, name: str, load: Callable[[Session], T]) -> T:
    """What every filing of one request or command reads alike (the value lists, the calendar and the settings),
    read once per session; changing the calendar or the settings drops it (``filing.calendar``)."""
    cache = session.info.setdefault(CACHE_KEY, {})
    if name not in cache:
        cache[name] = load(session)
    return cache[name]  # type: ignore[no-any-return]


def _choices(session: Session) -> dict[str, frozenset[str]]:
    return _cached(session, "choices", queries.choice_codes)


def _deadlines(session: Session) -> DeadlineRules:
    return _cached(session, "deadlines", deadline_rules)


# -- values ----------------------------------------------------------------------------------------------------


def clean_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The filed fields as stored: text stripped (blank is None), the USCC in capitals, the block parsed later."""
    cleaned: dict[str, Any] = {}
    for name in (*FILED_FIELDS, "user_organization_id"):
        if name not in values:
            continue
        value = values[name]
        if isinstance(value, str):
            value = value.strip() or None
        if name == "user_uscc" and value is not None:
            value = normalize_uscc(value)
        if name == "block" and isinstance(value, Block):
            value = str(value)
        cleaned[name] = value
    return cleaned


def _check_fields(session: Session, values: Mapping[str, Any], *, complete: bool) -> None:
    errors = field_errors(values, _choices(session), today=today_for(session), complete=complete)
    if errors:
        raise ValidationFailed(_l("Please correct the marked fields."), fields=errors)


def _write(session: Session, filing: Filing, values: Mapping[str, Any]) -> None:
    """Put ``values`` on the filing: the block's columns and registry link, the user organization, the deadline."""
    for name, value in values.items():
        if name != "block":
            setattr(filing, name, value)
    if values.get("block") is not None:
        block = parse_block(values["block"])
        filing.family, filing.start, filing.last = block.family, to_key(block.first), to_key(block.last)
        filing.span_bits, filing.block = block.span_bits, str(block)
        prefix = checks.registry_prefix_for(session, block)
        filing.prefix_id = prefix.id if prefix is not None else None
    if values.keys() & {"user_uscc", "user_name", "filing_type", "user_organization_id"}:
        if "user_organization_id" not in values:
            filing.user_organization_id = None
        filing.user_organization_id = checks.resolve_user_organization(session, filing)
    if "allocated_on" in values:
        _set_deadline(session, filing, filing.allocated_on)


def _set_deadline(session: Session, filing: Filing, counted_from: date | None) -> None:
    if counted_from is None:
        filing.due_on, filing.due_provisional = None, False
        return
    due = _deadlines(session).filing_due(counted_from)
    filing.due_on, filing.due_provisional = due.on, due.provisional


# -- drafts ----------------------------------------------------------------------------------------------------


def create_filing(session: Session, values: Mapping[str, Any], *, filer: Organization, actor: Any) -> Filing:
    """A draft of ``filer``'s filing. Every field it holds must be well-formed; the type and block are needed."""
    require_filer(actor, filer)
    cleaned = clean_values(values)
    _check_fields(session, cleaned, complete=False)
    missing = {name: [_l("This field is required.")] for name in ("filing_type", "block") if not cleaned.get(name)}
    if missing:
        raise ValidationFailed(_l("Please correct the marked fields."), fields=missing)
    filing = Filing(filer_id=filer.id, filer=filer, state=FilingState.DRAFT.value, version=1,
                    created_by_id=getattr(actor, "id", None))  # fmt: skip
    _write(session, filing, cleaned)
    session.add(filing)
    session.flush()
    record_event(session, actor=actor, action="filing.create", object_type=OBJECT_TYPE, object_id=filing.id,
                 organization_id=filer.id, after=filing.filed_values(), summary=filing.block)  # fmt: skip
    return filing


@dataclass(frozen=True)
class _Probe:
    """The filer an actor would file for, asked of the policy before the filing exists."""

    filer_id: int


def require_filer(actor: Any, filer: Organization) -> None:
    """``actor`` may file for ``filer`` (its own organization; the operator for any), or PermissionDenied."""
    policy.require(actor, Action.FILE, _Probe(filer.id))


def update_filing(session: Session, filing: Filing, values: Mapping[str, Any], *, actor: Any) -> Filing:
    """Edit a draft, or correct a returned filing (the submitted version itself is kept as it was)."""
    policy.require(actor, Action.FILE, filing)
    if not filing.state_enum.with_filer:
        raise IllegalTransition(_l("Only a draft or a returned filing can be edited; file a change instead."))
    cleaned = clean_values(values)
    merged = {**filing.filed_values(), **cleaned}
    _check_fields(session, merged, complete=False)
    before = filing.filed_values()
    _write(session, filing, cleaned)
    session.flush()
    record_event(session, actor=actor, action="filing.update", object_type=OBJECT_TYPE, object_id=filing.id,
                 organization_id=filing.filer_id, before=before, after=filing.filed_values(),
                 summary=filing.block)  # fmt: skip
    return filing


def delete_draft(session: Session, filing: Filing, *, actor: Any) -> None:
    FILINGS.apply(session, filing, "delete", actor=actor, comment=filing.block)
    session.delete(filing)
    session.flush()


# -- submission ------------------------------------------------------------------------------------------------


def _examine(session: Session, filing: Filing) -> tuple[checks.Findings, dict[str, list[Message]]]:
    today = today_for(session)
    _check_fields(session, filing.filed_values(), complete=True)
    late_by = 0
    if filing.due_on is not None and filing.due_on < today:
        late_by = _deadlines(session).calendar.working_days_between(filing.due_on, today)
    findings = checks.examine(session, filing, today=today, late_by=late_by)
    return findings, submission_errors(filing.type_enum, findings.facts)


def review_findings(session: Session, filing: Filing) -> tuple[dict[str, list[Message]], list[Message]]:
    """The rule set's verdict on a filing as it stands now (the review page shows it beside the filing)."""
    try:
        findings, errors = _examine(session, filing)
    except ValidationFailed as failed:
        return failed.fields, []
    return errors, submission_warnings(findings.facts)


def _submit(session: Session, filing: Filing, action: str, *, actor: Any) -> Outcome:
    FILINGS.check(filing, action, actor=actor)
    findings, errors = _examine(session, filing)
    if errors:
        raise ValidationFailed(_l("This filing cannot be submitted: please correct the marked fields."),
                               fields=errors)  # fmt: skip
    filing.source_filing_id = findings.source.id if findings.source is not None else None
    filing.source_filing = findings.source
    filing.prefix_id = findings.registry_prefix.id if findings.registry_prefix is not None else None
    review_due = _deadlines(session).review_due(today_for(session))
    number = _next_version(session, filing)
    session.add(FilingVersion(filing_id=filing.id, version=number, values=filing.filed_values(),
                              submitted_by=actor.username))  # fmt: skip
    FILINGS.apply(
        session, filing, action, actor=actor, comment=filing.block,
        values={"version": number, "submitted_at": utcnow(), "review_due_on": review_due.on,
                "review_due_provisional": review_due.provisional, "review_comment": None, "field_comments": None},
        audit_data={"version": number},
    )  # fmt: skip
    return Outcome(filing, submission_warnings(findings.facts))


def _next_version(session: Session, filing: Filing) -> int:
    latest = session.scalar(
        select(FilingVersion.version)
        .where(FilingVersion.filing_id == filing.id)
        .order_by(FilingVersion.version.desc())
        .limit(1)
    )
    return (latest or 0) + 1


def submit_filing(session: Session, filing: Filing, *, actor: Any) -> Outcome:
    """Submit a draft, a corrected returned filing, or a corrected returned change, for review."""
    session.flush()
    return _submit(session, filing, "submit", actor=actor)


def change_filing(session: Session, filing: Filing, values: Mapping[str, Any], *, actor: Any) -> Outcome:
    """File a change of an approved filing: the new values become a new version, under review; the approved
    version stands until the change is approved."""
    FILINGS.check(filing, "change", actor=actor)
    cleaned = clean_values(values)
    _check_fields(session, {**filing.filed_values(), **cleaned}, complete=False)
    before = filing.filed_values()
    _write(session, filing, cleaned)
    # A change is due counting from the day it is filed (its own allocation date, if changed, is history).
    _set_deadline(session, filing, today_for(session))
    session.flush()
    outcome = _submit(session, filing, "change", actor=actor)
    record_event(session, actor=actor, action="filing.update", object_type=OBJECT_TYPE, object_id=filing.id,
                 organization_id=filing.filer_id, before=before, after=filing.filed_values(),
                 summary=filing.block)  # fmt: skip
    return outcome


# -- review ----------------------------------------------------------------------------------------------------


def _pending_version(session: Session, filing: Filing) -> FilingVersion:
    found = queries.version(session, filing, filing.version)
    if found is None or found.outcome != VersionOutcome.PENDING.value:
        raise IllegalTransition(_l("This filing has no version awaiting review."))
    return found


def _decide(version: FilingVersion, outcome: VersionOutcome, actor: Any, comment: str | None,
            field_comments: Mapping[str, str] | None = None) -> None:  # fmt: skip
    version.outcome, version.decided_at, version.decided_by = outcome.value, utcnow(), actor.username
    version.comment, version.field_comments = comment, dict(field_comments) if field_comments else None


def _wait_for_report(session: Session) -> None:
    """A national report being made sees every approval and cancellation before it, or none: on PostgreSQL these
    steps share a lock the report takes alone (SQLite serializes writers anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": REPORT_LOCK})


def approve_filing(session: Session, filing: Filing, *, actor: Any, comment: str | None = None) -> Outcome:
    """Approve the version under review; the first approval gives the filing its number."""
    transition = FILINGS.check(filing, "approve", actor=actor)
    _wait_for_report(session)
    findings, errors = _examine(session, filing)
    if errors:
        raise ValidationFailed(_l("This filing breaks the rules now and cannot be approved."), fields=errors)
    version = _pending_version(session, filing)
    _decide(version, VersionOutcome.APPROVED, actor, comment)
    number = filing.number or next_number(session)
    FILINGS.apply(
        session, filing, transition.action, actor=actor, comment=comment or filing.block,
        values={"number": number, "approved_version": version.version, "approved_at": utcnow(),
                "review_comment": comment, "field_comments": None,
                "source_filing_id": findings.source.id if findings.source is not None else None},
        audit_data={"number": number, "version": version.version},
    )  # fmt: skip
    _notify(session, filing, "approved", comment)
    return Outcome(filing, submission_warnings(findings.facts))


def approve_filings(session: Session, filing_ids: Iterable[int], *, actor: Any) -> list[Filing]:
    """Approve several filings at once, all or nothing: if any cannot be approved, nothing is, and the error
    names each id that cannot and why."""
    ids = list(dict.fromkeys(filing_ids))
    if not ids:
        raise ValidationFailed.on("ids", _l("Choose at least one filing."))
    found = {f.id: f for f in session.scalars(select(Filing).where(Filing.id.in_(ids)))}
    refusals: dict[str, list[Message]] = {}
    for filing_id in ids:
        filing = found.get(filing_id)
        if filing is None or not policy.can(actor, Action.VIEW_FILING, filing):
            refusals[str(filing_id)] = [_l("No such filing.")]
            continue
        try:
            FILINGS.check(filing, "approve", actor=actor)
            _, errors = _examine(session, filing)
        except (IllegalTransition, ValidationFailed, Conflict, PermissionDenied) as refused:
            refusals[str(filing_id)] = [refused.message, *(m for ms in refused.fields.values() for m in ms)]
            continue
        if errors:
            refusals[str(filing_id)] = [m for messages in errors.values() for m in messages]
    if refusals:
        raise Conflict(_l("None was approved: %(n)d of the filings cannot be approved.", n=len(refusals)),
                       fields=refusals)  # fmt: skip
    return [approve_filing(session, found[filing_id], actor=actor).filing for filing_id in ids]


def return_filing(session: Session, filing: Filing, *, actor: Any, comment: str | None,
                  field_comments: Mapping[str, str] | None = None) -> Filing:  # fmt: skip
    """Return the version under review to its filer for correction, with comments (overall and per field)."""
    FILINGS.check(filing, "return", actor=actor)
    comments = {name: text.strip() for name, text in (field_comments or {}).items() if text and text.strip()}
    unknown = [name for name in comments if name not in FILED_FIELDS]
    if unknown:
        raise ValidationFailed.on("field_comments", _l("Unknown fields: %(names)s.", names=", ".join(unknown)))
    comment = (comment or "").strip() or None
    if comment is None and not comments:
        raise ValidationFailed.on("comment", _l("Say what the filer must correct."))
    _decide(_pending_version(session, filing), VersionOutcome.RETURNED, actor, comment, comments)
    FILINGS.apply(session, filing, "return", actor=actor, comment=comment,
                  values={"review_comment": comment, "field_comments": comments or None},
                  audit_data={"field_comments": comments or None})  # fmt: skip
    _notify(session, filing, "returned", comment)
    return filing


def reject_filing(session: Session, filing: Filing, *, actor: Any, reason: str | None) -> Filing:
    """Reject the version under review, with a reason: a first filing ends; a change is refused and the
    approved version stands."""
    FILINGS.check(filing, "reject", actor=actor)
    reason = (reason or "").strip() or None
    if reason is None:
        raise ValidationFailed.on("reason", _l("Give the reason for the rejection."))
    _decide(_pending_version(session, filing), VersionOutcome.REJECTED, actor, reason)
    if filing.state_enum is FilingState.CHANGE_SUBMITTED:
        _restore_approved(session, filing, actor=actor)
    FILINGS.apply(session, filing, "reject", actor=actor, comment=reason, values={"review_comment": reason})
    _notify(session, filing, "rejected", reason)
    return filing


def _restore_approved(session: Session, filing: Filing, *, actor: Any) -> None:
    """Put the approved version's values back (a change refused or withdrawn), audited field by field."""
    approved = queries.version(session, filing, filing.approved_version)
    if approved is None:
        raise NotFound(_l("The approved version of this filing is missing."))
    before = filing.filed_values()
    values = dict(approved.values)
    if values.get("allocated_on"):
        values["allocated_on"] = date.fromisoformat(values["allocated_on"])
    restored = {name: values.get(name) for name in FILED_FIELDS}
    _write(session, filing, {**restored, "user_organization_id": filing.user_organization_id})
    filing.version = approved.version
    record_event(session, actor=actor, action="filing.update", object_type=OBJECT_TYPE, object_id=filing.id,
                 organization_id=filing.filer_id, before=before, after=filing.filed_values(),
                 summary=filing.block)  # fmt: skip


def withdraw_change(session: Session, filing: Filing, *, actor: Any) -> Filing:
    FILINGS.check(filing, "withdraw", actor=actor)
    _restore_approved(session, filing, actor=actor)
    FILINGS.apply(session, filing, "withdraw", actor=actor, comment=filing.block,
                  values={"review_comment": None, "field_comments": None})  # fmt: skip
    return filing


def cancel_filing(session: Session, filing: Filing, *, actor: Any, reason: str | None = None) -> Filing:
    """End an approved filing (the block was returned, or the user left): reported upward as a deletion."""
    _wait_for_report(session)
    FILINGS.apply(session, filing, "cancel", actor=actor, comment=(reason or "").strip() or filing.block)
    return filing


def next_number(session: Session) -> str:
    """``<prefix><year><six-digit sequence>``, e.g. 津IP备2026000042; one sequence a year, never reused."""
    year = today_for(session).year
    prefix = _deadlines(session).settings.number_prefix
    moved = session.execute(
        update(FilingSequence).where(FilingSequence.year == year).values(last=FilingSequence.last + 1)
    )
    if moved.rowcount == 0:  # type: ignore[attr-defined]
        try:
            with session.begin_nested():
                session.add(FilingSequence(year=year, last=1))
        except IntegrityError:  # another transaction started the year first
            session.execute(
                update(FilingSequence).where(FilingSequence.year == year).values(last=FilingSequence.last + 1)
            )
    last = session.scalar(select(FilingSequence.last).where(FilingSequence.year == year))
    return f"{prefix}{year}{last:06d}"


def _notify(session: Session, filing: Filing, kind: str, comment: str | None) -> None:
    from filing.notifications import notify_decision

    notify_decision(session, filing, kind, comment=comment)


# -- drafts from the registry ------------------------------------------------------------------------------------


def prefilled_values(
    session: Session, prefix: Prefix, filing_type: FilingType, *, filer: Organization
) -> dict[str, Any]:
    """A filing's values as the registry and the organizations already know them."""
    holders = {prefix.holder_id: prefix.holder} if prefix.holder is not None else {}
    parents = {prefix.parent_id: _upstream_holder(prefix, filer)} if prefix.parent_id is not None else {}
    choices = _choices(session)
    return {**_row_values(prefix, filing_type, filer, holders, parents, choices), "block": prefix.network}


def _upstream_holder(prefix: Prefix, filer: Organization) -> Organization | None:
    node = prefix.parent
    while node is not None:
        if node.holder is not None and node.holder_id != filer.id:
            return node.holder
        node = node.parent
    return None


def start_from_prefix(session: Session, prefix: Prefix, *, filer: Organization, actor: Any) -> Filing:
    """A draft for one registry prefix, pre-filled (the "file this block" button)."""
    kind = _type_for(prefix, filer)
    if kind is None:
        raise ValidationFailed.on("block", _l("Your organization neither holds nor handed on %(block)s.",
                                              block=prefix.network))  # fmt: skip
    values = prefilled_values(session, prefix, kind, filer=filer)
    return create_filing(session, _droppable(session, values), filer=filer, actor=actor)


def _type_for(prefix: Prefix, filer: Organization) -> FilingType | None:
    if prefix.holder_id == filer.id:
        return FilingType.HOLDING
    if prefix.parent is not None and prefix.parent.holder_id == filer.id:
        if prefix.kind == "allocation":
            return FilingType.ALLOCATION
        return FilingType.RESERVED if prefix.kind == "reserved" else FilingType.ASSIGNMENT
    return None


def _droppable(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    """Pre-filled values without the ones a draft would refuse (an organization's malformed phone, say): the
    filer fills those in."""
    errors = field_errors(values, _choices(session), today=today_for(session), complete=False)
    return {name: (None if name in errors else value) for name, value in values.items()}


def file_unfiled_blocks(session: Session, *, filer: Organization, actor: Any) -> int:
    """Pre-filled drafts for every block ``filer`` must file and has not, in one step (bulk: 10,000 blocks in
    seconds). Returns how many drafts were made."""
    require_filer(actor, filer)
    if session.get_bind().dialect.name == "postgresql":  # two at once would both find the same blocks unfiled
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UNFILED_LOCK + filer.id})
    unfiled = queries.unfiled_prefixes(filer.id).subquery()
    rows = session.execute(select(unfiled).order_by(unfiled.c.family, unfiled.c.start)).all()
    if not rows:
        return 0
    return _bulk_drafts(session, rows, filer=filer, actor=actor)


def _bulk_drafts(session: Session, rows: list[Any], *, filer: Organization, actor: Any) -> int:
    rules = _deadlines(session)
    choices = _choices(session)
    holders = queries.organizations_by_id(session, [r.holder_id for r in rows if r.holder_id is not None])
    parents = _parent_holders(session, [r.parent_id for r in rows if r.parent_id is not None])
    today = today_for(session)
    created_by = getattr(actor, "id", None)
    records: list[dict[str, Any]] = []
    for row in rows:
        kind = FilingType(row.filing_type)
        values = _row_values(row, kind, filer, holders, parents, choices)
        errors = field_errors(values, choices, today=today, complete=False)
        values = {name: (None if name in errors else value) for name, value in values.items()}
        block = Block(row.family, int.from_bytes(row.start, "big"), int.from_bytes(row.last, "big"))
        due = rules.filing_due(values["allocated_on"])
        records.append({
            **values, "state": FilingState.DRAFT.value, "version": 1, "filer_id": filer.id, "family": block.family,
            "start": row.start, "last": row.last, "span_bits": block.span_bits, "block": str(block),
            "prefix_id": row.id, "due_on": due.on, "due_provisional": due.provisional, "created_by_id": created_by,
            "created_at": utcnow(), "updated_at": utcnow(),
        })  # fmt: skip
    ids = list(session.scalars(insert(Filing).returning(Filing.id), records))
    record_events(
        session, actor=actor, object_type=OBJECT_TYPE,
        summary=_l("Drafts made for %(n)d unfiled blocks.", n=len(ids)),
        events=[("filing.create", filing_id, filer.id, {"block": [None, record["block"]]})
                for filing_id, record in zip(ids, records, strict=True)],
    )  # fmt: skip
    return len(ids)


def _parent_holders(session: Session, parent_ids: list[int]) -> dict[int, Organization | None]:
    """Each parent prefix's nearest holder (for the holdings' source)."""
    if not parent_ids:
        return {}
    found = session.execute(select(Prefix.id, Prefix.holder_id).where(Prefix.id.in_(set(parent_ids)))).all()
    orgs = queries.organizations_by_id(session, [h for _, h in found if h is not None])
    return {prefix_id: orgs.get(holder_id) if holder_id is not None else None for prefix_id, holder_id in found}


def _row_values(row: Any, kind: FilingType, filer: Organization, holders: dict[int, Organization],
                parents: dict[int, Organization | None], choices: Mapping[str, frozenset[str]]) -> dict[str, Any]:  # fmt: skip
    holding = kind in (FilingType.HOLDING, FilingType.RESERVED)
    user = filer if holding else holders.get(row.holder_id)
    upstream = parents.get(row.parent_id) if kind is FilingType.HOLDING else None
    contact = user or filer
    return {
        "filing_type": kind.value,
        "source_name": upstream.name if upstream is not None and upstream.id != filer.id else None,
        "user_organization_id": user.id if user is not None else None,
        "user_name": user.name if user is not None else None,
        "user_uscc": user.uscc if user is not None else None,
        "user_nature": user.nature if user is not None else None,
        "user_industry": user.industry if user is not None else None,
        "user_division": user.division_code if user is not None else None,
        "user_address": user.address if user is not None else None,
        "usage": row.usage if row.usage in choices.get("usage", frozenset()) else None,
        "allocated_on": row.assigned_on or row.created_at.date(),
        "contact_name": contact.contact_name,
        "contact_phone": contact.contact_phone,
        "contact_email": contact.contact_email,
    }
