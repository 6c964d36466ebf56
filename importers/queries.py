"""Reading import batches, as the user may see them."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from accounts import policy
from accounts.models import User
from importers.models import ImportBatch, ImportProblem


def visible_batches(user: User) -> Select[tuple[ImportBatch]]:
    statement = select(ImportBatch).order_by(ImportBatch.id.desc())
    if policy.is_regulator(user):
        return statement
    return statement.where(ImportBatch.carrier_id == user.organization_id)


def _problems(batch: ImportBatch) -> Select[tuple[ImportProblem]]:
    return (
        select(ImportProblem).where(ImportProblem.batch_id == batch.id).order_by(ImportProblem.line, ImportProblem.id)
    )


def first_problems(session: Session, batch: ImportBatch, limit: int | None) -> list[ImportProblem]:
    statement = _problems(batch)
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.scalars(statement))


def all_problems(session: Session, batch: ImportBatch) -> Iterator[ImportProblem]:
    yield from session.scalars(_problems(batch).execution_options(yield_per=5000))


def problem_count(session: Session, batch: ImportBatch) -> int:
    return (
        session.scalar(select(func.count()).select_from(ImportProblem).where(ImportProblem.batch_id == batch.id)) or 0
    )


def loaded_from(session: Session, preview: ImportBatch) -> int | None:
    """The import that loaded this checked file, if it has been confirmed."""
    if not preview.dry_run:
        return None
    return session.scalar(
        select(ImportBatch.id)
        .where(
            ImportBatch.stored_path == preview.stored_path, ImportBatch.id > preview.id, ImportBatch.dry_run.is_(False)
        )
        .limit(1)
    )
