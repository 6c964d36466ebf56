"""Reads of the filings, shaped for the pages, the API, the exports and the CLI that show them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, and_, case, exists, false, func, literal, or_, select, text
from sqlalchemy.orm import Session, aliased

from accounts.models import Organization, User
from accounts.permissions import Action as AccountAction
from accounts.validators import normalize_uscc
from core import policy
from filing.blocks import BadBlock, Block, parse_address, parse_block
from filing.choices import ACTIVE, STANDING, FilingState, FilingType
from filing.models import ChoiceValue, Filing, FilingAttachment, FilingVersion
from filing.permissions import Action
from ipam.choices import PrefixKind
from ipam.models import Prefix, to_key

LIVE_STATES = tuple(s.value for s in FilingState if s not in (FilingState.DELETED,))
ACTIVE_STATES = tuple(s.value for s in ACTIVE)
STANDING_STATES = tuple(s.value for s in STANDING)
REVIEW_STATES = (FilingState.SUBMITTED.value, FilingState.CHANGE_SUBMITTED.value)
# Filings that still claim their block: not deleted, rejected or cancelled.
CLAIMING_STATES = tuple(
    s.value for s in FilingState if s not in (FilingState.DELETED, FilingState.REJECTED, FilingState.CANCELLED)
)


def visible_filings(user: User | None) -> Select[tuple[Filing]]:
    """Filings ``user`` may see: every one for regulators; else its organization's own, and (once submitted) the
    filings about it as the user organization."""
    stmt = select(Filing).where(Filing.state != FilingState.DELETED.value)
    if user is None or policy.can(user, AccountAction.OVERSEE_ALL):
        return stmt
    own = user.organization_id
    return stmt.where(
        or_(Filing.filer_id == own, and_(Filing.user_organization_id == own, Filing.state != FilingState.DRAFT.value))
    )


def visible_filing(session: Session, user: User | None, filing_id: int) -> Filing | None:
    """One filing, if ``user`` may see it (the pages and the API answer 404 otherwise)."""
    filing = session.get(Filing, filing_id)
    if filing is None or filing.state == FilingState.DELETED.value or not policy.can(user, Action.VIEW_FILING, filing):
        return None
    return filing


@dataclass(frozen=True)
class FilingFilter:
    state: str | None = None  # a state, or "review" (awaiting review), "active", "with_filer"
    filing_type: str | None = None
    filer: int | None = None  # organization id
    district: str | None = None  # division code (a district's code also matches its prefix: 1201 → 1201xx)
    family: int | None = None
    since: date | None = None  # allocation date from …
    until: date | None = None  # … to
    due: str | None = None  # "overdue", "today", "week"
    q: str | None = None  # an address inside a block, a block, a filing number, a USCC or a name
    queue: bool = False  # the review queue: awaiting review, sorted by the review's due date


def filtered(session: Session, user: User | None, flt: FilingFilter, *, today: date) -> Select[tuple[Filing]]:
    stmt = visible_filings(user)
    if flt.queue:
        stmt = stmt.where(Filing.state.in_(REVIEW_STATES))
    if flt.state == "review":
        stmt = stmt.where(Filing.state.in_(REVIEW_STATES))
    elif flt.state == "active":
        stmt = stmt.where(Filing.state.in_(ACTIVE_STATES))
    elif flt.state == "with_filer":
        stmt = stmt.where(Filing.state.in_([s.value for s in FilingState if s.with_filer]))
    elif flt.state:
        stmt = stmt.where(Filing.state == flt.state)
    if flt.filing_type:
        stmt = stmt.where(Filing.filing_type == flt.filing_type)
    if flt.filer is not None:
        stmt = stmt.where(Filing.filer_id == flt.filer)
    if flt.district:
        code = flt.district.strip()
        stmt = stmt.where(Filing.user_division == code if len(code) == 6 else Filing.user_division.startswith(code))
    if flt.family in (4, 6):
        stmt = stmt.where(Filing.family == flt.family)
    if flt.since is not None:
        stmt = stmt.where(Filing.allocated_on >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(Filing.allocated_on <= flt.until)
    if flt.due:
        stmt = stmt.where(*_due_condition(flt.due, today, queue=flt.queue))
    if flt.q and flt.q.strip():
        stmt = stmt.where(_search_condition(session, flt.q.strip()))
    if flt.queue:
        return stmt.order_by(Filing.review_due_on.is_(None), Filing.review_due_on, Filing.id)
    return stmt.order_by(Filing.due_on.is_(None), Filing.due_on, Filing.id.desc())


def _due_condition(due: str, today: date, *, queue: bool) -> list[object]:
    column = Filing.review_due_on if queue else Filing.due_on
    open_states = REVIEW_STATES if queue else tuple(s.value for s in FilingState if s.with_filer or s.under_review)
    if due == "overdue":
        return [column < today, Filing.state.in_(open_states)]
    if due == "today":
        return [column == today, Filing.state.in_(open_states)]
    if due == "week":
        return [column >= today, column <= today + timedelta(days=7 - today.weekday()), Filing.state.in_(open_states)]
    return []


def _search_condition(session: Session, text: str) -> object:
    """One box finds a filing by an address inside its block, its block, its number, the user's USCC or name."""
    conditions: list[object] = [Filing.number == text, Filing.number.startswith(text.upper(), autoescape=True)]
    try:
        block = parse_block(text)
    except BadBlock:
        block = None
    if block is not None:
        ids = [f.id for f in covering(session, block)]
        conditions.append(Filing.id.in_(ids) if ids else false())
    if len(text) == 18:
        conditions.append(Filing.user_uscc == normalize_uscc(text))
    if len(text) >= 2:
        conditions.append(Filing.user_name.icontains(text, autoescape=True))
        filer_ids = select(Organization.id).where(
            or_(Organization.name.icontains(text, autoescape=True), Organization.code == text.lower())
        )
        conditions.append(Filing.filer_id.in_(filer_ids))
    return or_(*conditions)


# -- blocks: which filings cover an address, overlap a block -------------------------------------------------


# The size classes present, as a loose index scan on (family, span_bits, …): one index probe per class instead of
# reading every entry (PostgreSQL has no skip scan; SQLite would read them all too).
_SPAN_CLASSES = text("""
WITH RECURSIVE classes(bits) AS (
    SELECT min(span_bits) FROM filing WHERE family = :family
    UNION ALL
    SELECT (SELECT min(span_bits) FROM filing WHERE family = :family AND span_bits > bits)
    FROM classes WHERE bits IS NOT NULL
)
SELECT bits FROM classes WHERE bits IS NOT NULL""")


def span_classes(session: Session, family: int) -> list[int]:
    return list(session.scalars(_SPAN_CLASSES, {"family": family}))


def _within_reach(session: Session, block: Block) -> object:
    """Filings whose block can reach ``block``: for each size class, those starting at most 2**bits before it
    (an index range scan per class on (family, span_bits, start)); the caller narrows to the exact condition."""
    classes = span_classes(session, block.family)
    if not classes:
        return false()
    return or_(
        *(
            and_(
                Filing.span_bits == bits,
                Filing.start >= to_key(max(0, block.first - (1 << bits) + 1)),
                Filing.start <= to_key(block.last),
            )
            for bits in classes
        )
    )


def _near(session: Session, block: Block, states: Iterable[str], *conditions: object) -> Select[tuple[Filing]]:
    return select(Filing).where(
        Filing.family == block.family, _within_reach(session, block), *conditions, Filing.state.in_(tuple(states))
    )


def covering(session: Session, block: Block, states: Iterable[str] = LIVE_STATES) -> list[Filing]:
    """Filings whose block holds all of ``block`` (an address: a block of one), largest first."""
    inside = (Filing.start <= to_key(block.first), Filing.last >= to_key(block.last))
    return list(session.scalars(_near(session, block, states, *inside).order_by(Filing.span_bits.desc(), Filing.id)))


def overlapping(session: Session, block: Block, states: Iterable[str] = ACTIVE_STATES) -> list[Filing]:
    """Filings whose block shares at least one address with ``block``."""
    sharing = Filing.last >= to_key(block.first)  # (and, by the reach, starts at or before its last address)
    return list(session.scalars(_near(session, block, states, sharing).order_by(Filing.start, Filing.id)))


def filings_at_address(session: Session, text: str) -> list[Filing]:
    family, value = parse_address(text)
    return covering(session, Block(family, value, value))


# -- one filing ----------------------------------------------------------------------------------------------


def versions(session: Session, filing: Filing) -> list[FilingVersion]:
    return list(
        session.scalars(
            select(FilingVersion).where(FilingVersion.filing_id == filing.id).order_by(FilingVersion.version)
        )
    )


def version(session: Session, filing: Filing, number: int | None) -> FilingVersion | None:
    if number is None:
        return None
    return session.scalar(
        select(FilingVersion).where(FilingVersion.filing_id == filing.id, FilingVersion.version == number)
    )


def attachments(session: Session, filing: Filing) -> list[FilingAttachment]:
    return list(
        session.scalars(
            select(FilingAttachment).where(FilingAttachment.filing_id == filing.id).order_by(FilingAttachment.id)
        )
    )


def registry_prefixes_in(session: Session, block: Block, limit: int = 50) -> list[Prefix]:
    """The registry's prefixes inside the block (the review page's "what the registry says"), largest first."""
    return list(
        session.scalars(
            select(Prefix)
            .where(
                Prefix.family == block.family,
                Prefix.start >= to_key(block.first),
                Prefix.start <= to_key(block.last),
                Prefix.last <= to_key(block.last),
            )
            .order_by(Prefix.prefix_len, Prefix.start)
            .limit(limit)
        )
    )


# -- value lists ---------------------------------------------------------------------------------------------


def choice_values(session: Session, list_name: str, *, active_only: bool = True) -> list[ChoiceValue]:
    stmt = select(ChoiceValue).where(ChoiceValue.list == list_name)
    if active_only:
        stmt = stmt.where(ChoiceValue.active.is_(True))
    return list(session.scalars(stmt.order_by(ChoiceValue.position, ChoiceValue.id)))


def choice_codes(session: Session) -> dict[str, frozenset[str]]:
    codes: dict[str, set[str]] = {}
    for list_name, code in session.execute(
        select(ChoiceValue.list, ChoiceValue.code).where(ChoiceValue.active.is_(True))
    ):
        codes.setdefault(list_name, set()).add(code)
    return {name: frozenset(values) for name, values in codes.items()}


def choice_names(session: Session, *, chinese: bool) -> dict[tuple[str, str], str]:
    """(list, code) → the name in the reader's language, for showing stored codes."""
    return {
        (v.list, v.code): (v.name_zh if chinese else v.name_en)
        for v in session.scalars(select(ChoiceValue))
    }  # fmt: skip


# -- what a filer has not filed ------------------------------------------------------------------------------

FILED_KINDS = (PrefixKind.AGGREGATE.value, PrefixKind.ALLOCATION.value, PrefixKind.ASSIGNMENT.value)
HANDED_ON_KINDS = (PrefixKind.ALLOCATION.value, PrefixKind.ASSIGNMENT.value, PrefixKind.RESERVED.value)


def _unfiled_condition(filer_id: int, prefix: type[Prefix] | object) -> object:
    """No live filing of this organization's records the prefix's exact block (seekable by size class)."""
    span = case((Prefix.family == 6, literal(128)), else_=literal(32)) - Prefix.prefix_len
    return ~exists().where(
        Filing.family == Prefix.family,
        Filing.span_bits == span,
        Filing.start == Prefix.start,
        Filing.last == Prefix.last,
        Filing.filer_id == filer_id,
        Filing.state.in_(CLAIMING_STATES),
    )


def unfiled_prefixes(filer_id: int) -> Select[tuple[Prefix, FilingType]]:
    """The registry prefixes the organization must file and has not: what it holds, and what it handed on out of
    its blocks (to a lower-level allocator, a user, or kept reserved), with the type each is filed as."""
    parent = aliased(Prefix)
    held = (
        select(Prefix, literal(FilingType.HOLDING.value).label("filing_type"))
        .where(Prefix.holder_id == filer_id, Prefix.kind.in_(FILED_KINDS), _unfiled_condition(filer_id, Prefix))
    )  # fmt: skip
    handed_on = (
        select(
            Prefix,
            case(
                (Prefix.kind == PrefixKind.ALLOCATION.value, literal(FilingType.ALLOCATION.value)),
                (Prefix.kind == PrefixKind.RESERVED.value, literal(FilingType.RESERVED.value)),
                else_=literal(FilingType.ASSIGNMENT.value),
            ).label("filing_type"),
        )
        .join(parent, Prefix.parent_id == parent.id)
        .where(
            parent.holder_id == filer_id,
            or_(Prefix.holder_id.is_(None), Prefix.holder_id != filer_id),
            Prefix.kind.in_(HANDED_ON_KINDS),
            _unfiled_condition(filer_id, Prefix),
        )
    )
    return held.union_all(handed_on)  # type: ignore[return-value]


def count_unfiled(session: Session, filer_id: int) -> int:
    return session.scalar(select(func.count()).select_from(unfiled_prefixes(filer_id).subquery())) or 0


def organizations_by_id(session: Session, ids: Sequence[int]) -> dict[int, Organization]:
    if not ids:
        return {}
    return {o.id: o for o in session.scalars(select(Organization).where(Organization.id.in_(set(ids))))}


def filer_choices(session: Session) -> list[tuple[int, str]]:
    """The organizations that have filed, for the regulators' filter."""
    return [
        (org_id, name)
        for org_id, name in session.execute(
            select(Organization.id, Organization.name)
            .where(Organization.id.in_(select(Filing.filer_id).distinct()))
            .order_by(Organization.name)
        )
    ]


def next_in_queue(session: Session, user: User, filing: Filing) -> int | None:
    """The filing after this one in the review queue (by review due date), so a reviewer goes on from the keyboard."""
    stmt = (
        visible_filings(user)
        .where(Filing.state.in_(REVIEW_STATES), Filing.id != filing.id)
        .order_by(Filing.review_due_on.is_(None), Filing.review_due_on, Filing.id)
        .limit(1)
    )
    if filing.review_due_on is not None:
        stmt = stmt.where(
            or_(
                Filing.review_due_on > filing.review_due_on,
                and_(Filing.review_due_on == filing.review_due_on, Filing.id > filing.id),
                Filing.review_due_on.is_(None),
            )
        )
    found = session.scalars(stmt.with_only_columns(Filing.id)).first()
    return found


@dataclass(frozen=True)
class Summary:
    """The first numbers a dashboard shows about filings (a regulator's review work, a filer's own work)."""

    reviewing: bool
    awaiting_review: int = 0
    review_overdue: int = 0
    with_filer: int = 0
    overdue: int = 0
    unfiled: int = 0


def summary(session: Session, user: User, *, today: date) -> Summary:
    if policy.can(user, AccountAction.OVERSEE_ALL):
        awaiting, late = session.execute(
            select(func.count(), func.count().filter(Filing.review_due_on < today)).where(
                Filing.state.in_(REVIEW_STATES)
            )
        ).one()
        return Summary(True, awaiting_review=awaiting, review_overdue=late)
    own = user.organization_id
    open_states = [s.value for s in FilingState if s.with_filer]
    with_filer, overdue = session.execute(
        select(func.count(), func.count().filter(Filing.due_on < today)).where(
            Filing.filer_id == own, Filing.state.in_(open_states)
        )
    ).one()
    return Summary(False, with_filer=with_filer, overdue=overdue, unfiled=count_unfiled(session, own))
