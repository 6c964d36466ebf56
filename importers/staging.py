"""The temporary tables of one import: the file's rows, staged for the planner, and the problems found.

Both live in this connection's transaction and are dropped at its end: checking a file writes nothing else, so it
never holds SQLite's write lock, and a failed import leaves nothing behind. (What the import changes in the
registry waits in ipam's change set, ``ipam.changes``.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Session

from core import db as core_db
from core.db import bulk_insert, chunks, recreate_tables, temporary_table
from importers.holders import Holders
from importers.models import ImportBatch, ImportProblem
from importers.reading import Meter, read_records
from importers.records import Problem
from ipam import changes
from ipam.models import to_key

MAX_VALUE_LENGTH = 500
STAGE_CHUNK = 20_000

stage = temporary_table(
    "import_stage",
    Column("line", Integer), Column("family", SmallInteger), Column("start", LargeBinary(16)),
    Column("prefix_len", SmallInteger), Column("kind", String(16)), Column("holder_id", Integer),
    Column("usage", String(24)), Column("description", Text), Column("assigned_on", Date),
)  # fmt: skip
found_problems = temporary_table(
    "import_found_problem",
    Column("line", Integer), Column("sheet", String(100)), Column("column", String(32)),
    Column("value", String(MAX_VALUE_LENGTH)), Column("message", String(300)), Column("params", Text),
    Column("severity", String(8)), Column("planned", SmallInteger),  # 1: found by the planner, not the reader
)  # fmt: skip
TABLES = (stage, found_problems)


def create_tables(session: Session) -> None:
    connection = session.connection()
    changes.drop_tables(connection)  # a change set a failed run on this connection left
    recreate_tables(connection, TABLES)


def drop_tables(connection: Any) -> None:
    """This import's temporary tables, and the change set it planned."""
    changes.drop_tables(connection)
    core_db.drop_tables(connection, TABLES)


class ProblemWriter:
    """Problems are kept as they are found, in chunks (a bad file may have a million), in a temporary table;
    ``record_problems`` gives them to the batch when its result is recorded. Warnings are counted apart. Those the
    planner found (``planning``) can be forgotten, for the file to be planned again."""

    columns = ("line", "sheet", "column", "value", "message", "params", "severity", "planned")

    def __init__(self, session: Session) -> None:
        self.session, self.pending = session, []
        self.count = self.warnings = 0
        self.planning = False
        self._read = (0, 0)  # the counts before planning: the reader's problems

    def add(self, problem: Problem) -> None:
        """Held until ``flush``: the caller flushes when the connection is free (not inside a COPY)."""
        if problem.severity == "warning":
            self.warnings += 1
        else:
            self.count += 1
        params = json.dumps(dict(problem.params), ensure_ascii=False, default=str) if problem.params else None
        self.pending.append((problem.line, problem.sheet, problem.column[:32], str(problem.value)[:MAX_VALUE_LENGTH],
                             problem.message[:300], params, problem.severity, int(self.planning)))  # fmt: skip

    def start_planning(self) -> None:
        """What is added from now on is the planner's."""
        self.flush()
        self.planning, self._read = True, (self.count, self.warnings)

    def forget_planned(self) -> None:
        """Forget every problem the planner found (it plans the file again)."""
        self.pending = [row for row in self.pending if not row[-1]]
        self.session.execute(delete(found_problems).where(found_problems.c.planned == 1))
        self.count, self.warnings = self._read

    def flush(self) -> None:
        if self.pending:
            self.session.execute(
                insert(found_problems), [dict(zip(self.columns, row, strict=True)) for row in self.pending]
            )
            self.pending = []


def record_problems(session: Session, batch: ImportBatch) -> None:
    """Copy the problems the check found to the batch, in one statement."""
    p = found_problems.c
    params = p.params if session.get_bind().dialect.name != "postgresql" else func.cast(p.params, JSON)
    source = select(bindparam("batch", batch.id, type_=Integer), p.line, p.sheet, p.column, p.value, p.message, params,
                    p.severity)  # fmt: skip
    columns = ["batch_id", "line", "sheet", "column", "value", "message", "params", "severity"]
    session.execute(insert(ImportProblem.__table__).from_select(columns, source))


@dataclass
class StagedFile:
    """What reading the file found besides its rows: the header's words for the columns it names (tables only),
    and the lines that stand for several blocks (a range cut into prefixes), which load whole or not at all."""

    headers: dict[str, str] = field(default_factory=dict)
    lines_of_several_blocks: set[int] = field(default_factory=set)


def stage_file(session: Session, batch: ImportBatch, holders: Holders, problems: ProblemWriter,
               counts: dict[str, int], meter: Meter) -> StagedFile:  # fmt: skip
    """Read the batch's file into the staging table (problems aside, holders as placeholders), streamed."""
    lines_with_problems: set[int] = set()
    staged = StagedFile()
    previous_line = None

    def rows() -> Iterator[tuple[Any, ...]]:
        nonlocal previous_line
        for item in read_records(Path(batch.stored_path or ""), batch.format, batch.sheet, meter, staged.headers):
            meter.tick(1)
            if isinstance(item, Problem):
                problems.add(item)
                if item.line not in lines_with_problems:
                    lines_with_problems.add(item.line)
                    counts["skipped"] += 1
                continue
            if batch.family is not None and item.prefix.family != batch.family:
                counts["other_family"] += 1
                continue
            if item.line == previous_line:  # a line's blocks come one after the other
                staged.lines_of_several_blocks.add(item.line)
            previous_line = item.line
            counts["rows"] += 1
            holder = holders.placeholder(item)
            description = item.description or item.netname
            yield (item.line, item.prefix.family, to_key(item.prefix.start), item.prefix.length, item.kind, holder,
                   item.usage, description[:2000] if description else None, item.registered)  # fmt: skip

    columns = ["line", "family", "start", "prefix_len", "kind", "holder_id", "usage", "description", "assigned_on"]
    # In chunks: PostgreSQL's COPY holds the connection, and problems are written between chunks.
    for chunk in chunks(rows(), STAGE_CHUNK):
        bulk_insert(session, stage, columns, chunk)
        problems.flush()
    counts["rows"] += counts["skipped"]
    session.execute(text("CREATE INDEX ix_import_stage_key ON import_stage (family, start, prefix_len)"))
    return staged
