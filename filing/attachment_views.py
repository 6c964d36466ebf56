"""A filing's documents on its page: upload (``filing.attach``), download (``filing.attachment``) and remove
(``filing.detach``). The list and the upload form are the partial ``filing/_attachments.html`` on the filing page.

A document is served only to those who may see its filing, as a download (never shown inline), with the type
found in its content and a sandboxing content policy."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import abort, flash, redirect, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from werkzeug.wrappers import Response

from core import policy
from core.errors import DomainError
from core.extensions import db
from core.forms import Form, roll_back_request
from core.security import allow
from core.web import accepts_upload, run_form_operation
from filing.attachments import (
    MAX_ATTACHMENTS,
    add_attachment,
    attachment_of,
    format_bytes,
    max_bytes,
    may_remove,
    remove_attachment,
    stored_path,
)
from filing.blueprint import bp
from filing.models import Filing, FilingAttachment
from filing.permissions import Action
from filing.views import load_filing

log = logging.getLogger("v6beian.filing")

VIEW, FILE = Action.VIEW_FILING.value, Action.FILE.value
# A downloaded document never runs anything, even if a browser were to show it.
DOWNLOAD_POLICY = "default-src 'none'; sandbox"


class AttachmentForm(Form):
    file = FileField(lazy_gettext("Document"), validators=[FileRequired(lazy_gettext("Choose a file to attach."))])


@dataclass(frozen=True)
class Limits:
    size: str
    count: int


@bp.app_template_global()
def attachment_size(size: int) -> str:
    return format_bytes(size)


@bp.app_template_global()
def attachment_limits() -> Limits:
    return Limits(format_bytes(max_bytes()), MAX_ATTACHMENTS)


@bp.app_template_global()
def attachment_removable(filing: Filing, attachment: FilingAttachment) -> bool:
    return may_remove(current_user, filing, attachment)


def _load(filing_id: int, attachment_id: int) -> tuple[Filing, FilingAttachment]:
    """The filing (404 unless the caller may see it) and its attachment (404 if it is another filing's)."""
    filing = load_filing(filing_id)
    attachment = attachment_of(db.session, filing, attachment_id)
    if attachment is None:
        abort(404)
    return filing, attachment


def _back(filing: Filing) -> Response:
    return redirect(url_for("filing.filing_detail", filing_id=filing.id))


@bp.post("/<int(max=2147483647):filing_id>/attachments")
@allow(FILE)
@accepts_upload(limit_setting="FILING_ATTACHMENT_MAX_BYTES")
def attach(filing_id: int) -> Response:
    filing = load_filing(filing_id)
    policy.require(current_user, Action.FILE, filing)
    form = AttachmentForm()
    made = None
    if form.validate_on_submit():
        made = run_form_operation(form, add_attachment, db.session, filing, form.file.data, actor=current_user)
    if made is None:
        for error in [*form.file.errors, *form.form_errors]:
            flash(str(error), "danger")
        return _back(filing)
    flash(_("%(name)s is attached.", name=made.filename), "success")
    return _back(filing)


@bp.get("/<int(max=2147483647):filing_id>/attachments/<int(max=2147483647):attachment_id>")
@allow(VIEW)
def attachment(filing_id: int, attachment_id: int) -> Response:
    _filing, found = _load(filing_id, attachment_id)
    path = stored_path(found)
    if not path.is_file():
        log.error("attachment %s of filing %s: its file %s is missing", found.id, filing_id, path)
        abort(404)
    response = send_file(path, mimetype=found.content_type, as_attachment=True, download_name=found.filename,
                         conditional=True, etag=found.sha256)  # fmt: skip
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = DOWNLOAD_POLICY
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/<int(max=2147483647):filing_id>/attachments/<int(max=2147483647):attachment_id>/delete")
@allow(FILE)
def detach(filing_id: int, attachment_id: int) -> Response:
    filing, found = _load(filing_id, attachment_id)
    policy.require(current_user, Action.FILE, filing)
    name = found.filename
    try:
        remove_attachment(db.session, filing, found, actor=current_user)
    except DomainError as refused:
        roll_back_request()
        flash(str(refused.message), "danger")
        return _back(filing)
    flash(_("%(name)s was removed.", name=name), "success")
    return _back(filing)
