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

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, insert, or_, select
from sqlalchemy.orm import Session, aliased

from accounts.audit import record_event
from accounts.choices import OrgKind
from accounts.models import Organization
from core import policy
from core.db import utcnow
from core.errors import ValidationFailed
from core.messages import message as _l
from core.workflow import Transition, Workflow
from filing.calendar import deadline_rules
from filing.choices import CaseState, FilingType, RunScope, RunState
from filing.models import Filing, FindingCase, ReconciliationFinding, ReconciliationRun
from filing.permissions import Action
from filing.queries import STANDING_STATES
from filing.reconcile import Aggregate, FiledBlock, Finding, FindingType, Party, Record, fingerprint, sweep
from ipam.choices import PrefixKind
from ipam.models import Prefix, from_key, to_key
from ipam.space import format_address, format_net, range_to_blocks

RUN_OBJECT, CASE_OBJECT = "reconciliation_run", "finding_case"
BATCH = 5_000  # rows read from the database, and findings written, at a time
PROGRESS_EVERY = 50_000  # items compared between two progress reports
RECORD_KINDS = (PrefixKind.ASSIGNMENT.value, PrefixKind.ALLOCATION.value)
HOLDING_KINDS = (PrefixKind.AGGREGATE.value, PrefixKind.ALLOCATION.value)
FILED_TYPES = (FilingType.ALLOCATION.value, FilingType.ASSIGNMENT.value)
WIDTH = {4: 32, 6: 128}
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
    counts = {kind.value: writer.counts.get(kind.value, 0) for kind in FindingType}
    carrier_counts = {str(carrier): dict(found) for carrier, found in writer.by_carrier.items()}
    values = {"finished_at": utcnow(), "records": reader.read_records, "filings": reader.read_filings,
              "counts": counts, "carrier_counts": carrier_counts}  # fmt: skip
    RUNS.apply(session, run, "finish", actor=actor, values=values, audit_data={"counts": counts})
    return run


def fail_run(session: Session, run: ReconciliationRun, *, actor: Any, error: str) -> None:
    RUNS.apply(session, run, "fail", actor=actor, values={"finished_at": utcnow(), "error": error[:2000]})


class _Reader:
    """Both sides of a run's scope, streamed in address order as the sweep wants them."""

    def __init__(self, session: Session, run: ReconciliationRun, progress: Progress | None) -> None:
        self.session, self.run, self.progress = session, run, progress
        self.read_records = self.read_filings = 0
        self.span: tuple[int, bytes, bytes] | None = None
        if run.scope == RunScope.BLOCK.value:
            block = session.get(Prefix, run.block_id) if run.block_id is not None else None
            if block is None:
                raise ValidationFailed.on("block", _l("The block is no longer registered."))
            self.span = (block.family, block.start, block.last)

    def _stream(self, statement: Select[Any]) -> Iterator[Any]:
        yield from self.session.execute(statement.execution_options(yield_per=BATCH))

    def _tick(self) -> None:
        if self.progress is not None and (self.read_records + self.read_filings) % PROGRESS_EVERY == 0:
            self.progress(self.read_records, self.read_filings)

    def records(self) -> Iterator[Record]:
        parent, holder = aliased(Prefix), aliased(Organization)
        statement = (
            select(Prefix.id, Prefix.family, Prefix.start, Prefix.last, Prefix.holder_id, holder.uscc, holder.name,
                   holder.division_code, parent.holder_id, Prefix.assigned_on, Prefix.created_at)
            .outerjoin(parent, Prefix.parent_id == parent.id)
            .outerjoin(holder, Prefix.holder_id == holder.id)
            .where(Prefix.kind.in_(RECORD_KINDS), _handed_on(Prefix, parent))
            .order_by(Prefix.family, Prefix.start, Prefix.prefix_len)
        )  # fmt: skip
        if self.run.carrier_id is not None:
            statement = statement.where(parent.holder_id == self.run.carrier_id)
        if self.span is not None:
            statement = statement.where(*_within(Prefix, self.span), Prefix.id != self.run.block_id)
        for row in self._stream(statement):
            id_, family, start, last, holder_id, uscc, name, district, carrier_id, assigned_on, created_at = row
            self.read_records += 1
            self._tick()
            yield Record(id_, family, from_key(start), from_key(last), Party(holder_id, uscc, name, district),
                         carrier_id, assigned_on or created_at.date())  # fmt: skip

    def filings(self) -> Iterator[FiledBlock]:
        filer = aliased(Organization)
        statement = (
            select(Filing.id, Filing.family, Filing.start, Filing.last, Filing.user_organization_id, Filing.user_uscc,
                   Filing.user_name, Filing.user_division, Filing.filer_id, filer.uscc, filer.name)
            .join(filer, Filing.filer_id == filer.id)
            .where(Filing.state.in_(STANDING_STATES), Filing.filing_type.in_(FILED_TYPES))
            .order_by(Filing.family, Filing.start, Filing.last.desc())
        )  # fmt: skip
        if self.run.carrier_id is not None:
            statement = statement.where(Filing.filer_id == self.run.carrier_id)
        if self.span is not None:
            statement = statement.where(*_within(Filing, self.span))
        for row in self._stream(statement):
            id_, family, start, last, user_id, user_uscc, user_name, district, filer_id, filer_uscc, filer_name = row
            self.read_filings += 1
            self._tick()
            yield FiledBlock(id_, family, from_key(start), from_key(last),
                             Party(user_id, user_uscc, user_name, district), Party(filer_id, filer_uscc, filer_name))  # fmt: skip

    def aggregates(self) -> list[Aggregate]:
        """The blocks the carriers in scope hold (few: a carrier's aggregates and the allocations it received)."""
        statement = select(Prefix.holder_id, Prefix.family, Prefix.start, Prefix.last).where(
            Prefix.kind.in_(HOLDING_KINDS), Prefix.holder_id.is_not(None)
        )
        if self.run.carrier_id is not None:
            statement = statement.where(Prefix.holder_id == self.run.carrier_id)
        return [Aggregate(holder, family, from_key(start), from_key(last))
                for holder, family, start, last in self._stream(statement)]  # fmt: skip


def _handed_on(prefix: Any, parent: Any) -> Any:
    """A record handed on: its holder is not its parent's (or it has no parent, or no holder)."""
    return or_(parent.id.is_(None), prefix.holder_id.is_(None), parent.holder_id.is_(None),
               parent.holder_id != prefix.holder_id)  # fmt: skip


def _within(model: Any, span: tuple[int, bytes, bytes]) -> tuple[Any, ...]:
    family, start, last = span
    return (model.family == family, model.start >= start, model.last <= last)


def block_text(family: int, first: int, last: int) -> str:
    """A range as people write it: one prefix when it is one, else first–last."""
    blocks = list(itertools_first_two(range_to_blocks(first, last, WIDTH[family])))
    if len(blocks) == 1:
        return format_net(blocks[0])
    return f"{format_address(first, WIDTH[family])}-{format_address(last, WIDTH[family])}"


def itertools_first_two(blocks: Iterator[Any]) -> list[Any]:
    out: list[Any] = []
    for block in blocks:
        out.append(block)
        if len(out) == 2:
            break
    return out


def _party(party: Party) -> dict[str, Any]:
    return {"id": party.organization_id, "name": party.name, "uscc": party.uscc}


class _FindingWriter:
    """Findings into the run's table, a batch at a time; matched pairs are only counted."""

    def __init__(self, session: Session, run: ReconciliationRun, today: date) -> None:
        self.session, self.run, self.today = session, run, today
        self.rules = deadline_rules(session)
        self.due: dict[date, date] = {}
        self.rows: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.by_carrier: dict[int | None, Counter[str]] = {}

    def add(self, finding: Finding) -> None:
        record, filing = finding.record, finding.filing
        carrier_id = record.carrier_id if record is not None else filing.filer.organization_id if filing else None
        self.counts[finding.type.value] += 1
        self.by_carrier.setdefault(carrier_id, Counter())[finding.type.value] += 1
        if finding.type is FindingType.MATCHED:
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
        if finding.type is FindingType.UNFILED and allocated_on is not None:
            working_days = self.rules.calendar.working_days_between(allocated_on, self.today)
            late = self._due(allocated_on) < self.today
        self.rows.append({
            "run_id": self.run.id, "type": finding.type.value, "fingerprint": fingerprint(finding),
            "family": side.family, "start": to_key(side.first), "last": to_key(side.last),
            "block": block_text(side.family, side.first, side.last), "carrier_id": carrier_id,
            "holder_id": party.organization_id, "district": party.district,
            "prefix_id": record.id if record is not None else None,
            "filing_id": filing.id if filing is not None else None,
            "other_filing_id": finding.other.id if finding.other is not None else None,
            "allocated_on": allocated_on, "working_days": working_days, "late": late, "details": details,
        })  # fmt: skip
        if len(self.rows) >= BATCH:
            self.flush()

    def _due(self, allocated_on: date) -> date:
        if allocated_on not in self.due:
            self.due[allocated_on] = self.rules.filing_due(allocated_on).on
        return self.due[allocated_on]

    def flush(self) -> None:
        if self.rows:
            self.session.execute(insert(ReconciliationFinding), self.rows)
            self.rows = []


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
    from sqlalchemy import func

    def count(change: str) -> int:
        return (
            session.scalar(select(func.count()).select_from(diff_findings(earlier.id, later.id, change).subquery()))
            or 0
        )

    return RunDiff(new=count("new"), resolved=count("resolved"), still_open=count("still_open"))
