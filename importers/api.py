"""``/api/v1/imports``: carriers' allocation records over HTTP (multipart upload, then poll the batch)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from core import policy
from core.api import API_PREFIX, PageArgsSchema
from core.api import ApiBlueprint as Blueprint
from core.errors import ValidationFailed
from core.extensions import db
from core.messages import message as _l
from core.security import allow
from core.web import accepts_upload, paginate
from importers import queries
from importers.models import ImportBatch, ImportProblem
from importers.permissions import Action
from importers.schemas import ImportBatchPageSchema, ImportBatchSchema, ImportFileSchema, ImportFormSchema
from importers.tasks import continue_batch
from importers.uploads import queue_import
from importers.workflow import offered

blp = Blueprint("imports_api", __name__, url_prefix=f"{API_PREFIX}/imports", description="Carrier imports")
PROBLEMS_SHOWN = 100


class BatchReport:
    """One import as the API shows it: the batch's own fields, with the first of its problems and what the caller
    may do with it now (its workflow's steps)."""

    def __init__(self, batch: ImportBatch, problems: list[ImportProblem]) -> None:
        self.batch, self.problems = batch, problems
        self.actions = [step.action for step in offered(batch, current_user)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.batch, name)


@blp.route("")
class Imports(MethodView):
    @allow(Action.VIEW_IMPORT)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, ImportBatchPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The uploads the caller may see, newest first, a page at a time, each as its latest batch (a confirmed
        check as its load, with ``previous_batch``), without their problems."""
        page = paginate(db.session, queries.visible_batches(current_user), args["page"], args["per_page"])
        return {"items": page.items, "meta": page}

    @allow(Action.IMPORT_RECORDS)
    @accepts_upload
    @blp.arguments(ImportFormSchema, location="form")
    @blp.arguments(ImportFileSchema, location="files")
    @blp.response(202, ImportBatchSchema)
    def post(self, options: dict[str, Any], files: dict[str, Any]) -> BatchReport:
        """Upload a file (CSV, Excel, RPSL, RIR statistics) to validate and load; poll the batch for the result.

        The batch is queued when the request commits, so it is always answered queued (no problems yet)."""
        upload = files.get("file")
        if upload is None or not upload.filename:
            raise ValidationFailed.on("file", _l("Choose a file."))
        carrier = queries.carrier_for(db.session, current_user, options.pop("carrier"))
        return BatchReport(queue_import(db.session, upload, options, carrier=carrier, actor=current_user), [])


@blp.route("/<int(max=2147483647):batch_id>")
@allow(Action.VIEW_IMPORT)
class ImportById(MethodView):
    @blp.response(200, ImportBatchSchema)
    def get(self, batch_id: int) -> BatchReport:
        """One import: status, counts and the first problems."""
        batch = _visible(batch_id)
        return BatchReport(batch, queries.first_problems(db.session, batch, PROBLEMS_SHOWN))


@blp.route("/<int(max=2147483647):batch_id>/confirm")
@allow(Action.IMPORT_RECORDS)
class ImportConfirm(MethodView):
    @blp.response(202, ImportBatchSchema)
    def post(self, batch_id: int) -> BatchReport:
        """Load a checked file (a dry run without errors): a new batch, queued; a check is confirmed once (409)."""
        return BatchReport(continue_batch(db.session, _visible(batch_id), "confirm", actor=current_user), [])


@blp.route("/<int(max=2147483647):batch_id>/run_again")
@allow(Action.IMPORT_RECORDS)
class ImportRunAgain(MethodView):
    @blp.response(202, ImportBatchSchema)
    def post(self, batch_id: int) -> BatchReport:
        """Run again an import whose worker stopped (its file was kept): a new batch, queued."""
        return BatchReport(continue_batch(db.session, _visible(batch_id), "run_again", actor=current_user), [])


def _visible(batch_id: int) -> ImportBatch:
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None or not policy.can(current_user, Action.VIEW_IMPORT, batch):
        abort(404)
    return batch
