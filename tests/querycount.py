"""Counting the SQL statements a piece of work sends to the database, to hold list pages to a constant number."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

from core.extensions import db


@dataclass
class StatementLog:
    """The statements sent while counting, in order (SAVEPOINT and RELEASE included)."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def __str__(self) -> str:
        return "\n".join(f"{n}. {' '.join(s.split())[:200]}" for n, s in enumerate(self.statements, 1))


@contextlib.contextmanager
def count_statements(engine: Engine | None = None) -> Iterator[StatementLog]:
    """Record every statement executed on ``engine`` (the application's, by default) inside the block.

    The listener sits on the engine, so it also hears the connection the test fixtures bind every session to.
    """
    engine = engine if engine is not None else db.engine
    assert engine is not None, "the application has no engine yet"
    log = StatementLog()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        log.statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", record)
