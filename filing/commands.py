"""``flask filing list|show``: filings from the command line (as the machine's operator: every filing)."""

from __future__ import annotations

from datetime import date
from typing import Any

import click
from flask_babel import gettext as _

from core.cli import emit, emit_one, fail, json_option, object_id, unit_of_work
from filing import history, queries
from filing.choices import FilingState, FilingType
from filing.cli import filer_id, filing_cli
from filing.models import Filing


def filing_row(filing: Filing) -> dict[str, Any]:
    return {
        "id": filing.id, "number": filing.number, "state": filing.state, "type": filing.filing_type,
        "block": filing.block, "filer": filing.filer.code, "user": filing.user_name, "due_on": filing.due_on,
        "provisional": filing.due_provisional, "version": filing.version,
    }  # fmt: skip


@filing_cli.command("list")
@click.option("--state", type=click.Choice([*(s.value for s in FilingState), "review", "active", "with_filer"]))
@click.option("--type", "filing_type", type=click.Choice([t.value for t in FilingType]))
@click.option("--filer", "filer_code", help="The filing organization's code.")
@click.option("--due", type=click.Choice(["overdue", "today", "week"]))
@click.option("--search", "q", help="An address inside a block, a block, a number, a USCC or a name.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@json_option
def list_(state: str | None, filing_type: str | None, filer_code: str | None, due: str | None, q: str | None,
          limit: int, as_json: bool) -> None:  # fmt: skip
    """Filings, by due date."""
    with unit_of_work() as session:
        filer = filer_id(session, filer_code)
        flt = queries.FilingFilter(state=state, filing_type=filing_type, filer=filer, due=due, q=q)
        rows = session.scalars(queries.filtered(session, None, flt, today=date.today()).limit(limit)).all()
        emit([filing_row(f) for f in rows], ["id", "number", "state", "type", "block", "filer", "user", "due_on"],
             as_json=as_json)  # fmt: skip


@filing_cli.command("show")
@click.argument("filing_id", type=object_id)
@json_option
def show(filing_id: int, as_json: bool) -> None:
    """One filing with its versions."""
    with unit_of_work() as session:
        filing = session.get(Filing, filing_id)
        if filing is None or filing.state == FilingState.DELETED.value:
            raise fail(_("No filing has the id %(id)d.", id=filing_id))
        shown = {**filing_row(filing), **filing.filed_values(), "review_comment": filing.review_comment,
                 "field_comments": filing.field_comments}  # fmt: skip
        versions = [
            {"version": d.version.version, "outcome": d.version.outcome, "submitted_at": d.version.submitted_at,
             "submitted_by": d.version.submitted_by, "decided_by": d.version.decided_by,
             "comment": d.version.comment, "changes": {name: [old, new] for name, old, new in d.changes}}
            for d in history.version_diffs(session, filing)
        ]  # fmt: skip
        if as_json:
            emit_one({**shown, "versions": versions}, as_json=True)
            return
        emit_one(shown, as_json=False)
        for entry in versions:
            click.echo(f"-- v{entry['version']} {entry['outcome']} {entry['submitted_by']} {entry['submitted_at']}")
            for name, (old, new) in entry["changes"].items():
                click.echo(f"   {name}: {old or '—'} → {new or '—'}")
