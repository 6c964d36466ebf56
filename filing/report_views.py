"""Exports of the filing list (``/filings/export.csv``, ``/filings/export.xlsx``, with the list's filters) and the
national reports' pages for regulators (``/filings/reports``: past reports, making a new one, downloads)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from flask import Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import current_user
from wtforms import DateField
from wtforms.validators import Optional

from core.extensions import db
from core.forms import Form
from core.i18n import current_language
from core.security import allow
from core.web import csv_response, page_number, paginate, run_form_operation
from filing import queries, reports
from filing.blueprint import bp
from filing.choices import ReportOperation
from filing.exports import export_filename, filing_rows, filter_from_args, header, xlsx_response
from filing.models import FilingReport
from filing.operations import today_for
from filing.permissions import Action
from filing.report import CHINESE_NAMES, CODES, row_cells

VIEW, REPORT = Action.VIEW_FILING.value, Action.REPORT_FILINGS.value
REPORT_FORMATS = ("csv", "xlsx", "json")
# What each upload operation does, for the pages (the code stays in the files).
OPERATION_LABELS = {
    ReportOperation.ADD: lazy_gettext("Added"),
    ReportOperation.CHANGE: lazy_gettext("Changed"),
    ReportOperation.DELETE: lazy_gettext("Deleted"),
}


class ReportForm(Form):
    since = DateField(
        lazy_gettext("Changes since"),
        validators=[Optional()],
        description=lazy_gettext("Leave empty to continue from the last report (the first report holds everything)."),
    )


# -- exports of the list -----------------------------------------------------------------------------------------


def _export_rows() -> tuple[list[str], Iterator[list[object]]]:
    chinese = current_language() == "zh_CN"
    session = db.session
    stmt = queries.filtered(session, current_user, filter_from_args(request.args), today=today_for(session))
    return header(chinese=chinese), filing_rows(session, stmt, chinese=chinese)


@bp.get("/export.csv")
@allow(VIEW)
def export_csv() -> Response:
    """The filtered list as the caller sees it, streamed."""
    names, rows = _export_rows()
    return csv_response(export_filename("csv", today_for(db.session)), names, stream_with_context(rows))


@bp.get("/export.xlsx")
@allow(VIEW)
def export_xlsx() -> Response:
    names, rows = _export_rows()
    return xlsx_response(export_filename("xlsx", today_for(db.session)), _("Filings"), [names], rows)


# -- the national reports ----------------------------------------------------------------------------------------


def load_report(report_id: int) -> FilingReport:
    report = reports.get_report(db.session, report_id)
    if report is None:
        abort(404)
    return report


@bp.route("/reports", methods=["GET", "POST"], endpoint="reports")
@allow(REPORT)
def report_list() -> str | Response:
    """Past reports, newest first, and the form that makes the next one."""
    form = ReportForm()
    if form.validate_on_submit():
        since = reports.start_of_day(form.since.data) if form.since.data else None
        made = run_form_operation(form, reports.make_report, db.session, since=since, actor=current_user)
        if made is not None:
            flash(_("Report %(id)d is made: %(n)d changes.", id=made.id, n=sum(made.counts.values())), "success")
            return redirect(url_for("filing.report_detail", report_id=made.id))
    page = paginate(db.session, reports.reports_newest_first(), page_number())
    return render_template("filing/reports.html", page=page, form=form, last=reports.last_report(db.session),
                           operations=OPERATION_LABELS, formats=REPORT_FORMATS)  # fmt: skip


@bp.get("/reports/<int(max=2147483647):report_id>")
@allow(REPORT)
def report_detail(report_id: int) -> str:
    report = load_report(report_id)
    page = paginate(db.session, reports.report_entries(report), page_number())
    return render_template("filing/report_detail.html", report=report, page=page, operations=OPERATION_LABELS,
                           formats=REPORT_FORMATS)  # fmt: skip


@bp.get("/reports/<int(max=2147483647):report_id>.<any(csv, xlsx, json):extension>")
@allow(REPORT)
def report_file(report_id: int, extension: str) -> Response:
    """A kept report as it was made, in the upload format: field codes, then (CSV, Excel) their Chinese names."""
    report = load_report(report_id)
    session = db.session
    filename = reports.report_filename(report, extension)
    rows = (row_cells(row) for row in reports.report_rows(session, report))
    if extension == "xlsx":
        return xlsx_response(filename, f"report-{report.id}", [list(CODES), list(CHINESE_NAMES)], rows)
    if extension == "json":
        response = Response(stream_with_context(reports.report_json(session, report)), mimetype="application/json")
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    return csv_response(filename, list(CODES), stream_with_context(itertools.chain([list(CHINESE_NAMES)], rows)))
