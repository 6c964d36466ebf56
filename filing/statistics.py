"""The regulator's figures about the filings: filings by state, what is overdue, how long reviews take in working
days, filings per district and per filer, and the policy's progress (industrial enterprises holding IPv6 space,
and how many of them have an approved filing).

Each figure is one aggregate statement (GROUP BY with conditional counts): no filing is loaded, so the page reads
the same few statements at a hundred filings or a hundred thousand. Review times are the one figure SQL cannot
count (working days follow the official calendar), so the statement groups the decisions by (submission day,
decision day) and the calendar counts each pair once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Date, Row, and_, case, cast, exists, func, literal_column, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from accounts.choices import OrgKind
from accounts.models import Organization
from filing.calendar import load_calendar
from filing.choices import INDUSTRIAL_SECTIONS, FilingState, VersionOutcome
from filing.models import Filing, FilingVersion
from filing.queries import LIVE_STATES, REVIEW_STATES, STANDING_STATES
from ipam.models import Prefix

WITH_FILER_STATES = tuple(s.value for s in FilingState if s.with_filer)
DECIDED_OUTCOMES = (VersionOutcome.APPROVED.value, VersionOutcome.RETURNED.value, VersionOutcome.REJECTED.value)
REVIEW_WINDOW_DAYS = 90  # the review-time figure covers the decisions of the last 90 days
# Review times are shown in these bands of working days (inclusive; None: no upper bound).
REVIEW_BANDS: tuple[tuple[int, int | None], ...] = ((0, 5), (6, 10), (11, 20), (21, None))
TOP_GROUPS = 20  # districts and filers shown, the busiest first
TOP_UNFILED = 20  # enterprises without an approved filing listed on the page
CHINA_UTC_OFFSET_HOURS = 8  # China keeps no daylight saving time


# -- conditions ------------------------------------------------------------------------------------------------


def past_filing_deadline(today: date) -> ColumnElement[bool]:
    """Still with the filer (draft, returned) and its filing deadline has passed."""
    return and_(Filing.state.in_(WITH_FILER_STATES), Filing.due_on < today)


def review_overdue(today: date) -> ColumnElement[bool]:
    """Awaiting review and the review's target day has passed."""
    return and_(Filing.state.in_(REVIEW_STATES), Filing.review_due_on < today)


def _count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


def _china_day(session: Session, column: ColumnElement[datetime]) -> ColumnElement[date]:
    """The calendar day in China of a UTC timestamp. The constants are literals, so the same expression can be
    grouped by on PostgreSQL (a bound parameter would be a different one in GROUP BY)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(literal_column("'Asia/Shanghai'"), column), Date)
    # SQLite's date() gives ISO text, which the Date type reads (a CAST would make it the number 2025).
    return func.date(column, literal_column(f"'+{CHINA_UTC_OFFSET_HOURS} hours'"), type_=Date)


# -- filings by state, and what is overdue ---------------------------------------------------------------------


@dataclass(frozen=True)
class StateFigure:
    state: FilingState
    filings: int
    overdue: int  # past the filing deadline (with the filer) or the review's target (awaiting review)


def filings_by_state(session: Session, *, today: date) -> list[StateFigure]:
    """Every state a filing can be seen in, in the workflow's order, with its count and how many are overdue."""
    overdue = or_(past_filing_deadline(today), review_overdue(today))
    rows = session.execute(
        select(Filing.state, func.count(), _count_where(overdue))
        .where(Filing.state.in_(LIVE_STATES))
        .group_by(Filing.state)
    ).all()
    counts = {state: (filings, late) for state, filings, late in rows}
    return [StateFigure(state, *counts.get(state.value, (0, 0))) for state in FilingState if state.value in LIVE_STATES]


# -- review time -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewBand:
    low: int
    high: int | None
    decisions: int


@dataclass(frozen=True)
class ReviewTimes:
    since: datetime
    decisions: int
    median: float | None  # working days; None without decisions
    bands: list[ReviewBand]


def review_times(session: Session, *, now: datetime, days: int = REVIEW_WINDOW_DAYS) -> ReviewTimes:
    """Working days from submission to decision (approved, returned or rejected) of the decisions made in the
    last ``days`` days, counted by the working-day calendar: the median and the decisions per band."""
    since = now - timedelta(days=days)
    submitted = _china_day(session, FilingVersion.submitted_at).label("submitted_on")
    decided = _china_day(session, FilingVersion.decided_at).label("decided_on")
    pairs = session.execute(
        select(submitted, decided, func.count())
        .where(FilingVersion.decided_at >= since, FilingVersion.outcome.in_(DECIDED_OUTCOMES))
        .group_by(submitted, decided)
    ).all()
    calendar = load_calendar(session)
    tally: dict[int, int] = {}
    for submitted_on, decided_on, count in pairs:
        took = max(0, calendar.working_days_between(submitted_on, decided_on))
        tally[took] = tally.get(took, 0) + count
    bands = [
        ReviewBand(low, high, sum(n for took, n in tally.items() if took >= low and (high is None or took <= high)))
        for low, high in REVIEW_BANDS
    ]
    return ReviewTimes(since=since, decisions=sum(tally.values()), median=weighted_median(tally), bands=bands)


def weighted_median(tally: dict[int, int]) -> float | None:
    """The median of values given as value → how many times it occurs (the mean of the middle two when even)."""
    total = sum(tally.values())
    lower_position, upper_position = (total - 1) // 2, total // 2  # of the middle values, in sorted order
    seen, lower = 0, None
    for value in sorted(tally):
        seen += tally[value]
        if lower is None and seen > lower_position:
            lower = value
        if lower is not None and seen > upper_position:
            return (lower + value) / 2
    return None


# -- per district and per filer ----------------------------------------------------------------------------------


K = TypeVar("K", str | None, int)


@dataclass(frozen=True)
class GroupFigures(Generic[K]):
    """One district's or one filer's filings."""

    key: K  # the division code (None: not given) or the filer's organization id
    name: str | None  # the filer's name; districts are named by the page, in the reader's language
    filings: int
    approved: int
    awaiting_review: int
    past_filing_deadline: int
    review_overdue: int


@dataclass(frozen=True)
class Ranking(Generic[K]):
    groups: list[GroupFigures[K]]  # the busiest, most filings first
    total_groups: int  # how many districts (or filers) have filings at all

    @property
    def partial(self) -> bool:
        return self.total_groups > len(self.groups)


def _group_counts(today: date) -> tuple[ColumnElement[int], ...]:
    return (
        func.count(),
        _count_where(Filing.state == FilingState.APPROVED.value),
        _count_where(Filing.state.in_(REVIEW_STATES)),
        _count_where(past_filing_deadline(today)),
        _count_where(review_overdue(today)),
        func.count().over(),  # the number of groups, counted before the limit
    )


def _ranking(rows: Sequence[Row[Any]], *, named: bool) -> Ranking[Any]:
    """Rows of (key, [name,] the counts of ``_group_counts``)."""
    groups = []
    for row in rows:
        key, name, counts = (row[0], row[1], row[2:-1]) if named else (row[0], None, row[1:-1])
        groups.append(GroupFigures(key, name, *counts))
    return Ranking(groups, rows[0][-1] if rows else 0)


def filings_per_district(session: Session, *, today: date, limit: int = TOP_GROUPS) -> Ranking[str | None]:
    """Filings by the user organization's division (所在地区), the ``limit`` busiest."""
    rows = session.execute(
        select(Filing.user_division, *_group_counts(today))
        .where(Filing.state.in_(LIVE_STATES))
        .group_by(Filing.user_division)
        .order_by(func.count().desc(), Filing.user_division.is_(None), Filing.user_division)
        .limit(limit)
    ).all()
    return _ranking(rows, named=False)


def filings_per_filer(session: Session, *, today: date, limit: int = TOP_GROUPS) -> Ranking[int]:
    """Filings by the filing organization (a carrier, an allocator, an enterprise), the ``limit`` busiest."""
    rows = session.execute(
        select(Organization.id, Organization.name, *_group_counts(today))
        .join(Organization, Organization.id == Filing.filer_id)
        .where(Filing.state.in_(LIVE_STATES))
        .group_by(Organization.id, Organization.name)
        .order_by(func.count().desc(), Organization.name, Organization.id)
        .limit(limit)
    ).all()
    return _ranking(rows, named=True)


# -- the policy's progress ---------------------------------------------------------------------------------------


def _industrial_enterprise() -> ColumnElement[bool]:
    return and_(Organization.kind == OrgKind.ENTERPRISE.value, Organization.industry.in_(sorted(INDUSTRIAL_SECTIONS)))


def _holds_ipv6_space() -> ColumnElement[bool]:
    return exists().where(Prefix.holder_id == Organization.id, Prefix.family == 6)


def _has_approved_filing() -> ColumnElement[bool]:
    """A standing filing by the organization, or about it as the user organization (two index seeks)."""
    return or_(
        exists().where(Filing.filer_id == Organization.id, Filing.state.in_(STANDING_STATES)),
        exists().where(Filing.user_organization_id == Organization.id, Filing.state.in_(STANDING_STATES)),
    )


@dataclass(frozen=True)
class Progress:
    """Industrial enterprises (GB/T 4754 sections B, C, D), those holding IPv6 space in the registry, and of
    those the ones with an approved filing."""

    enterprises: int
    holding_ipv6: int
    filed: int

    @property
    def unfiled(self) -> int:
        return self.holding_ipv6 - self.filed

    @property
    def holding_share(self) -> float | None:
        return self.holding_ipv6 / self.enterprises if self.enterprises else None

    @property
    def filed_share(self) -> float | None:
        return self.filed / self.holding_ipv6 if self.holding_ipv6 else None


@dataclass(frozen=True)
class PolicyProgress:
    all: Progress
    above_designated_size: Progress  # 规模以上工业企业: the policy's target group


def policy_progress(session: Session) -> PolicyProgress:
    holds = _holds_ipv6_space()
    rows = session.execute(
        select(
            Organization.above_designated_size,
            func.count(),
            _count_where(holds),
            _count_where(and_(holds, _has_approved_filing())),
        )
        .where(_industrial_enterprise())
        .group_by(Organization.above_designated_size)
    ).all()
    by_size = {bool(above): Progress(n, holding, filed) for above, n, holding, filed in rows}
    above = by_size.get(True, Progress(0, 0, 0))
    below = by_size.get(False, Progress(0, 0, 0))
    return PolicyProgress(
        all=Progress(
            above.enterprises + below.enterprises, above.holding_ipv6 + below.holding_ipv6, above.filed + below.filed
        ),
        above_designated_size=above,
    )


@dataclass(frozen=True)
class UnfiledEnterprise:
    code: str
    name: str
    industry: str | None
    division_code: str | None
    above_designated_size: bool


def unfiled_enterprises(session: Session, *, limit: int = TOP_UNFILED) -> list[UnfiledEnterprise]:
    """Industrial enterprises holding IPv6 space without an approved filing, those above designated size first
    (``PolicyProgress`` counts them all)."""
    rows = session.execute(
        select(
            Organization.code,
            Organization.name,
            Organization.industry,
            Organization.division_code,
            Organization.above_designated_size,
        )
        .where(_industrial_enterprise(), _holds_ipv6_space(), ~_has_approved_filing())
        .order_by(Organization.above_designated_size.desc(), Organization.name, Organization.id)
        .limit(limit)
    ).all()
    return [UnfiledEnterprise(*row) for row in rows]


# -- the dashboard -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    today: date
    states: list[StateFigure]
    review: ReviewTimes
    districts: Ranking[str | None]
    filers: Ranking[int]
    progress: PolicyProgress
    unfiled: list[UnfiledEnterprise]

    @property
    def filings(self) -> int:
        return sum(figure.filings for figure in self.states)

    @property
    def awaiting_review(self) -> int:
        return sum(figure.filings for figure in self.states if figure.state.under_review)

    @property
    def past_filing_deadline(self) -> int:
        return sum(figure.overdue for figure in self.states if figure.state.with_filer)

    @property
    def review_overdue(self) -> int:
        return sum(figure.overdue for figure in self.states if figure.state.under_review)


def dashboard(session: Session, *, today: date, now: datetime) -> Dashboard:
    """Every figure of the regulator's dashboard, in a fixed number of statements."""
    return Dashboard(
        today=today,
        states=filings_by_state(session, today=today),
        review=review_times(session, now=now),
        districts=filings_per_district(session, today=today),
        filers=filings_per_filer(session, today=today),
        progress=policy_progress(session),
        unfiled=unfiled_enterprises(session),
    )
