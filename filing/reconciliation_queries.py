"""Reads of reconciliation runs and findings, shaped for the pages, the API and the command: who sees which, the
findings' filters, the cases of a page of findings in one query, the regulators' latest figures."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from accounts.models import Organization
from accounts.permissions import Action as AccountAction
from core import policy
from filing.choices import RunScope, RunState
from filing.models import FindingCase, ReconciliationFinding, ReconciliationRun
from filing.permissions import Action


def visible_runs(user: Any) -> Select[tuple[ReconciliationRun]]:
    """The runs ``user`` may see, the latest first: every run for regulators, a carrier's own scope for it."""
    statement = select(ReconciliationRun).order_by(ReconciliationRun.id.desc())
    if policy.can(user, AccountAction.OVERSEE_ALL):
        return statement
    return statement.where(ReconciliationRun.carrier_id == user.organization_id)


def visible_run(session: Session, user: Any, run_id: int) -> ReconciliationRun | None:
    found = session.get(ReconciliationRun, run_id)
    if found is None or not policy.can(user, Action.VIEW_RECONCILIATION, found):
        return None
    return found


@dataclass(frozen=True)
class FindingFilter:
    type: str | None = None
    carrier_id: int | None = None
    district: str | None = None  # a division code, or its prefix (a city's districts: 1201)
    holder: str | None = None  # part of the holder's or the filing user's name, or a USCC
    min_working_days: int | None = None
    late: bool | None = None
    case_state: str | None = None  # open (no case, or reopened), acknowledged, assigned


def findings(user: Any, run: ReconciliationRun, flt: FindingFilter = FindingFilter()
             ) -> Select[tuple[ReconciliationFinding]]:  # fmt: skip
    """The run's findings ``user`` may see (a carrier: those about its own records and filings), filtered, in
    address order."""
    statement = select(ReconciliationFinding).where(ReconciliationFinding.run_id == run.id)
    if not policy.can(user, AccountAction.OVERSEE_ALL):
        statement = statement.where(ReconciliationFinding.carrier_id == user.organization_id)
    if flt.type:
        statement = statement.where(ReconciliationFinding.type == flt.type)
    if flt.carrier_id is not None:
        statement = statement.where(ReconciliationFinding.carrier_id == flt.carrier_id)
    if flt.district:
        statement = statement.where(ReconciliationFinding.district.startswith(flt.district, autoescape=True))
    if flt.holder:
        statement = _holder_filter(statement, flt.holder.strip())
    if flt.min_working_days is not None:
        statement = statement.where(ReconciliationFinding.working_days >= flt.min_working_days)
    if flt.late is not None:
        statement = statement.where(ReconciliationFinding.late.is_(flt.late))
    if flt.case_state:
        case = select(FindingCase.state).where(FindingCase.fingerprint == ReconciliationFinding.fingerprint)
        if flt.case_state == "open":
            statement = statement.where(or_(~case.exists(), case.scalar_subquery() == "open"))
        else:
            statement = statement.where(case.scalar_subquery() == flt.case_state)
    return statement.order_by(ReconciliationFinding.family, ReconciliationFinding.start, ReconciliationFinding.id)


def _holder_filter(statement: Select[Any], text: str) -> Select[Any]:
    """The findings whose record's holder (or filing's user) is named ``text`` in part, or has that USCC: matched
    against the platform's organizations, then by id (the findings keep ids, not names, in their columns)."""
    named = select(Organization.id).where(
        or_(Organization.name.contains(text, autoescape=True), Organization.uscc == text.upper())
    )
    return statement.where(ReconciliationFinding.holder_id.in_(named))


def cases_by_fingerprint(session: Session, fingerprints: Sequence[str]) -> dict[str, FindingCase]:
    """The cases of a page of findings, in one query."""
    if not fingerprints:
        return {}
    rows = session.scalars(select(FindingCase).where(FindingCase.fingerprint.in_(set(fingerprints))))
    return {case.fingerprint: case for case in rows}


def carrier_names(session: Session, run: ReconciliationRun) -> dict[int, str]:
    """The names of the carriers a run's counts name."""
    ids = run_carrier_ids(run)
    if not ids:
        return {}
    return dict(session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(ids))).all())


def carrier_codes(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """The codes of the carriers a page of runs or findings names, in one query."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(Organization.id, Organization.code).where(Organization.id.in_(wanted))).all())


def run_carrier_ids(run: ReconciliationRun) -> list[int]:
    """The carriers a run's counts name (its keys are ids as text, "None" for records no carrier handed on)."""
    return [int(key) for key in run.carrier_counts or {} if key.isdigit()]


@dataclass(frozen=True)
class CarrierFigures:
    carrier_id: int | None
    name: str
    unfiled: int
    late: int


def latest_city_run(session: Session) -> ReconciliationRun | None:
    """The latest finished run of the whole city: the regulators' dashboard reads its figures."""
    return session.scalar(
        select(ReconciliationRun)
        .where(ReconciliationRun.scope == RunScope.ALL.value, ReconciliationRun.state == RunState.DONE.value)
        .order_by(ReconciliationRun.id.desc())
        .limit(1)
    )


def unfiled_by_carrier(session: Session, run: ReconciliationRun) -> list[CarrierFigures]:
    """Unfiled and late counts by carrier in ``run``, the most unfiled first."""
    rows = session.execute(
        select(ReconciliationFinding.carrier_id, func.count(),
               func.count().filter(ReconciliationFinding.late.is_(True)))
        .where(ReconciliationFinding.run_id == run.id, ReconciliationFinding.type == "unfiled")
        .group_by(ReconciliationFinding.carrier_id)
    ).all()  # fmt: skip
    names = dict(
        session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_([r[0] for r in rows if r[0]]))
        ).all()
    )
    figures = [
        CarrierFigures(carrier_id, names.get(carrier_id, "—"), unfiled, late) for carrier_id, unfiled, late in rows
    ]
    return sorted(figures, key=lambda f: (-f.unfiled, f.name))
