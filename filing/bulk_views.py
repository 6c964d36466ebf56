"""The bulk filing page (``/filings/import``): a filer uploads a CSV or Excel file of filings for its own
organization, checks it or loads it (as drafts, or submitted for review), and sees every problem by line and
column; and the template file with the headers."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response
from wtforms import BooleanField

from core.extensions import db
from core.forms import Form, roll_back_request
from core.security import allow
from core.web import accepts_upload, csv_response, run_form_operation
from filing.blueprint import bp
from filing.bulk import HEADERS, TEMPLATE_COLUMNS, BulkResult, load_filings
from filing.permissions import Action

FILE = Action.FILE.value
# The template's example row (a documentation prefix), in each language's words.
EXAMPLE = {
    "zh": {"block": "2001:db8:100::/48", "filing_type": "指派", "user_name": "示例制造有限公司",
           "user_uscc": "91120000103100784F", "user_nature": "企业", "user_industry": "制造业",
           "user_division": "120116", "user_address": "天津市滨海新区示例路1号", "usage": "工业网络",
           "allocated_on": "2024-03-01", "contact_name": "张三", "contact_phone": "022-12345678",
           "contact_email": "noc@example.com"},
    "en": {"block": "2001:db8:100::/48", "filing_type": "assignment", "user_name": "Example Works Ltd.",
           "user_uscc": "91120000103100784F", "user_nature": "enterprise", "user_industry": "C",
           "user_division": "120116", "user_address": "1 Example Road, Binhai New Area, Tianjin",
           "usage": "industrial-network", "allocated_on": "2024-03-01", "contact_name": "Zhang San",
           "contact_phone": "022-12345678", "contact_email": "noc@example.com"},
}  # fmt: skip


class BulkFilingForm(Form):
    file = FileField(_l("File"), validators=[FileRequired(_l("Choose a file."))],
                     description=_l("CSV (UTF-8 or GB18030) or Excel (.xlsx): one filing a row."))  # fmt: skip
    submit_for_review = BooleanField(_l("Submit each filing for review"),
                                     description=_l("Otherwise the filings are saved as drafts."))  # fmt: skip
    check_only = BooleanField(_l("Check only: change nothing"))


def _load_upload(upload: FileStorage, *, submit: bool, dry_run: bool) -> BulkResult:
    """Keep the upload in a private temporary folder while the rows are loaded; it is gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="v6beian-filings-") as folder:
        path = Path(folder) / "upload"
        upload.save(path)
        return load_filings(db.session, path, filer=current_user.organization, actor=current_user,
                            name=upload.filename or None, submit=submit, dry_run=dry_run)  # fmt: skip


@bp.route("/import", methods=["GET", "POST"])
@allow(FILE)
@accepts_upload
def bulk_import() -> str:
    form = BulkFilingForm()
    result: BulkResult | None = None
    if form.validate_on_submit():
        result = run_form_operation(form, _load_upload, form.file.data, submit=form.submit_for_review.data,
                                    dry_run=form.check_only.data)  # fmt: skip
        if result is not None and not result.loaded:
            roll_back_request()  # the load left nothing behind; nor does the request
    return render_template("filing/bulk_import.html", form=form, result=result, headers=HEADERS,
                           columns=TEMPLATE_COLUMNS)  # fmt: skip


@bp.get("/import/template.csv")
@allow(FILE)
def bulk_import_template() -> Response:
    """An empty bulk filing file: the headers (Chinese, or English with ``lang=en``) and one example row."""
    language = "en" if request.args.get("lang") == "en" else "zh"
    header = [HEADERS[c][1 if language == "en" else 0] for c in TEMPLATE_COLUMNS]
    example = EXAMPLE[language]
    return csv_response(f"v6beian-filings-template-{language}.csv", header,
                        [[example.get(c, "") for c in TEMPLATE_COLUMNS]])  # fmt: skip
