"""Import pages: upload -> validation preview -> confirm -> result, with live progress while a job runs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename
from werkzeug.wrappers import Response

from accounts import queries as account_queries
from accounts.models import Organization, User
from core import policy
from core.errors import DomainError
from core.extensions import db
from core.security import allow
from core.web import accepts_upload, csv_response, page_number, paginate, run_form_operation
from core.workflow import IllegalTransition
from importers import queries
from importers.formats import detect_format
from importers.forms import FORMAT_LABELS, UploadForm
from importers.models import ImportBatch, Mode
from importers.operations import UploadLimits, check_upload_quota, confirm_batch, run_batch_again, start_batch
from importers.permissions import Action
from importers.records import UnreadableFile, render
from importers.tabular import HEADERS, TEMPLATE_COLUMNS
from importers.tasks import enqueue_after_commit, read_progress
from importers.workflow import offered
from ipam.models import Prefix

bp = Blueprint("imports", __name__, url_prefix="/imports")
VIEW = Action.VIEW_IMPORT.value
IMPORT = Action.IMPORT_RECORDS.value


def load_batch(batch_id: int) -> ImportBatch:
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None or not policy.can(current_user, Action.VIEW_IMPORT, batch):
        abort(404)
    return batch


def store_upload(upload: FileStorage) -> tuple[Path, str]:
    """Keep the upload where the worker reads it; the stored name never comes from the client."""
    # The name is shown and stored as the client gave it, less any path and control characters (a NUL byte
    # cannot be stored in PostgreSQL text).
    given = "".join(ch for ch in (upload.filename or "") if ch.isprintable())
    name = given.rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:200] or "upload"
    directory = Path(current_app.config["IMPORT_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}-{secure_filename(name) or 'upload'}"
    upload.save(path)
    return path, name


def queue_import(user: User, carrier: Organization, upload: FileStorage, options: dict[str, Any]) -> ImportBatch:
    """Store the upload, record the batch and queue it once the request commits (the operation behind the form
    and the API). The organization's upload quota is checked before anything is stored."""
    check_upload_quota(db.session, carrier, _size(upload), upload_limits())
    path, name = store_upload(upload)
    try:
        file_format = options.get("format") or detect_format(path, name)
    except UnreadableFile as exc:
        path.unlink(missing_ok=True)
        from core.errors import ValidationFailed

        raise ValidationFailed.on("format", exc.text()) from None
    try:
        batch = start_batch(
            db.session, actor=user, carrier=carrier, path=path, file_name=name, file_format=file_format,
            mode=options.get("mode") or Mode.DELTA.value, dry_run=bool(options.get("dry_run")),
            allow_partial=bool(options.get("allow_partial")), sheet=options.get("sheet") or None,
            family=int(options["family"]) if options.get("family") else None,
        )  # fmt: skip
    except DomainError:
        path.unlink(missing_ok=True)
        raise
    enqueue_after_commit(db.session, batch, user)
    return batch


def upload_limits() -> UploadLimits:
    config = current_app.config
    return UploadLimits(per_day=config["IMPORT_DAILY_UPLOADS"], pending_bytes=config["IMPORT_PENDING_MEGABYTES"] << 20,
                        directory=Path(config["IMPORT_DIR"]))  # fmt: skip


def _size(upload: FileStorage) -> int:
    stream = upload.stream
    position = stream.tell()
    size = stream.seek(0, 2)
    stream.seek(position)
    return size


def carrier_for(code: str | None, field: str = "carrier") -> Organization:
    """Carriers import for their own organization; regulator administrators name one."""
    if not policy.can(current_user, Action.IMPORT_FOR_OTHERS):
        return current_user.organization
    from core.errors import ValidationFailed

    org = account_queries.organization_for_field(db.session, code, field) if code and code.strip() else None
    if org is None:
        raise ValidationFailed.on(field, _("Name the importing organization."))
    return org


@bp.route("", methods=["GET", "POST"])
@allow(VIEW)
@accepts_upload
def import_list() -> str | Response:
    form = UploadForm() if policy.can(current_user, Action.IMPORT_RECORDS) else None
    if form is not None and form.validate_on_submit():

        def upload() -> ImportBatch:
            carrier = carrier_for(form.carrier.data)
            options = {"format": form.format.data, "mode": form.mode.data, "dry_run": True,
                       "allow_partial": form.allow_partial.data, "sheet": form.sheet.data, "family": form.family.data}  # fmt: skip
            return queue_import(current_user, carrier, form.file.data, options)

        batch = run_form_operation(form, upload)
        if batch is not None:
            return redirect(url_for("imports.import_detail", batch_id=batch.id))
    page = paginate(db.session, queries.visible_batches(current_user), page_number())
    return render_template("imports/import_list.html", page=page, form=form, headers=HEADERS,
                           columns=TEMPLATE_COLUMNS, formats=FORMAT_LABELS)  # fmt: skip


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
    return _continue(batch_id, confirm_batch)


@bp.post("/<int(max=2147483647):batch_id>/run_again")
@allow(IMPORT)
def import_run_again(batch_id: int) -> Response:
    """Run again an import whose worker stopped: a new batch of the same file."""
    return _continue(batch_id, run_batch_again)


def _continue(batch_id: int, operation: Callable[..., ImportBatch]) -> Response:
    earlier = load_batch(batch_id)
    try:
        batch = operation(db.session, earlier, actor=current_user)
    except IllegalTransition as refused:
        flash(str(refused.message), "warning")
        return redirect(url_for("imports.import_detail", batch_id=earlier.next_batch_id or earlier.id))
    enqueue_after_commit(db.session, batch, current_user)
    return redirect(url_for("imports.import_detail", batch_id=batch.id))


@bp.get("/<int(max=2147483647):batch_id>/problems.csv")
@allow(VIEW)
def import_problems_csv(batch_id: int) -> Response:
    batch = load_batch(batch_id)
    rows = [[p.line, p.sheet or "", p.column, p.value, p.text()] for p in queries.all_problems(db.session, batch)]
    header = [_("Line"), _("Sheet"), _("Column"), _("Value"), _("Problem")]
    return csv_response(f"import-{batch.id}-problems.csv", header, rows)


@bp.get("/<int(max=2147483647):batch_id>/records.csv")
@allow(VIEW)
def import_records_csv(batch_id: int) -> Response:
    """The records this import wrote, as the registry now holds them."""
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
    rows = [list(row) for row in db.session.execute(statement)]
    header = [_("Prefix"), _("Holder"), _("Unified Social Credit Code"), _("Kind"), _("Usage"), _("Assigned on"),
              _("Remarks")]  # fmt: skip
    return csv_response(f"import-{batch.id}-records.csv", header, rows)


@bp.get("/template.csv")
@allow(IMPORT)
def import_template() -> Response:
    """An empty file with the documented headers (Chinese or English) and one example row."""
    english = request.args.get("lang") == "en"
    header = [HEADERS[c][1] if english else HEADERS[c][0] for c in TEMPLATE_COLUMNS]
    example = {"prefix": "2001:db8:100::/48", "holder_name": "示例制造有限公司" if not english else "Example Works Ltd.",
               "uscc": "91120000103100784F", "kind": "assignment" if english else "指派",
               "usage": "industrial-network" if english else "工业网络", "registered": "2024-03-01",
               "division": "120116", "contact_name": "", "contact_phone": "", "contact_email": "", "remarks": ""}  # fmt: skip
    return csv_response(f"v6beian-import-template-{'en' if english else 'zh'}.csv", header,
                        [[example.get(c, "") for c in TEMPLATE_COLUMNS]])  # fmt: skip
