"""``flask import …``: carriers' allocation records from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from accounts import queries as account_queries
from core.cli import CommandGroup, emit, emit_one, fail, json_option, object_id
from core.context import Origin, origin
from core.extensions import db
from core.messages import N_
from core.policy import OPERATOR
from importers import queries
from importers.formats import detect_format
from importers.models import COUNTS, STATUS_LABELS, BatchStatus, Format, ImportBatch, ImportProblem, Mode
from importers.operations import Meter, start_batch
from importers.records import UnreadableFile, render
from importers.tasks import execute, sweep

import_cli = CommandGroup("import", help="Carriers' allocation records: import, list, show; the import worker.")

EXIT_ERRORS = 1
EXIT_USAGE = 2
# What the progress bar calls the phases of an import (``Meter.phase``).
PHASES = {
    "reading": N_("reading"), "checking": N_("checking"), "loading": N_("loading"), "indexing": N_("indexing"),
    "done": N_("done"),
}  # fmt: skip


@import_cli.command("assignments")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--carrier", "carrier_code", required=True, help="Code of the importing allocating organization.")
@click.option("--format", "file_format", type=click.Choice([f.value for f in Format]), default=None,
              help="Default: from the file name, else from its first lines.")  # fmt: skip
@click.option("--mode", type=click.Choice([m.value for m in Mode]), default=Mode.DELTA.value, show_default=True,
              help="snapshot: the file is the complete book under the blocks, what it lacks is released.")  # fmt: skip
@click.option("--sheet", default=None, help="Excel: the sheet to read (default: the first).")
@click.option("--scope", multiple=True, help="Only these blocks of the carrier (repeatable; default: all).")
@click.option("--family", type=click.Choice(["4", "6"]), default=None, help="Only IPv4 or only IPv6 records.")
@click.option("--dry-run", is_flag=True, help="Validate and report what would change; change nothing.")
@click.option("--allow-partial", is_flag=True, help="Load the valid rows even when others have errors.")
@json_option
def import_assignments(file: Path, carrier_code: str, file_format: str | None, mode: str, sheet: str | None,
                       scope: tuple[str, ...], family: str | None, dry_run: bool, allow_partial: bool,
                       as_json: bool) -> None:  # fmt: skip
    """Import the allocation records in FILE for the carrier."""
    with origin(Origin(channel="cli")):
        with db.session_scope() as session:
            carrier = account_queries.organization_by_code(session, carrier_code)
            if carrier is None:
                unknown = _("No organization has the code %(code)s.", code=carrier_code)
                click.echo(f"error: {unknown}", err=True)
                sys.exit(EXIT_USAGE)
            try:
                chosen = file_format or detect_format(file)
            except UnreadableFile as exc:
                click.echo(f"error: {exc.text()}", err=True)
                sys.exit(EXIT_USAGE)
            batch = start_batch(
                session, actor=OPERATOR, carrier=carrier, path=file.resolve(), file_name=file.name, file_format=chosen,
                mode=mode, dry_run=dry_run, allow_partial=allow_partial, sheet=sheet, scope=list(scope) or None,
                family=int(family) if family else None,
            )  # fmt: skip
            batch_id, size = batch.id, batch.size
        _run_with_progress(batch_id, size, show=not as_json and sys.stderr.isatty())
        with db.session_scope() as session:
            batch = session.get(ImportBatch, batch_id)
            assert batch is not None
            report = batch_report(batch, queries.first_problems(session, batch, 20))
    if as_json:
        emit_one(report, as_json=True)
    else:
        _print_summary(report)
    failed = report["status"] in (BatchStatus.REJECTED.value, BatchStatus.FAILED.value) or report["counts"]["errors"]
    sys.exit(EXIT_ERRORS if failed else 0)


def _run_with_progress(batch_id: int, size: int, *, show: bool) -> None:
    if not show:
        execute(batch_id, None)
        return
    with click.progressbar(length=max(size, 1), label=_(PHASES["reading"]), file=sys.stderr, show_eta=True,
                           show_percent=True, width=30) as bar:  # fmt: skip
        seen = {"bytes": 0}

        def report(meter: Meter) -> None:
            phase = _(PHASES.get(meter.phase, meter.phase))
            bar.label = _(
                "%(phase)s %(rows)s rows %(rate)s rows/s",
                phase=phase,
                rows=f"{meter.rows:>10,}",
                rate=f"{meter.rate:>9,.0f}",
            )
            step = int(meter.fraction * size) - seen["bytes"]
            if step > 0:
                bar.update(step)
                seen["bytes"] += step
            else:
                bar.render_progress()

        execute(batch_id, None, Meter(size, report))


def batch_report(batch: ImportBatch, problems: list[ImportProblem]) -> dict[str, Any]:
    return {
        "id": batch.id,
        "file": batch.file_name,
        "sha256": batch.sha256,
        "format": batch.format,
        "carrier": batch.carrier.code,
        "mode": batch.mode,
        "dry_run": batch.dry_run,
        "allow_partial": batch.allow_partial,
        "status": batch.status,
        "message": render(batch.message, batch.message_params) if batch.message else None,
        "counts": batch.counts,
        "same_content_as": batch.same_content_as_id,
        "started_at": batch.started_at,
        "finished_at": batch.finished_at,
        "details": batch.details,
        "problems": [problem_row(p) for p in problems],
    }


def problem_row(problem: ImportProblem) -> dict[str, Any]:
    return {"line": problem.line, "sheet": problem.sheet, "column": problem.column, "value": problem.value,
            "message": problem.text()}  # fmt: skip


def _print_summary(report: dict[str, Any]) -> None:
    headline = (
        N_("import %(id)s: %(file)s (%(format)s, %(mode)s, dry run) -> %(status)s")
        if report["dry_run"]
        else N_("import %(id)s: %(file)s (%(format)s, %(mode)s) -> %(status)s")
    )
    status = STATUS_LABELS[BatchStatus(report["status"])]
    file_format, mode = Format(report["format"]).label, Mode(report["mode"]).label
    click.echo(_(headline, id=report["id"], file=report["file"], format=file_format, mode=mode, status=status))
    if report["message"]:
        click.echo(f"  {report['message']}")
    if report["same_content_as"]:
        click.echo("  " + _("the same file was loaded before as import %(id)s", id=report["same_content_as"]))
    emit([{"count": name, "value": report["counts"][name]} for name in COUNTS], ["count", "value"], as_json=False)
    if report["problems"]:
        click.echo(_("problems (first 20; `flask import show ID --problems` lists all):"))
        emit(report["problems"], ["line", "column", "value", "message"], as_json=False)


@import_cli.command("list")
@click.option("--carrier", "carrier_code", default=None)
@click.option("--limit", default=50, show_default=True)
@json_option
def list_imports(carrier_code: str | None, limit: int, as_json: bool) -> None:
    """The most recent imports."""
    with db.session_scope() as session:
        statement = select(ImportBatch).order_by(ImportBatch.id.desc()).limit(limit)
        if carrier_code:
            carrier = account_queries.organization_by_code(session, carrier_code)
            if carrier is None:
                raise fail(_("No organization has the code %(code)s.", code=carrier_code))
            statement = statement.where(ImportBatch.carrier_id == carrier.id)
        rows = [
            {"id": b.id, "file": b.file_name, "carrier": b.carrier.code, "format": b.format, "mode": b.mode,
             "status": b.status, **{k: b.counts[k] for k in ("rows", "created", "updated", "removed", "errors")},
             "finished": b.finished_at}
            for b in session.scalars(statement)
        ]  # fmt: skip
    emit(rows, ["id", "file", "carrier", "format", "mode", "status", "rows", "created", "updated", "removed",
                "errors", "finished"], as_json=as_json)  # fmt: skip


@import_cli.command("show")
@click.argument("batch_id", type=object_id)
@click.option("--problems", "all_problems", is_flag=True, help="List every problem, not only the first 20.")
@json_option
def show_import(batch_id: int, all_problems: bool, as_json: bool) -> None:
    """One import: its counts and its problems."""
    with db.session_scope() as session:
        batch = session.get(ImportBatch, batch_id)
        if batch is None:
            raise fail(_("No import has the id %(id)d.", id=batch_id))
        problems = queries.first_problems(session, batch, None if all_problems else 20)
        report = batch_report(batch, problems)
    if as_json:
        emit_one(report, as_json=True)
    else:
        _print_summary(report)


@import_cli.command("sweep")
@json_option
def sweep_command(as_json: bool) -> None:
    """Fail imports whose worker died, queue again lost ones, delete uploads that waited too long."""
    counts = sweep()
    if as_json:
        emit_one(counts, as_json=True)
    else:
        _report_sweep(counts)


def _report_sweep(counts: dict[str, int]) -> None:
    summary = _(
        "imports: %(failed)d failed (worker gone), %(requeued)d queued again, %(deleted)d expired uploads deleted",
        failed=counts["failed"],
        requeued=counts["requeued"],
        deleted=counts["deleted"],
    )
    click.echo(summary, err=True)


@import_cli.command("worker")
@click.option("--workers", default=1, show_default=True, help="Imports run at the same time.")
def worker(workers: int) -> None:
    """Run the import job queue (uploads from the web and the API are loaded here)."""
    queue = current_app.extensions["import_queue"]
    started = _("import worker: %(queue)s queue, %(workers)d worker(s)", queue=type(queue).__name__, workers=workers)
    click.echo(started, err=True)
    # Imports whose worker died before this one started are failed (or queued again) now, not in a minute.
    _report_sweep(sweep())
    queue.create_consumer(workers=workers, worker_type="thread").run()
