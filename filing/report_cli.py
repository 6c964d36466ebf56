"""``flask filing export`` (the filing list as CSV or Excel) and ``flask filing report`` (make and keep the national
report, write its file), as the machine's operator: every filing."""

from __future__ import annotations

import contextlib
import itertools
import json
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import IO

import click
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from core.cli import json_option, unit_of_work
from core.extensions import db
from core.i18n import current_language
from core.policy import OPERATOR
from filing import queries, reports
from filing.choices import FilingState, FilingType, ReportOperation
from filing.cli import filer_id, filing_cli
from filing.exports import filing_rows, header, write_csv, write_xlsx
from filing.models import FilingReport
from filing.operations import today_for
from filing.report import CHINESE_NAMES, CODES, row_cells


@contextlib.contextmanager
def text_file(output: str) -> Iterator[IO[str]]:
    """``output`` opened for UTF-8 text as written (the CSV writer ends its lines itself); - is standard output."""
    if output == "-":
        yield sys.stdout
        return
    with open(output, "w", encoding="utf-8", newline="") as target:
        yield target


@filing_cli.command("export")
@click.option("--format", "file_format", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default="-", show_default=True,
              help="The file to write; - is standard output.")  # fmt: skip
@click.option("--state", type=click.Choice([*(s.value for s in FilingState), "review", "active", "with_filer"]))
@click.option("--type", "filing_type", type=click.Choice([t.value for t in FilingType]))
@click.option("--filer", "filer_code", help="The filing organization's code.")
def export(file_format: str, output: str, state: str | None, filing_type: str | None, filer_code: str | None) -> None:
    """Every filing (or those of a state, type or filer) with the headers of the national format."""
    chinese = current_language() == "zh_CN"
    # A read: SQLite's write lock is not taken for the export's length.
    with db.session_scope(write=False) as session:
        filer = filer_id(session, filer_code)
        flt = queries.FilingFilter(state=state, filing_type=filing_type, filer=filer)
        stmt = queries.filtered(session, None, flt, today=today_for(session))
        rows = filing_rows(session, stmt, chinese=chinese)
        if file_format == "xlsx":
            with click.open_file(output, "wb") as target:
                write_xlsx(target, _("Filings"), [header(chinese=chinese)], rows)
        else:
            with text_file(output) as target:
                write_csv(target, header(chinese=chinese), rows)


@filing_cli.command("report")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Changes from this day on (China time). Default: from the end of the last report.")  # fmt: skip
@click.option("--format", "file_format", type=click.Choice(["csv", "xlsx", "json"]), default="csv",
              show_default=True)  # fmt: skip
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="The file to write; - is standard output (default: national-report-ID.FORMAT here, none with "
                   "--json).")  # fmt: skip
@json_option
def report(since: datetime | None, file_format: str, output: str | None, as_json: bool) -> None:
    """Make and keep the national report of the approved filings changed since the last one: add (XZBA), change
    (XGBA) and delete (SCBA) operations. The report is kept only when its file is written."""
    with unit_of_work() as session:
        start = reports.start_of_day(since.date()) if since is not None else None
        made = reports.make_report(session, since=start, actor=OPERATOR)
        if output is None and not as_json:
            output = reports.report_filename(made, file_format)
        if output is not None:
            _write_report(session, made, file_format, output)
        if as_json:
            document = json.loads("".join(reports.report_json(session, made)))
            click.echo(json.dumps(document, ensure_ascii=False, indent=2))
            return
        # The summary goes to standard error when the file goes to standard output.
        begins = made.since.isoformat() if made.since is not None else _("the beginning")
        counts = ", ".join(f"{op.value} {made.counts[op.value]}" for op in ReportOperation)
        click.echo(_("report %(id)d: changes after %(since)s up to %(through)s: %(counts)s", id=made.id,
                     since=begins, through=made.through.isoformat(), counts=counts), err=output == "-")  # fmt: skip
        if output != "-":
            click.echo(_("written to %(file)s", file=output))


def _write_report(session: Session, made: FilingReport, file_format: str, output: str) -> None:
    if file_format == "json":
        with text_file(output) as target:
            target.writelines(reports.report_json(session, made))
        return
    rows = (row_cells(row) for row in reports.report_rows(session, made))
    if file_format == "xlsx":
        with click.open_file(output, "wb") as target:
            write_xlsx(target, f"report-{made.id}", [list(CODES), list(CHINESE_NAMES)], rows)
        return
    with text_file(output) as target:
        write_csv(target, list(CODES), itertools.chain([list(CHINESE_NAMES)], rows))
