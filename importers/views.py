"""Import pages: upload -> validation preview -> confirm -> result, with live progress while a job runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from accounts.models import Organization
from core import policy
from core.extensions import db
from core.i18n import current_language
from core.security import allow
from core.web import accepts_upload, csv_response, page_number, paginate, run_form_operation
from core.workflow import IllegalTransition
from importers import queries
from importers.forms import UploadForm
from importers.models import COLUMN_LABELS, ImportBatch
from importers.permissions import Action
from importers.records import render
from importers.tabular import HEADERS, TEMPLATE_COLUMNS
from importers.tasks import continue_batch, read_progress
from importers.uploads import queue_import
from importers.workflow import offered
from ipam.choices import KIND_LABELS, USAGE_LABELS
from ipam.models import Prefix

bp = Blueprint("imports", __name__, url_prefix="/imports")
# The columns of ``records.csv``: the import template's, so that the export loads again.
RECORD_COLUMNS = ("prefix", "holder_name", "uscc", "kind", "usage", "registered", "remarks")
VIEW = Action.VIEW_IMPORT.value
IMPORT = Action.IMPORT_RECORDS.value


def load_batch(batch_id: int) -> ImportBatch:
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None or not policy.can(current_user, Action.VIEW_IMPORT, batch):
        abort(404)
    return batch


@bp.route("", methods=["GET", "POST"])
@allow(VIEW)
@accepts_upload
def import_list() -> str | Response:
    form = UploadForm() if policy.can(current_user, Action.IMPORT_RECORDS) else None
    if form is not None and form.validate_on_submit():

        def upload() -> ImportBatch:
            carrier = queries.carrier_for(db.session, current_user, form.carrier.data)
            options = {"format": form.format.data, "mode": form.mode.data, "dry_run": True,
                       "allow_partial": form.allow_partial.data, "sheet": form.sheet.data, "family": form.family.data}  # fmt: skip
            return queue_import(db.session, form.file.data, options, carrier=carrier, actor=current_user)

        batch = run_form_operation(form, upload)
        if batch is not None:
            return redirect(url_for("imports.import_detail", batch_id=batch.id))
    page = paginate(db.session, queries.visible_batches(current_user), page_number())
    return render_template("imports/import_list.html", page=page, form=form, headers=HEADERS,
                           columns=TEMPLATE_COLUMNS, column_labels=COLUMN_LABELS)  # fmt: skip


@bp.get("/<int(max=2147483647):batch_id>")
@allow(VIEW)
def import_detail(batch_id: int) -> str:
    batch = load_batch(batch_id)
    problems = queries.first_problems(db.session, batch, 50)
    message = render(batch.message, batch.message_params) if batch.message else None
    return render_template("imports/import_detail.html", batch=batch, problems=problems, message=message,
                           actions=offered(batch, current_user), progress=read_progress(batch.id))  # fmt: skip


@bp.get("/<int(max=2147483647):batch_id>/progress")
@allow(VIEW)
def import_progress(batch_id: int) -> Response:
    batch = load_batch(batch_id)
    return jsonify({"status": batch.status, "finished": batch.status_enum.finished,
                    "progress": read_progress(batch.id), "counts": batch.counts})  # fmt: skip


@bp.post("/<int(max=2147483647):batch_id>/confirm")
@allow(IMPORT)
def import_confirm(batch_id: int) -> Response:
    """Load a checked file: a new batch of the same file."""
    return _continue(batch_id, "confirm")


@bp.post("/<int(max=2147483647):batch_id>/run_again")
@allow(IMPORT)
def import_run_again(batch_id: int) -> Response:
    """Run again an import whose worker stopped: a new batch of the same file."""
    return _continue(batch_id, "run_again")


def _continue(batch_id: int, action: str) -> Response:
    earlier = load_batch(batch_id)
    try:
        batch = continue_batch(db.session, earlier, action, actor=current_user)
    except IllegalTransition as refused:
        flash(str(refused.message), "warning")
        return redirect(url_for("imports.import_detail", batch_id=earlier.next_batch_id or earlier.id))
    return redirect(url_for("imports.import_detail", batch_id=batch.id))


@bp.get("/<int(max=2147483647):batch_id>/problems.csv")
@allow(VIEW)
def import_problems_csv(batch_id: int) -> Response:
    batch = load_batch(batch_id)
    severity = {"error": _("Error"), "warning": _("Warning")}
    rows = [
        [
            p.line,
            p.sheet or "",
            batch.column_name(p.column),
            p.value,
            severity.get(p.severity, p.severity),
            p.text(),
        ]
        for p in queries.all_problems(db.session, batch)
    ]
    header = [_("Line"), _("Sheet"), _("Column"), _("Value"), _("Severity"), _("Problem")]
    return csv_response(f"import-{batch.id}-problems.csv", header, rows)


@bp.get("/<int(max=2147483647):batch_id>/records.csv")
@allow(VIEW)
def import_records_csv(batch_id: int) -> Response:
    """The records this import wrote, as the registry now holds them, with the import template's headers and the
    registry's words for kinds and usages, both in the reader's language (the file loads again as it is)."""
    batch = load_batch(batch_id)
    statement = (
        select(
            Prefix.network,
            Organization.name,
            Organization.uscc,
            Prefix.kind,
            Prefix.usage,
            Prefix.assigned_on,
            Prefix.description,
        )
        .outerjoin(Organization, Organization.id == Prefix.holder_id)
        .where(Prefix.import_batch_id == batch.id)
        .order_by(Prefix.family, Prefix.start, Prefix.prefix_len)
    )
    rows = [
        [network, holder, uscc, _label(KIND_LABELS, kind), _label(USAGE_LABELS, usage), assigned_on, remarks]
        for network, holder, uscc, kind, usage, assigned_on, remarks in db.session.execute(statement)
    ]
    header = _template_header(RECORD_COLUMNS, english=current_language() == "en")
    return csv_response(f"import-{batch.id}-records.csv", header, rows)


def _label(labels: Mapping[Any, Any], value: str | None) -> str | None:
    return str(labels[value]) if value in labels else value


def _template_header(columns: Iterable[str], *, english: bool) -> list[str]:
    """The import template's header for ``columns``, in Chinese or English."""
    return [HEADERS[c][1] if english else HEADERS[c][0] for c in columns]


@bp.get("/template.csv")
@allow(IMPORT)
def import_template() -> Response:
    """An empty file with the documented headers (Chinese or English) and one example row, which loads as it is
    for the demo carrier: a block its demo registry leaves free (the last a sparse or first-fit allocation takes),
    a made-up but valid USCC ("DEMD" marks it, as in the demo organizations)."""
    english = request.args.get("lang") == "en"
    header = _template_header(TEMPLATE_COLUMNS, english=english)
    example = {"prefix": "2001:db8:3fff::/48", "holder_name": "示例制造有限公司" if not english else "Example Works Ltd.",
               "uscc": "91120116DEMD00009X", "kind": "assignment" if english else "指派",
               "usage": "industrial-network" if english else "工业网络", "registered": "2024-03-01",
               "division": "120116", "contact_name": "", "contact_phone": "", "contact_email": "", "remarks": ""}  # fmt: skip
    return csv_response(f"v6beian-import-template-{'en' if english else 'zh'}.csv", header,
                        [[example.get(c, "") for c in TEMPLATE_COLUMNS]])  # fmt: skip
