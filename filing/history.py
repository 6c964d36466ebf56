"""A filing's history: every version as filed, field by field against the one before, with who and when."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from accounts.models import AuditEvent
from accounts.queries import object_history
from filing import queries
from filing.models import FILED_FIELDS, Filing, FilingVersion


@dataclass(frozen=True)
class VersionDiff:
    version: FilingVersion
    changes: list[tuple[str, Any, Any]]  # (field, before, after); every filled field for the first version


def diff_values(before: dict[str, Any] | None, after: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    if before is None:
        return [(name, None, after.get(name)) for name in FILED_FIELDS if after.get(name) not in (None, "")]
    return [(name, before.get(name), after.get(name)) for name in FILED_FIELDS if before.get(name) != after.get(name)]


def version_diffs(session: Session, filing: Filing) -> list[VersionDiff]:
    """Newest first."""
    diffs: list[VersionDiff] = []
    previous: dict[str, Any] | None = None
    for version in queries.versions(session, filing):
        diffs.append(VersionDiff(version, diff_values(previous, version.values)))
        previous = version.values
    return diffs[::-1]


def events(session: Session, filing: Filing) -> list[AuditEvent]:
    return object_history(session, "filing", str(filing.id), since=filing.created_at, limit=200)
