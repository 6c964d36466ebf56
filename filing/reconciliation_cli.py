"""``flask reconcile [--carrier CODE | --block PREFIX] [--json]``: reconcile the registry's records with the
standing filings now, as the machine's operator, counting what it reads on standard error as it goes; then the run's
counts by finding type and by carrier, or (``--json``) every finding it stored.

Exit status: 0 the run is done; 1 refused (an unknown carrier or block) or failed, in one line, and nothing is
kept; 2 a bad argument.
"""

from __future__ import annotations

import json
from typing import Any

import click
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from accounts.queries import organization_for_field
from core.cli import OneLineCommand, emit, json_option, unit_of_work
from core.errors import ValidationFailed
from core.extensions import db
from core.messages import message as _l
from core.policy import OPERATOR
from filing.choices import RunScope
from filing.models import ReconciliationFinding, ReconciliationRun
from filing.reconcile import FindingType
from filing.reconciliation import execute_run, start_run
from filing.reconciliation_queries import carrier_codes, findings, run_carrier_ids
from filing.reconciliation_schemas import carrier_code
from filing.tasks import china_today
from ipam.operations import parse_prefix
from ipam.queries import get_prefix

STREAM_BATCH = 1_000  # findings read at a time for the JSON document


@click.command("reconcile", cls=OneLineCommand)
@click.option("--carrier", "carrier", metavar="CODE", help="Only this carrier's records and filings.")
@click.option("--block", "block_text", metavar="PREFIX", help="Only this registered block.")
@json_option
def reconcile_cli(carrier: str | None, block_text: str | None, as_json: bool) -> None:
    """Compare the registry's records with the standing filings (all, one carrier's or one block's) and keep the
    run with what differs."""
    if carrier and block_text:
        raise click.UsageError(_("Give --carrier or --block, not both."))
    with unit_of_work() as session:
        run = start_run(session, actor=OPERATOR, **_scope(session, carrier, block_text))
        execute_run(session, run, actor=OPERATOR, today=china_today(), progress=_show_progress)
        run_id = run.id
    # Written and committed: the output is read without holding the write lock, however long it takes to print.
    with db.session_scope(write=False) as session:
        done = session.get(ReconciliationRun, run_id)
        assert done is not None
        _show_progress(done.records, done.filings, final=True)
        if as_json:
            _print_document(session, done)
        else:
            _print_summary(session, done)


def _scope(session: Session, carrier: str | None, block: str | None) -> dict[str, Any]:
    if carrier:
        return {"scope": RunScope.CARRIER, "carrier": organization_for_field(session, carrier, "carrier")}
    if block:
        found = get_prefix(session, parse_prefix(block.strip(), "block"))
        if found is None:
            raise ValidationFailed.on("block", _l("%(prefix)s is not registered.", prefix=block.strip()))
        return {"scope": RunScope.BLOCK, "block": found}
    return {"scope": RunScope.ALL}


def _show_progress(records: int, filings: int, *, final: bool = False) -> None:
    """How much has been read, over the previous count on a terminal; standard output stays the result's."""
    text = _("%(records)d records and %(filings)d filings read", records=records, filings=filings)
    click.echo(f"\r{text}", err=True, nl=final)


def _blocks(finding: ReconciliationFinding) -> list[str]:
    """The finding's block(s): the record's, the filing's and the other filing's, each once."""
    details = finding.details or {}
    found = (details.get(key) for key in ("record_block", "filing_block", "other_block"))
    return list(dict.fromkeys(block for block in found if block))


def _finding_document(finding: ReconciliationFinding, codes: dict[int, str]) -> dict[str, Any]:
    details = finding.details or {}
    return {
        "type": finding.type, "blocks": _blocks(finding), "prefix_id": finding.prefix_id,
        "filing_id": finding.filing_id, "other_filing_id": finding.other_filing_id,
        "carrier": carrier_code(codes, finding.carrier_id), "district": finding.district,
        "working_days": finding.working_days, "late": finding.late, "extra": details.get("extra", []),
        "missing": details.get("missing", []), "others": details.get("others", []),
        "fingerprint": finding.fingerprint,
    }  # fmt: skip


def _print_document(session: Session, run: ReconciliationRun) -> None:
    """``{"run", "counts", "findings"}``, the findings written as they are read (a run may hold millions)."""
    codes = carrier_codes(session, run_carrier_ids(run))
    head = json.dumps({"run": run.id, "counts": run.counts}, ensure_ascii=False)
    click.echo(head[:-1] + ', "findings": [', nl=False)
    statement = findings(OPERATOR, run).execution_options(yield_per=STREAM_BATCH)
    for n, finding in enumerate(session.scalars(statement)):
        line = json.dumps(_finding_document(finding, codes), ensure_ascii=False)
        click.echo(("," if n else "") + "\n  " + line, nl=False)
    click.echo("\n]}")


def _print_summary(session: Session, run: ReconciliationRun) -> None:
    click.echo(_("Reconciliation %(id)d: %(records)d records and %(filings)d filings compared.", id=run.id,
                 records=run.records, filings=run.filings))  # fmt: skip
    click.echo()
    by_type = [{"type": kind.value, "count": run.counts.get(kind.value, 0)} for kind in FindingType]
    emit(by_type, ["type", "count"], as_json=False)
    click.echo()
    codes = carrier_codes(session, run_carrier_ids(run))
    by_carrier = [
        {"carrier": carrier_code(codes, int(key)) if key.isdigit() else "-", "type": kind, "count": n}
        for key, counts in sorted(run.carrier_counts.items())
        for kind, n in counts.items()
        if n
    ]
    emit(sorted(by_carrier, key=lambda row: (row["carrier"], row["type"])), ["carrier", "type", "count"],
         as_json=False)  # fmt: skip
