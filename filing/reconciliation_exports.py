"""Exports of a run's findings as CSV and Excel: the findings table's rows under its filters (what the reader may
see, every page of it), with the case of each finding, read a batch at a time. The cells go through the filing
exports' writers (``core.web.csv_response``, ``filing.exports.xlsx_response``), which keep a value that looks like
a formula as text."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select
from sqlalchemy.orm import Session

from filing.choices import FINDING_TYPE_LABELS, CaseState
from filing.models import FindingCase, ReconciliationFinding, ReconciliationRun
from filing.reconciliation_queries import cases_by_fingerprint

READ_BATCH = 1000

COLUMNS: tuple[tuple[str, Any], ...] = (
    ("type", _l("Type")),
    ("block", _l("Block")),
    ("record_block", _l("Block in the registry")),
    ("filing_block", _l("Block filed")),
    ("other_block", _l("Block of the overlapping filing")),
    ("holder", _l("Holder or user")),
    ("uscc", _l("USCC")),
    ("carrier", _l("Carrier")),
    ("district", _l("Division code")),
    ("allocated_on", _l("Allocated on")),
    ("working_days", _l("Working days since")),
    ("late", _l("Overdue")),
    ("extra", _l("Filed beyond the record")),
    ("missing", _l("Registered, not filed")),
    ("case", _l("Case")),
    ("comment", _l("Comment")),
    ("prefix_id", _l("Registry record (id)")),
    ("filing_id", _l("Filing (id)")),
    ("other_filing_id", _l("Overlapping filing (id)")),
)


def header() -> list[str]:
    return [str(label) for _key, label in COLUMNS]


def finding_rows(session: Session, statement: Select[tuple[ReconciliationFinding]],
                 carriers: Mapping[int, str]) -> Iterator[list[object]]:  # fmt: skip
    """The findings of ``statement`` as export rows; the cases of each batch in one query."""
    result = session.scalars(statement.execution_options(yield_per=READ_BATCH))
    for batch in result.partitions():
        cases = cases_by_fingerprint(session, [finding.fingerprint for finding in batch])
        for finding in batch:
            yield finding_cells(finding, carriers, cases.get(finding.fingerprint))


def finding_cells(finding: ReconciliationFinding, carriers: Mapping[int, str],
                  case: FindingCase | None) -> list[object]:  # fmt: skip
    details = finding.details
    party = details.get("holder") or details.get("user") or {}
    values: dict[str, object] = {
        "type": str(FINDING_TYPE_LABELS[finding.type]),
        "block": finding.block,
        "record_block": details.get("record_block"),
        "filing_block": details.get("filing_block"),
        "other_block": details.get("other_block"),
        "holder": party.get("name"),
        "uscc": party.get("uscc"),
        "carrier": carriers.get(finding.carrier_id) if finding.carrier_id is not None else None,
        "district": finding.district,
        "allocated_on": finding.allocated_on.isoformat() if finding.allocated_on else None,
        "working_days": finding.working_days,
        "late": _("Yes") if finding.late else None,
        "extra": " ".join(details.get("extra") or []) or None,
        "missing": " ".join(details.get("missing") or []) or None,
        "case": (case.state_enum if case is not None else CaseState.OPEN).label,
        "comment": case.comment if case is not None else None,
        "prefix_id": finding.prefix_id,
        "filing_id": finding.filing_id,
        "other_filing_id": finding.other_filing_id,
    }
    return [values[key] for key, _label in COLUMNS]


def export_filename(run: ReconciliationRun, extension: str) -> str:
    return f"reconciliation-{run.id}-findings.{extension}"
