"""Reconciliation runs: the registry's records and the standing filings of a scope streamed from the database in
address order into the pure sweep (``filing.reconcile``), its findings stored with the run, counted by type and by
carrier; the cases reviewers keep on findings (acknowledged, assigned) carried from run to run by fingerprint;
two runs compared.

A run's states and a case's are tables on the shared engine (``RUNS``, ``CASES``). Operations take the session
and the acting user, flush and never commit: the job (``filing.tasks``), the command or the request owns the
commit. Neither side is ever loaded whole: rows come as plain tuples, a batch at a time, and findings are written
in batches.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session, aliased

from accounts.audit import record_event
from accounts.choices import OrgKind
from accounts.models import Organization
from core import policy
from core.db import bulk_insert, utcnow
from core.errors import ValidationFailed
from core.messages import message as _l
from core.workflow import Transition, Workflow
from filing.blocks import Block
from filing.calendar import deadline_rules
from filing.choices import CaseState, FilingType, RunScope, RunState
from filing.models import Filing, FindingCase, ReconciliationFinding, ReconciliationRun
from filing.permissions import Action
from filing.queries import STANDING_STATES
from filing.reconcile import Aggregate, FiledBlock, Finding, FindingType, Party, Record, fingerprint, sweep
from ipam.choices import PrefixKind
from ipam.models import Prefix, from_key, to_key
from ipam.space import format_net

RUN_OBJECT, CASE_OBJECT = "reconciliation_run", "finding_case"
BATCH = 5_000  # rows read from the database at a time
WRITE_BATCH = 10_000  # findings written at a time
PROGRESS_EVERY = 50_000  # items compared between two progress reports
RECORD_KINDS = (PrefixKind.ASSIGNMENT.value, PrefixKind.ALLOCATION.value)
HOLDING_KINDS = (PrefixKind.AGGREGATE.value, PrefixKind.ALLOCATION.value)
FILED_TYPES = (FilingType.ALLOCATION.value, FilingType.ASSIGNMENT.value)
FINDING_COLUMNS = ["run_id", "type", "fingerprint", "family", "start", "last", "block", "carrier_id", "holder_id",
                   "district", "prefix_id", "filing_id", "other_filing_id", "allocated_on", "working_days", "late",
                   "details"]  # fmt: skip
CARRIER_KINDS = (OrgKind.CARRIER.value, OrgKind.ALLOCATOR.value)  # who hands blocks on, and so is reconciled

R, C = RunState, CaseState
RUNS = Workflow(
    ReconciliationRun,
    object_type=RUN_OBJECT,
    states=RunState,
    audit=record_event,
    organization_of=lambda run: run.carrier_id,
    state_attribute="state",
    transitions=[
        Transition(R.QUEUED, "start", R.RUNNING, Action.EXECUTE_RECONCILIATION, "reconciliation.start"),
        Transition(R.RUNNING, "finish", R.DONE, Action.EXECUTE_RECONCILIATION, "reconciliation.finish"),
        Transition(R.QUEUED, "fail", R.FAILED, Action.EXECUTE_RECONCILIATION, "reconciliation.fail"),
        Transition(R.RUNNING, "fail", R.FAILED, Action.EXECUTE_RECONCILIATION, "reconciliation.fail"),
    ],
)  # fmt: skip
ACT = Action.ACT_ON_FINDING
CASES = Workflow(
    FindingCase,
    object_type=CASE_OBJECT,
    states=CaseState,
    audit=record_event,
    organization_of=lambda case: case.carrier_id,
    state_attribute="state",
    transitions=[
        Transition(C.OPEN, "acknowledge", C.ACKNOWLEDGED, ACT, "finding.acknowledge", label=_l("Acknowledge")),
        Transition(C.OPEN, "assign", C.ASSIGNED, ACT, "finding.assign", label=_l("Assign")),
        Transition(C.ASSIGNED, "acknowledge", C.ACKNOWLEDGED, ACT, "finding.acknowledge", label=_l("Acknowledge")),
        Transition(C.ASSIGNED, "assign", C.ASSIGNED, ACT, "finding.assign", label=_l("Assign to someone else")),
        Transition(C.ASSIGNED, "reopen", C.OPEN, ACT, "finding.reopen", label=_l("Reopen")),
        Transition(C.ACKNOWLEDGED, "reopen", C.OPEN, ACT, "finding.reopen", label=_l("Reopen")),
    ],
)  # fmt: skip


# -- starting and running ------------------------------------------------------------------------------------------


def start_run(session: Session, *, scope: RunScope, actor: Any, carrier: Organization | None = None,
              block: Prefix | None = None) -> ReconciliationRun:  # fmt: skip
    """A queued run of ``scope`` (a carrier's records and filings, a block's, or everything)."""
    if scope is RunScope.CARRIER and (carrier is None or carrier.kind not in CARRIER_KINDS):
        raise ValidationFailed.on("carrier", _l("Choose the carrier to reconcile."))
    if scope is RunScope.BLOCK and block is None:
        raise ValidationFailed.on("block", _l("Choose the block to reconcile."))
    policy.require(actor, Action.START_RECONCILIATION, carrier if scope is RunScope.CARRIER else None)
    run = ReconciliationRun(
        scope=scope.value, state=RunState.QUEUED.value,
        carrier_id=carrier.id if scope is RunScope.CARRIER and carrier is not None else None,
        block_id=block.id if scope is RunScope.BLOCK and block is not None else None,
        block=block.network if scope is RunScope.BLOCK and block is not None else None,
        started_by_id=getattr(actor, "id", None),
        started_by_name=getattr(actor, "display_name", None) or actor.username, counts={}, carrier_counts={},
    )  # fmt: skip
    session.add(run)
    session.flush()
    record_event(session, actor=actor, action="reconciliation.create", object_type=RUN_OBJECT, object_id=run.id,
                 organization_id=run.carrier_id, after={"scope": run.scope, "carrier_id": run.carrier_id,
                                                         "block": run.block}, summary=scope_text(run))  # fmt: skip
    return run


def scope_text(run: ReconciliationRun) -> str:
    if run.scope == RunScope.CARRIER.value and run.carrier is not None:
        return run.carrier.name
    if run.scope == RunScope.BLOCK.value:
        return run.block or ""
    return str(RunScope(run.scope).label)


Progress = Callable[[int, int], None]  # (records read, filings read)


def execute_run(session: Session, run: ReconciliationRun, *, actor: Any, today: date,
                progress: Progress | None = None) -> ReconciliationRun:  # fmt: skip
    """Compare the run's scope and store what it finds. Refused (and nothing written) unless the run is queued;
    an error leaves it to the caller to roll back and ``fail_run`` in a fresh transaction."""
    RUNS.apply(session, run, "start", actor=actor, values={"started_at": utcnow()})
    reader = _Reader(session, run, progress)
    writer = _FindingWriter(session, run, today)
    for finding in sweep(reader.records(), reader.filings(), reader.aggregates()):
        writer.add(finding)
    writer.flush()
    counts = {kind.value: writer.counts.get(kind, 0) for kind in FindingType}
    carrier_counts: dict[str, dict[str, int]] = {}
    for (carrier, kind), found in writer.by_carrier.items():
        carrier_counts.setdefault(str(carrier), {})[kind.value] = found
    values = {"finished_at": utcnow(), "records": reader.read_records, "filings": reader.read_filings,
              "counts": counts, "carrier_counts": carrier_counts}  # fmt: skip
    RUNS.apply(session, run, "finish", actor=actor, values=values, audit_data={"counts": counts})
    return run


def fail_run(session: Session, run: ReconciliationRun, *, actor: Any, error: str) -> None:
    RUNS.apply(session, run, "fail", actor=actor, values={"finished_at": utcnow(), "error": error[:2000]})


class _Reader:
    """Both sides of a run's scope, streamed in address order as the sweep wants them.

    A million rows a side: they come straight from the driver's cursor (a server-side one on PostgreSQL), as
    tuples, without the ORM's or the Core's row processing; organizations repeat, so each is made once."""

    def __init__(self, session: Session, run: ReconciliationRun, progress: Progress | None) -> None:
        self.session, self.run, self.progress = session, run, progress
        self.read_records = self.read_filings = 0
        self.span: tuple[int, bytes, bytes] | None = None
        if run.scope == RunScope.BLOCK.value:
            block = session.get(Prefix, run.block_id) if run.block_id is not None else None
            if block is None:
                raise ValidationFailed.on("block", _l("The block is no longer registered."))
            self.span = (block.family, block.start, block.last)
        self.sqlite = session.get_bind().dialect.name == "sqlite"
        self.parent_holders: dict[int, int | None] | None = None
        self.filers: dict[int, Party] = {}

    def _rows(self, statement: Select[Any]) -> Iterator[tuple[Any, ...]]:
        """The statement's rows as the driver returns them, a batch at a time."""
        self.session.flush()
        connection = self.session.connection()
        compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
        driver = connection.connection.driver_connection
        if self.sqlite:
            cursor = driver.cursor()
            cursor.execute(compiled.string, tuple(compiled.params[name] for name in compiled.positiontup or ()))
        else:  # a named cursor: the server keeps the result and hands it over a batch at a time
            cursor = driver.cursor(name=f"reconciliation_{next(_cursor_numbers)}", binary=True)
            cursor.execute(compiled.string, compiled.params)
        try:
            while rows := cursor.fetchmany(BATCH):
                yield from rows
        finally:
            cursor.close()

    def _tick(self) -> None:
        if self.progress is not None and (self.read_records + self.read_filings) % PROGRESS_EVERY == 0:
            self.progress(self.read_records, self.read_filings)

    def _order(self, column: Any) -> Any:
        """SQLite walks an address index with a table lookup per row, in the order the rows were written; reading
        the table in one pass and sorting is three times faster for a whole registry. An expression instead of
        the column keeps the planner off the index (PostgreSQL chooses well by itself)."""
        return column + 0 if self.sqlite else column

    def _holders_of_parents(self) -> dict[int, int | None]:
        """Who holds each block a record can lie in: the record's carrier. By the nesting rules those are
        aggregates and allocations (``aggregates`` reads them anyway); any other is asked for when met."""
        if self.parent_holders is None:
            self.aggregates()
        assert self.parent_holders is not None
        return self.parent_holders

    def records(self) -> Iterator[Record]:
        holder = aliased(Organization)
        statement = (
            select(Prefix.id, Prefix.family, Prefix.start, Prefix.last, Prefix.holder_id, holder.uscc, holder.name,
                   holder.division_code, Prefix.parent_id, Prefix.assigned_on, Prefix.created_at)
            .outerjoin(holder, Prefix.holder_id == holder.id)
            .where(Prefix.kind.in_(RECORD_KINDS))
            .order_by(self._order(Prefix.family), Prefix.start, Prefix.prefix_len)
        )  # fmt: skip
        if self.run.carrier_id is not None:
            held = select(Prefix.id).where(Prefix.holder_id == self.run.carrier_id).scalar_subquery()
            statement = statement.where(Prefix.parent_id.in_(held))
        if self.span is not None:
            statement = statement.where(*_within(Prefix, self.span), Prefix.id != self.run.block_id)
        carriers = self._holders_of_parents()
        holders: dict[int | None, Party] = {}
        days: dict[Any, date] = {}
        from_bytes = int.from_bytes
        for id_, family, start, last, holder_id, uscc, name, district, parent_id, assigned_on, created_at in self._rows(
            statement
        ):
            carrier_id = None
            if parent_id is not None:
                carrier_id = carriers[parent_id] if parent_id in carriers else self._holder_of(parent_id)
                if holder_id is not None and carrier_id == holder_id:
                    continue  # not handed on: the holder keeps a part of its own block
            party = holders.get(holder_id)
            if party is None:
                party = holders[holder_id] = Party(holder_id, uscc, name, district)
            if assigned_on is None:
                allocated_on = _as_date(created_at)
            else:
                allocated_on = days.get(assigned_on) or days.setdefault(assigned_on, _as_date(assigned_on))
            self.read_records += 1
            self._tick()
            yield Record(
                id_, family, from_bytes(start, "big"), from_bytes(last, "big"), party, carrier_id, allocated_on
            )

    def _holder_of(self, prefix_id: int) -> int | None:
        carriers = self._holders_of_parents()
        carriers[prefix_id] = self.session.scalar(select(Prefix.holder_id).where(Prefix.id == prefix_id))
        return carriers[prefix_id]

    def filings(self) -> Iterator[FiledBlock]:
        state = Filing.state.concat("") if self.sqlite else Filing.state  # SQLite: one pass, as in ``_order``
        statement = (
            select(Filing.id, Filing.family, Filing.start, Filing.last, Filing.user_organization_id, Filing.user_uscc,
                   Filing.user_name, Filing.user_division, Filing.filer_id)
            .where(state.in_(STANDING_STATES), Filing.filing_type.in_(FILED_TYPES))
            .order_by(self._order(Filing.family), Filing.start, Filing.last.desc())
        )  # fmt: skip
        if self.run.carrier_id is not None:
            statement = statement.where(Filing.filer_id == self.run.carrier_id)
        if self.span is not None:
            statement = statement.where(*_within(Filing, self.span))
        users: dict[tuple[Any, ...], Party] = {}
        from_bytes = int.from_bytes
        for id_, family, start, last, *user, filer_id in self._rows(statement):
            key = tuple(user)
            party = users.get(key)
            if party is None:
                party = users[key] = Party(*user)
            filer = self.filers.get(filer_id) or self._filer(filer_id)
            self.read_filings += 1
            self._tick()
            yield FiledBlock(id_, family, from_bytes(start, "big"), from_bytes(last, "big"), party, filer)

    def _filer(self, filer_id: int) -> Party:
        """Filers are few (carriers and allocators): each is read once, when first met."""
        uscc, name = self.session.execute(
            select(Organization.uscc, Organization.name).where(Organization.id == filer_id)
        ).one()
        self.filers[filer_id] = Party(filer_id, uscc, name)
        return self.filers[filer_id]

    def aggregates(self) -> list[Aggregate]:
        """The blocks the carriers in scope hold (few: a carrier's aggregates and the allocations it received)."""
        statement = select(Prefix.id, Prefix.holder_id, Prefix.family, Prefix.start, Prefix.last).where(
            Prefix.kind.in_(HOLDING_KINDS)
        )
        self.parent_holders = {}
        held: list[Aggregate] = []
        for id_, holder, family, start, last in self._rows(statement):
            self.parent_holders[id_] = holder
            if holder is not None and self.run.carrier_id in (None, holder):
                held.append(Aggregate(holder, family, from_key(start), from_key(last)))
        return held


_cursor_numbers = itertools.count()


def _as_date(value: Any) -> date:
    """A day as the driver gives it: a date, a timestamp (its day), or SQLite's ISO text of either."""
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        return value.date()
    return value  # type: ignore[no-any-return]


def _within(model: Any, span: tuple[int, bytes, bytes]) -> tuple[Any, ...]:
    family, start, last = span
    return (model.family == family, model.start >= start, model.last <= last)


def block_text(family: int, first: int, last: int) -> str:
    """A range as people write it: one prefix when it is one, else first–last (as a filing's block reads)."""
    return str(Block(family, first, last))


def _party(party: Party) -> dict[str, Any]:
    return {"id": party.organization_id, "name": party.name, "uscc": party.uscc}


class _FindingWriter:
    """Findings into the run's table, WRITE_BATCH at a time in one bulk statement (COPY on PostgreSQL); matched
    pairs are only counted."""

    def __init__(self, session: Session, run: ReconciliationRun, today: date) -> None:
        self.session, self.run, self.today = session, run, today
        self.rules = deadline_rules(session)
        self.due: dict[date, date] = {}
        self.rows: list[tuple[Any, ...]] = []
        self.counts: Counter[FindingType] = Counter()
        self.by_carrier: Counter[tuple[int | None, FindingType]] = Counter()
        # COPY takes the JSON as text; SQLite's executemany goes through the column's own serializer.
        self.details = json.dumps if session.get_bind().dialect.name == "postgresql" else _unchanged

    def add(self, finding: Finding) -> None:
        record, filing = finding.record, finding.filing
        carrier_id = record.carrier_id if record is not None else filing.filer.organization_id if filing else None
        kind = finding.type
        self.counts[kind] += 1
        self.by_carrier[carrier_id, kind] += 1
        if kind is FindingType.MATCHED:
            return
        side = record or filing
        assert side is not None
        details: dict[str, Any] = {}
        if record is not None:
            details["holder"] = _party(record.holder)
            details["record_block"] = block_text(record.family, record.first, record.last)
        if filing is not None:
            details["user"], details["filer"] = _party(filing.user), _party(filing.filer)
            details["filing_block"] = block_text(filing.family, filing.first, filing.last)
        if finding.other is not None:
            details["other_user"], details["other_filer"] = _party(finding.other.user), _party(finding.other.filer)
            details["other_block"] = block_text(finding.other.family, finding.other.first, finding.other.last)
        if finding.extra or finding.missing:
            details["extra"] = [format_net(n) for n in finding.extra]
            details["missing"] = [format_net(n) for n in finding.missing]
        if finding.others:
            details["others"] = list(finding.others[:50])
        party = record.holder if record is not None else filing.user  # type: ignore[union-attr]
        allocated_on = record.allocated_on if record is not None else None
        working_days, late = None, False
        if kind is FindingType.UNFILED and allocated_on is not None:
            working_days = self.rules.calendar.working_days_between(allocated_on, self.today)
            late = self._due(allocated_on) < self.today
        self.rows.append((
            self.run.id, kind.value, fingerprint(finding), side.family, to_key(side.first), to_key(side.last),
            block_text(side.family, side.first, side.last), carrier_id, party.organization_id, party.district,
            record.id if record is not None else None, filing.id if filing is not None else None,
            finding.other.id if finding.other is not None else None, allocated_on, working_days, late,
            self.details(details),
        ))  # fmt: skip
        if len(self.rows) >= WRITE_BATCH:
            self.flush()

    def _due(self, allocated_on: date) -> date:
        if allocated_on not in self.due:
            self.due[allocated_on] = self.rules.filing_due(allocated_on).on
        return self.due[allocated_on]

    def flush(self) -> None:
        if self.rows:
            bulk_insert(self.session, ReconciliationFinding.__table__, FINDING_COLUMNS, self.rows)
            self.rows = []


def _unchanged(value: Any) -> Any:
    return value


# -- cases ---------------------------------------------------------------------------------------------------------


def case_for(session: Session, finding: ReconciliationFinding) -> FindingCase | None:
    return session.scalar(select(FindingCase).where(FindingCase.fingerprint == finding.fingerprint))


def act_on_finding(session: Session, finding: ReconciliationFinding, action: str, *, actor: Any,
                   comment: str | None, assignee: Any = None) -> FindingCase:  # fmt: skip
    """Acknowledge, assign (to ``assignee``) or reopen what ``finding`` is about, with a comment; the case carries
    over to later runs' findings with the same fingerprint."""
    policy.require(actor, ACT, finding)
    text = (comment or "").strip()[:2000] or None
    if action in ("acknowledge", "assign") and text is None:
        raise ValidationFailed.on("comment", _l("Say why, for whoever reads this finding next."))
    if action == "assign" and assignee is None:
        raise ValidationFailed.on("assignee", _l("Choose whom to assign it to."))
    if action == "assign" and not policy.can(assignee, ACT, finding):
        raise ValidationFailed.on("assignee", _l("Assign it to someone who may act on this finding."))
    case = case_for(session, finding)
    if case is None:
        case = FindingCase(fingerprint=finding.fingerprint, carrier_id=finding.carrier_id, state=CaseState.OPEN.value)
        session.add(case)
        session.flush()
    values = {"comment": text, "updated_by_id": getattr(actor, "id", None), "updated_at": utcnow(),
              "assignee_id": getattr(assignee, "id", None) if action == "assign" else case.assignee_id}  # fmt: skip
    if action == "reopen":
        values["assignee_id"] = None
    CASES.apply(session, case, action, actor=actor, comment=finding.block, values=values,
                audit_data={"comment": text, "finding": finding.id, "assignee_id": values["assignee_id"]})  # fmt: skip
    session.expire(case, ["assignee"])  # the step moved assignee_id: who it names now is read again
    return case


# -- comparing runs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunDiff:
    new: int
    resolved: int
    still_open: int


def previous_run(session: Session, run: ReconciliationRun) -> ReconciliationRun | None:
    """The last run of the same scope that finished before this one."""
    statement = (
        select(ReconciliationRun)
        .where(
            ReconciliationRun.scope == run.scope, ReconciliationRun.state == RunState.DONE.value,
            ReconciliationRun.id < run.id,
            ReconciliationRun.carrier_id.is_(None) if run.carrier_id is None
            else ReconciliationRun.carrier_id == run.carrier_id,
            ReconciliationRun.block.is_(None) if run.block is None else ReconciliationRun.block == run.block,
        )
        .order_by(ReconciliationRun.id.desc())
        .limit(1)
    )  # fmt: skip
    return session.scalar(statement)


def diff_findings(earlier_id: int, later_id: int, change: str) -> Select[tuple[ReconciliationFinding]]:
    """The findings that are ``new`` in the later run, ``resolved`` (in the earlier only) or ``still_open``."""
    earlier, later = aliased(ReconciliationFinding), aliased(ReconciliationFinding)
    if change == "resolved":
        base, other_id = earlier, later_id
    else:
        base, other_id = later, earlier_id
    twin = aliased(ReconciliationFinding)
    statement = select(base).outerjoin(twin, and_(twin.run_id == other_id, twin.fingerprint == base.fingerprint))
    statement = statement.where(base.run_id == (earlier_id if change == "resolved" else later_id))
    if change == "still_open":
        return statement.where(twin.id.is_not(None)).order_by(base.family, base.start, base.id)
    return statement.where(twin.id.is_(None)).order_by(base.family, base.start, base.id)


def diff_counts(session: Session, earlier: ReconciliationRun, later: ReconciliationRun) -> RunDiff:
    def count(change: str) -> int:
        return (
            session.scalar(select(func.count()).select_from(diff_findings(earlier.id, later.id, change).subquery()))
            or 0
        )

    return RunDiff(new=count("new"), resolved=count("resolved"), still_open=count("still_open"))
