"""From the planner's events to ipam's change set: what an import will change, counted and sampled for its
report, with every problem the planner found kept on its line."""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import Organization
from importers import queries
from importers.holders import Holders
from importers.models import COUNTS, ImportBatch, Mode
from importers.plan import (
    Attributes,
    Create,
    Holding,
    Move,
    Planner,
    Reject,
    Remove,
    Row,
    Unchanged,
    Update,
    Warn,
)
from importers.reading import Meter
from importers.records import Problem
from importers.staging import ProblemWriter, stage
from ipam.changes import ChangeSet
from ipam.models import Prefix
from ipam.space import Net, format_net

PREVIEW_SAMPLES = 20
PROBLEM_CHUNK = 5_000


@dataclass
class Outcome:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    removed_below: int = 0
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"create": [], "update": [], "remove": []})
    headers: dict[str, str] = field(default_factory=dict)  # the file's header for each column it names


def plan_changes(session: Session, batch: ImportBatch, carrier: Organization, holdings: list[Prefix],
                 holders: Holders, problems: ProblemWriter, outcome: Outcome, meter: Meter,
                 lines_of_several_blocks: Set[int] = frozenset()) -> ChangeSet:  # fmt: skip
    """Plan the staged rows against the registry below the carrier's blocks into a change set.

    A line that stands for several blocks (a range cut into prefixes) loads whole or not at all: when the planner
    refuses one of its blocks after taking another, the file is planned again without the line (rare: once for
    each such line found), and the line is reported with what refused it. Nothing of it loads, and no holder is
    created for it alone."""
    read = dict(outcome.counts)
    problems.start_planning()
    left_out: dict[int, list[Problem]] = {}
    while True:
        changes, refused = _plan(session, batch, carrier, holdings, holders, problems, outcome, meter,
                                 lines_of_several_blocks, left_out)  # fmt: skip
        if not refused:
            break
        left_out.update(refused)
        problems.forget_planned()
        fresh = Outcome(counts=dict(read))
        outcome.counts, outcome.samples, outcome.removed_below = fresh.counts, fresh.samples, fresh.removed_below
    for found in left_out.values():
        for problem in found:
            problems.add(problem)
        outcome.counts["skipped"] += 1
    problems.flush()
    outcome.counts["errors"], outcome.counts["warnings"] = problems.count, problems.warnings
    return changes


def _plan(session: Session, batch: ImportBatch, carrier: Organization, holdings: list[Prefix], holders: Holders,
          problems: ProblemWriter, outcome: Outcome, meter: Meter, lines_of_several_blocks: Set[int],
          left_out: Mapping[int, list[Problem]]) -> tuple[ChangeSet, dict[int, list[Problem]]]:  # fmt: skip
    """One planning pass without the ``left_out`` lines; also returns the lines of several blocks it refused in
    part, with their refusals."""
    planner = Planner(mode_snapshot=batch.mode == Mode.SNAPSHOT.value, carrier_name=carrier.name)
    changes = ChangeSet(session, [h.net for h in holdings])
    counts, samples = outcome.counts, outcome.samples
    rejected_lines: set[int] = set()
    taken: set[int] = set()  # lines of several blocks with a block created or updated
    refusals: dict[int, list[Problem]] = {}  # lines of several blocks with a block refused
    plain_holdings = [Holding(h.id, h.net, h.kind, h.pool_policy) for h in holdings]
    names = {spec.organization_id or -(index + 1): spec.name for index, spec in enumerate(holders.specs)}
    events = planner.plan(plain_holdings, _registry(session, holdings, carrier),
                          _staged_rows(session, holders, left_out))  # fmt: skip
    for event in events:
        if isinstance(event, Create):
            row, net = event.row, event.row.net
            changes.create(net, event.parent, event.depth, **_values(row.attributes))
            counts["created"] += 1
            _sample(samples["create"], prefix=format_net(net), line=row.line, kind=row.attributes.kind)
            if row.line in lines_of_several_blocks:
                taken.add(row.line)
        elif isinstance(event, Update):
            existing = event.existing
            diff = {k: [_plain(v[0]), _plain(v[1])] for k, v in event.changes.items()}
            if event.parent is not None:
                diff["parent"] = [None, format_net(event.parent)]
            changes.update(existing.id, existing.net, **_values(event.row.attributes), old_parent_id=existing.parent_id,
                           new_parent=event.parent, audit=diff,
                           audit_organization_id=existing.attributes.holder_id)  # fmt: skip
            counts["updated"] += 1
            if "holder_id" in diff:  # the preview names holders, never by id (nor a placeholder's)
                diff = {**diff, "holder_id": [existing.holder_name, names.get(event.row.attributes.holder_id)]}
            _sample(samples["update"], prefix=format_net(existing.net), line=event.row.line, changes=diff)
            if event.row.line in lines_of_several_blocks:
                taken.add(event.row.line)
        elif isinstance(event, Unchanged):
            counts["unchanged"] += 1
        elif isinstance(event, Move):
            existing = event.existing
            changes.move(existing.id, existing.net, event.parent, existing.parent_id, **_values(existing.attributes))
        elif isinstance(event, Remove):
            _remove(changes, event, outcome)
        elif isinstance(event, Reject | Warn):
            problems.add(event.problem)
            if isinstance(event, Reject) and event.row.line not in rejected_lines:
                rejected_lines.add(event.row.line)
                counts["skipped"] += 1
            if isinstance(event, Reject) and event.row.line in lines_of_several_blocks:
                refusals.setdefault(event.row.line, []).append(event.problem)
            if len(problems.pending) >= PROBLEM_CHUNK:
                problems.flush()
        meter.tick()
    changes.flush()
    return changes, {line: found for line, found in refusals.items() if line in taken}


def _remove(changes: ChangeSet, event: Remove, outcome: Outcome) -> None:
    existing = event.existing
    changes.remove(existing.id, existing.net, existing.parent_id, audited=event.record,
                   holder_id=existing.attributes.holder_id)  # fmt: skip
    if event.record:
        outcome.counts["removed"] += 1
        _sample(outcome.samples["remove"], prefix=format_net(existing.net), holder=existing.holder_name)
    else:
        outcome.removed_below += 1


def _registry(session: Session, holdings: list[Prefix], carrier: Organization) -> Any:
    in_file = (
        select(stage.c.line)
        .where(stage.c.family == Prefix.family, stage.c.start == Prefix.start, stage.c.prefix_len == Prefix.prefix_len)
        .exists()
    )
    return queries.registry_below(session, holdings, carrier, in_file)


def _staged_rows(session: Session, holders: Holders, left_out: Mapping[int, Any]) -> Any:
    c = stage.c
    statement = (
        stage.select()
        .with_only_columns(
            c.line, c.family, c.start, c.prefix_len, c.kind, c.holder_id, c.usage, c.description, c.assigned_on
        )
        .order_by(c.family, c.start, c.prefix_len, c.line)
    )
    # The organization id each placeholder stands for (the placeholder itself for holders still to create).
    ids = [spec.organization_id or -(index + 1) for index, spec in enumerate(holders.specs)]
    for line, family, start, length, kind, holder, usage, description, assigned_on in session.execute(
        statement, execution_options={"yield_per": 20_000}
    ):
        if line in left_out:
            continue
        net = Net(int.from_bytes(start, "big"), length, 32 if family == 4 else 128)
        holder_id = None if holder is None else ids[-holder - 1]
        yield Row(line, net, Attributes(kind, holder_id, usage, description, assigned_on))


def _values(a: Attributes) -> dict[str, Any]:
    return {"kind": a.kind, "holder_id": a.holder_id, "usage": a.usage, "description": a.description,
            "assigned_on": a.assigned_on}  # fmt: skip


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _sample(target: list[dict[str, Any]], **values: Any) -> None:
    if len(target) < PREVIEW_SAMPLES:
        target.append(values)
